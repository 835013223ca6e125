"""The audit trail, by application, actor, action and time range; members see only their applications' events."""

from __future__ import annotations

from aiohttp import web

from enrollment_gateway.core.access import require_role, visible_applications
from enrollment_gateway.core.audit import query_audit
from enrollment_gateway.domain import Role

from . import serialize
from .wire import Query, actor, gateway, json_response, route_path

MAX_LIMIT = 500


async def _query(request: web.Request, application_id: str | None, q: Query) -> web.Response:
    who = actor(request)
    if application_id is not None:
        require_role(who, application_id, Role.AUDITOR)  # NOT_FOUND for non-members: no probing across apps
        scope = (application_id,)
    else:
        scope = visible_applications(who)  # superadmins: everything, including events of no application
    limit, offset = q.int("limit", default=100, minimum=1, maximum=MAX_LIMIT), q.int("offset", default=0)
    events = await query_audit(gateway(request).db, application_ids=scope, actor=q.str("actor"),
                               since=q.timestamp("since"), until=q.timestamp("until"), action=q.str("action"),
                               limit=limit, offset=offset)
    return json_response(serialize.page([serialize.audit_event(e) for e in events], limit, offset))


async def list_audit(request: web.Request) -> web.Response:
    q = Query(request.query, "application_id", "actor", "since", "until", "action", "limit", "offset")
    return await _query(request, q.str("application_id"), q)


async def application_audit(request: web.Request) -> web.Response:
    q = Query(request.query, "actor", "since", "until", "action", "limit", "offset")
    return await _query(request, request.match_info["id"], q)


ROUTES = (
    web.get("/audit", list_audit),
    web.get(route_path("/applications/{id}/audit"), application_audit),
)
