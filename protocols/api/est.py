"""EST settings and device credentials of an endpoint (RFC 7030 §3.3.2), managed by the application's admins.

    GET/PATCH  /applications/{id}/endpoints/{endpoint_id}/est                  authentication, anchors, options
    POST/GET   /applications/{id}/endpoints/{endpoint_id}/est/credentials      Basic credentials (password once)
    DELETE     /applications/{id}/endpoints/{endpoint_id}/est/credentials/{username}
"""

from __future__ import annotations

from aiohttp import web

from enrollment_gateway.core.est_credentials import EstCredentials
from enrollment_gateway.core.est_settings import EstEndpointSettings
from enrollment_gateway.storage.repositories.est import EstCredential

from .wire import actor, gateway, json_response, no_content, read_json, route_path

_BASE = "/applications/{id}/endpoints/{endpoint_id}/est"


def _settings(request: web.Request, settings: EstEndpointSettings) -> dict:
    return {**settings.to_json(), "url": gateway(request).urls.est_base(request.match_info["endpoint_id"])}


def _credential(cred: EstCredential) -> dict:
    def ts(value):
        return value.isoformat() if value is not None else None

    return {"username": cred.username, "endpoint_id": cred.endpoint_id, "created_at": ts(cred.created_at),
            "created_by": cred.created_by, "revoked_at": ts(cred.revoked_at)}


def _service(request: web.Request) -> EstCredentials:
    return EstCredentials.of(gateway(request))


async def get_settings(request: web.Request) -> web.Response:
    settings = await _service(request).settings(actor(request), request.match_info["id"],
                                                request.match_info["endpoint_id"])
    return json_response(_settings(request, settings))


async def update_settings(request: web.Request) -> web.Response:
    fields = tuple(EstEndpointSettings().to_json())
    body = (await read_json(request)).only(*fields)
    changes = {key: body.raw(key) for key in fields if body.given(key)}
    settings = await _service(request).update_settings(actor(request), request.match_info["id"],
                                                       request.match_info["endpoint_id"], changes)
    return json_response(_settings(request, settings))


async def create_credential(request: web.Request) -> web.Response:
    body = (await read_json(request, allow_empty=True)).only("username")
    issued = await _service(request).create_credential(actor(request), request.match_info["id"],
                                                       request.match_info["endpoint_id"],
                                                       body.str("username", max_len=64))
    return json_response({**_credential(issued.credential), "password": issued.password}, 201)


async def list_credentials(request: web.Request) -> web.Response:
    creds = await _service(request).credentials(actor(request), request.match_info["id"],
                                                request.match_info["endpoint_id"])
    return json_response({"items": [_credential(c) for c in creds]})


async def revoke_credential(request: web.Request) -> web.Response:
    await _service(request).revoke_credential(actor(request), request.match_info["id"],
                                              request.match_info["endpoint_id"], request.match_info["username"])
    return no_content()


ROUTES = (
    web.get(route_path(_BASE), get_settings),
    web.patch(route_path(_BASE), update_settings),
    web.post(route_path(_BASE + "/credentials"), create_credential),
    web.get(route_path(_BASE + "/credentials"), list_credentials),
    web.delete(route_path(_BASE + "/credentials/{username}"), revoke_credential),
)
