"""Applications, their endpoints (attached profiles, with every protocol URL), members and identities."""

from __future__ import annotations

from aiohttp import web

from enrollment_gateway.domain import IdentityKind, Role
from enrollment_gateway.errors import ErrorKind, GatewayError

from . import serialize
from .wire import actor, gateway, json_response, no_content, read_json, route_path


# --- applications --------------------------------------------------------------------------------------------------


async def list_applications(request: web.Request) -> web.Response:
    apps = await gateway(request).applications.list(actor(request))
    return json_response({"items": [serialize.application(a) for a in apps]})


async def create_application(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("name", "description")
    app = await gateway(request).applications.create(
        actor(request), name=body.str("name", required=True, max_len=200, allow_empty=False),
        description=body.str("description", default="", max_len=2000))
    return json_response(serialize.application(app), status=201)


async def get_application(request: web.Request) -> web.Response:
    app = await gateway(request).applications.get(actor(request), request.match_info["id"])
    return json_response(serialize.application(app))


async def update_application(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("description")
    app = await gateway(request).applications.update(
        actor(request), request.match_info["id"], description=body.str("description", required=True, max_len=2000))
    return json_response(serialize.application(app))


async def delete_application(request: web.Request) -> web.Response:
    await gateway(request).applications.delete(actor(request), request.match_info["id"])
    return no_content()


# --- endpoints -----------------------------------------------------------------------------------------------------


async def list_endpoints(request: web.Request) -> web.Response:
    gw = gateway(request)
    endpoints = await gw.applications.endpoints(actor(request), request.match_info["id"])
    items = []
    for e in endpoints:
        try:
            attached = await gw.catalog.get_profile(e.profile_id)
        except GatewayError as err:
            if err.kind is not ErrorKind.NOT_FOUND:
                raise
            attached = None
        items.append(serialize.endpoint(e, gw.urls, attached))
    return json_response({"items": items})


async def attach_profile(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("profile_id")
    gw = gateway(request)
    endpoint = await gw.applications.attach_profile(actor(request), request.match_info["id"],
                                                    body.str("profile_id", required=True))
    return json_response(serialize.endpoint(endpoint, gw.urls, await gw.catalog.get_profile(endpoint.profile_id)),
                         status=201)


async def detach_profile(request: web.Request) -> web.Response:
    await gateway(request).applications.detach_profile(actor(request), request.match_info["id"],
                                                       request.match_info["endpoint_id"])
    return no_content()


# --- members and identities ----------------------------------------------------------------------------------------


async def list_members(request: web.Request) -> web.Response:
    members = await gateway(request).applications.members(actor(request), request.match_info["id"])
    return json_response({"items": [serialize.member(m, i) for m, i in members]})


async def add_member(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("identity_id", "role")
    membership = await gateway(request).applications.add_member(
        actor(request), request.match_info["id"], body.str("identity_id", required=True),
        body.enum("role", Role, required=True))
    return json_response({"application_id": membership.application_id, "identity_id": membership.identity_id,
                          "role": membership.role.value, "created_at": serialize.ts(membership.created_at)},
                         status=201)


async def remove_member(request: web.Request) -> web.Response:
    await gateway(request).applications.remove_member(actor(request), request.match_info["id"],
                                                      request.match_info["identity_id"])
    return no_content()


async def create_machine_identity(request: web.Request) -> web.Response:
    """A machine identity that is a member of this application; its token is in this response only."""
    body = (await read_json(request)).only("name", "role", "bypass_approval", "expires_at")
    issued = await gateway(request).applications.create_identity(
        actor(request), name=body.str("name", required=True, max_len=200, allow_empty=False),
        kind=IdentityKind.MACHINE, bypass_approval=body.bool("bypass_approval", default=False),
        application_id=request.match_info["id"], role=body.enum("role", Role, default=Role.OPERATOR),
        expires_at=body.datetime("expires_at"))
    return json_response(serialize.issued_token(issued), status=201)


async def list_identities(request: web.Request) -> web.Response:
    identities = await gateway(request).applications.list_identities(actor(request))
    return json_response({"items": [serialize.identity(i) for i in identities]})


async def create_identity(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("name", "kind", "superadmin", "bypass_approval", "application_id", "role",
                                           "expires_at")
    issued = await gateway(request).applications.create_identity(
        actor(request), name=body.str("name", required=True, max_len=200, allow_empty=False),
        kind=body.enum("kind", IdentityKind, default=IdentityKind.USER),
        superadmin=body.bool("superadmin", default=False), bypass_approval=body.bool("bypass_approval", default=False),
        application_id=body.str("application_id"), role=body.enum("role", Role),
        expires_at=body.datetime("expires_at"))
    return json_response(serialize.issued_token(issued), status=201)


async def update_identity(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("disabled")
    identity = await gateway(request).applications.set_identity_disabled(
        actor(request), request.match_info["id"], body.bool("disabled", default=False))
    return json_response(serialize.identity(identity))


async def rotate_token(request: web.Request) -> web.Response:
    (await read_json(request, allow_empty=True)).only()
    issued = await gateway(request).applications.rotate_token(actor(request), request.match_info["id"])
    return json_response(serialize.issued_token(issued))


ROUTES = (
    web.get("/applications", list_applications),
    web.post("/applications", create_application),
    web.get(route_path("/applications/{id}"), get_application),
    web.patch(route_path("/applications/{id}"), update_application),
    web.delete(route_path("/applications/{id}"), delete_application),
    web.get(route_path("/applications/{id}/endpoints"), list_endpoints),
    web.post(route_path("/applications/{id}/endpoints"), attach_profile),
    web.delete(route_path("/applications/{id}/endpoints/{endpoint_id}"), detach_profile),
    web.get(route_path("/applications/{id}/members"), list_members),
    web.post(route_path("/applications/{id}/members"), add_member),
    web.delete(route_path("/applications/{id}/members/{identity_id}"), remove_member),
    web.post(route_path("/applications/{id}/machine-identities"), create_machine_identity),
    web.get("/identities", list_identities),
    web.post("/identities", create_identity),
    web.patch(route_path("/identities/{id}"), update_identity),
    web.post(route_path("/identities/{id}/token"), rotate_token),
)
