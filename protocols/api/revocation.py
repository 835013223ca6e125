"""Revocation: by certificate id or by issuer and serial, release of a hold, and revocation of an intermediate CA.

Reasons are RFC 5280 §5.3.1 names as the API spells enums (`key_compromise`), or the RFC's own spelling
(`keyCompromise`); the core refuses anything else with BAD_REVOCATION_REASON.
"""

from __future__ import annotations

from aiohttp import web

from enrollment_gateway.errors import malformed

from . import serialize
from .wire import Body, actor, gateway, json_response, read_json, route_path


def _reason(body: Body):
    value = body.raw("reason")
    if value is not None and not isinstance(value, str):
        raise malformed("field 'reason': expected a string")
    return value  # None: unspecified; the core checks the name


async def revoke(request: web.Request) -> web.Response:
    body = (await read_json(request, allow_empty=True)).only("reason", "invalidity_date")
    gw = gateway(request)
    cert = await gw.revocation.revoke(actor(request), request.match_info["id"], _reason(body),
                                      body.datetime("invalidity_date"))
    return json_response(serialize.certificate(cert, gw.clock.now()))


async def revoke_serial(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("serial", "reason", "invalidity_date")
    text = body.str("serial", required=True, max_len=64, allow_empty=False).strip().lower().removeprefix("0x")
    try:
        serial = int(text.replace(":", ""), 16)
    except ValueError:
        raise malformed("field 'serial': expected hexadecimal") from None
    gw = gateway(request)
    cert = await gw.revocation.revoke_by_serial(actor(request), request.match_info["id"], serial, _reason(body),
                                                body.datetime("invalidity_date"))
    return json_response(serialize.certificate(cert, gw.clock.now()))


async def release_hold(request: web.Request) -> web.Response:
    (await read_json(request, allow_empty=True)).only()
    gw = gateway(request)
    cert = await gw.revocation.release_hold(actor(request), request.match_info["id"])
    return json_response(serialize.certificate(cert, gw.clock.now()))


async def revoke_ca(request: web.Request) -> web.Response:
    body = (await read_json(request, allow_empty=True)).only("reason", "invalidity_date")
    ca = await gateway(request).revocation.revoke_ca(actor(request), request.match_info["id"], _reason(body),
                                                     body.datetime("invalidity_date"))
    return json_response(serialize.ca(ca))


ROUTES = (
    web.post(route_path("/certificates/{id}/revoke"), revoke),
    web.post(route_path("/certificates/{id}/release-hold"), release_hold),
    web.post(route_path("/cas/{id}/revoke-serial"), revoke_serial),
    web.post(route_path("/cas/{id}/revoke"), revoke_ca),
)
