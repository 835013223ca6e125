"""ACME External Account Binding keys of an endpoint (RFC 8555 §7.3.4), managed by the application's admins.

The MAC key is shown once, at creation, base64url without padding (the form certbot's --eab-hmac-key, lego's
--hmac and cert-manager's secret take); listings show key ids and their state only.
"""

from __future__ import annotations

import base64

from aiohttp import web

from enrollment_gateway.core.acme_eab import ExternalAccountKeys
from enrollment_gateway.storage.repositories.acme import EabKey

from .wire import actor, gateway, json_response, no_content, read_json, route_path

_BASE = "/applications/{id}/endpoints/{endpoint_id}/acme-eab-keys"


def _key(key: EabKey) -> dict:
    def ts(value):
        return value.isoformat() if value is not None else None

    return {"kid": key.kid, "endpoint_id": key.endpoint_id, "reusable": key.reusable, "created_at": ts(key.created_at),
            "created_by": key.created_by, "used_at": ts(key.used_at), "account_id": key.account_id,
            "revoked_at": ts(key.revoked_at)}


async def create(request: web.Request) -> web.Response:
    body = (await read_json(request, allow_empty=True)).only("reusable")
    reusable = bool(body.bool("reusable", default=False))
    issued = await ExternalAccountKeys.of(gateway(request)).create(
        actor(request), request.match_info["id"], request.match_info["endpoint_id"], reusable=reusable)
    out = _key(issued.key)
    out["hmac_key"] = base64.urlsafe_b64encode(issued.hmac_key).rstrip(b"=").decode()
    return json_response(out, 201)


async def list_keys(request: web.Request) -> web.Response:
    keys = await ExternalAccountKeys.of(gateway(request)).list(actor(request), request.match_info["id"],
                                                               request.match_info["endpoint_id"])
    return json_response({"items": [_key(k) for k in keys]})


async def revoke(request: web.Request) -> web.Response:
    await ExternalAccountKeys.of(gateway(request)).revoke(actor(request), request.match_info["id"],
                                                         request.match_info["endpoint_id"], request.match_info["kid"])
    return no_content()


ROUTES = (
    web.post(route_path(_BASE), create),
    web.get(route_path(_BASE), list_keys),
    web.delete(route_path(_BASE + "/{kid}"), revoke),
)
