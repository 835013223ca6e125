"""Certificate requests: list, details, and an application admin's approve or reject of a pending one."""

from __future__ import annotations

from aiohttp import web

from enrollment_gateway.domain import RequestStatus

from . import serialize
from .wire import API_PREFIX, Query, actor, gateway, json_response, read_json, route_path

MAX_LIMIT = 500


async def list_requests(request: web.Request) -> web.Response:
    q = Query(request.query, "application_id", "status", "limit", "offset")
    limit, offset = q.int("limit", default=50, minimum=1, maximum=MAX_LIMIT), q.int("offset", default=0)
    items = await gateway(request).issuance.list_requests(
        actor(request), application_id=q.str("application_id"), status=q.enum("status", RequestStatus),
        limit=limit, offset=offset)
    return json_response(serialize.page([serialize.request(r) for r in items], limit, offset))


async def get_request(request: web.Request) -> web.Response:
    record = await gateway(request).issuance.get_request(actor(request), request.match_info["id"])
    return json_response(serialize.request(record, csr=True))


async def approve(request: web.Request) -> web.Response:
    """Sign the pending request now; 201 with the certificate (and the request, now issued)."""
    (await read_json(request, allow_empty=True)).only()  # no fields: a typo'd one is refused, not ignored
    gw = gateway(request)
    issued = await gw.issuance.approve(actor(request), request.match_info["id"])
    out = serialize.certificate(issued.certificate, gw.clock.now(), pem=True)
    return json_response({"request": serialize.request(issued.request), "certificate": out}, status=201,
                         headers={"Location": f"{API_PREFIX}/certificates/{issued.certificate.id}"})


async def reject(request: web.Request) -> web.Response:
    body = (await read_json(request, allow_empty=True)).only("reason")
    record = await gateway(request).issuance.reject(actor(request), request.match_info["id"],
                                                    body.str("reason", default="", max_len=2000))
    return json_response(serialize.request(record))


ROUTES = (
    web.get("/requests", list_requests),
    web.get(route_path("/requests/{id}"), get_request),
    web.post(route_path("/requests/{id}/approve"), approve),
    web.post(route_path("/requests/{id}/reject"), reject),
)
