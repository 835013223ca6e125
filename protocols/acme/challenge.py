"""Challenges (RFC 8555 §7.5.1): a POST of {} starts validation; every answer links up to its authorization."""

from __future__ import annotations

from aiohttp import web

from . import problems
from .authorization import challenge_json, effective_status, load_own
from .wire import acme_json, authenticate, state


async def challenge(request: web.Request) -> web.Response:
    signed = await authenticate(request)
    ctx, st = signed.ctx, state(request)
    authz = await load_own(st, signed, request.match_info["authz"])
    type = request.match_info["type"]
    if type not in authz.challenge_types:
        raise problems.not_found("no such challenge")
    now = st.gateway.clock.now()
    if not signed.jws.is_post_as_get:
        # §7.5.1: the client says it is ready with an empty object; repeating it is harmless (answered as is).
        if effective_status(authz, now) == "pending" and authz.challenge_status == "pending":
            async with st.store.write() as repo:
                claimed = await repo.claim_challenge(authz.id, type, now + st.validator.lease)
                authz = await repo.authorization(authz.id) or authz
            if claimed:
                st.validator.submit(authz.id)
        elif authz.challenge_type not in (None, type):
            raise problems.malformed(f"another challenge ({authz.challenge_type}) of this authorization was tried")
    # No Retry-After for a validation in progress: see authorization.py.
    return acme_json(challenge_json(authz, type, ctx), links=(f'<{ctx.urls.authz(authz.id)}>;rel="up"',))
