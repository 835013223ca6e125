"""Authorizations and their challenges as JSON (RFC 8555 §7.1.4, §8), POST-as-GET and deactivation (§7.5.2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from enrollment_gateway.storage.repositories.acme import AcmeAuthorization

from . import problems
from .wire import EndpointContext, Signed, acme_json, authenticate, rfc3339, state

FINAL = frozenset({"valid", "invalid", "deactivated", "revoked", "expired"})


def effective_status(authz: AcmeAuthorization, now: dt.datetime) -> str:
    """The stored status, except that a pending or valid authorization past `expires` is expired (§7.1.6)."""
    if authz.status in ("pending", "valid") and authz.expires <= now:
        return "expired"
    return authz.status


def challenge_json(authz: AcmeAuthorization, type: str, ctx: EndpointContext) -> dict[str, Any]:
    attempted = authz.challenge_type == type
    out: dict[str, Any] = {"type": type, "url": ctx.urls.challenge(authz.id, type), "token": authz.token,
                           "status": authz.challenge_status if attempted else "pending"}
    if attempted:
        if authz.validated is not None:
            out["validated"] = rfc3339(authz.validated)
        if authz.error:
            out["error"] = authz.error
        if authz.records:
            out["validationRecord"] = authz.records
    return out


def authz_json(authz: AcmeAuthorization, ctx: EndpointContext, now: dt.datetime) -> dict[str, Any]:
    status = effective_status(authz, now)
    # Once one challenge was tried, that one is the authorization's story (Boulder shows only it, too).
    types = (authz.challenge_type,) if status != "pending" and authz.challenge_type else authz.challenge_types
    out: dict[str, Any] = {
        "identifier": {"type": authz.identifier_type, "value": authz.identifier_value},
        "status": status, "expires": rfc3339(authz.expires),
        "challenges": [challenge_json(authz, t, ctx) for t in types],
    }
    if authz.wildcard:
        out["wildcard"] = True
    return out


async def load_own(st, signed: Signed, authz_id: str) -> AcmeAuthorization:
    async with st.store.read() as repo:
        authz = await repo.authorization(authz_id)
    account = signed.require_account()
    if authz is None or authz.account_id != account.id or authz.endpoint_id != signed.ctx.endpoint_id:
        raise problems.not_found("no such authorization")  # another account's: indistinguishable from absent
    return authz


async def authorization(request: web.Request) -> web.Response:
    signed = await authenticate(request)
    st = state(request)
    authz = await load_own(st, signed, request.match_info["authz"])
    now = st.gateway.clock.now()
    if not signed.jws.is_post_as_get:
        body = signed.payload()
        if body.get("status") != "deactivated" or set(body) - {"status"}:
            raise problems.malformed("an authorization's status may only be changed to 'deactivated'")
        if effective_status(authz, now) not in ("pending", "valid"):
            raise problems.unauthorized(f"the authorization is {effective_status(authz, now)}; it cannot be deactivated")
        async with st.store.write() as repo:
            if not await repo.set_authorization_status(authz.id, "deactivated", only_from=("pending", "valid")):
                raise problems.AcmeProblem("malformed", "the authorization changed meanwhile; try again", 409)
            authz = await repo.authorization(authz.id) or authz
    # No Retry-After while a validation runs (RFC 8555 §7.5.1 makes it a MAY): it takes milliseconds here, and a
    # whole second of client back-off would dominate every order.
    return acme_json(authz_json(authz, signed.ctx, now))
