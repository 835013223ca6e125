"""Account key rollover (RFC 8555 §7.3.5): an outer JWS by the account, an inner one by the new key."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from . import jws, problems
from .account import account_json
from .messages import KeyChangePayload
from .wire import acme_json, authenticate, state


async def key_change(request: web.Request) -> web.Response:
    signed = await authenticate(request)
    ctx, st = signed.ctx, state(request)
    account = signed.require_account()
    inner = jws.parse_flattened(signed.jws.payload)
    header = inner.protected
    alg = header.get("alg")
    if alg not in jws.ALLOWED_ALGORITHMS:
        raise problems.bad_signature_algorithm(f"inner JWS algorithm {alg!r} is not supported",
                                               jws.ALLOWED_ALGORITHMS)
    if "jwk" not in header or "kid" in header:
        raise problems.malformed("the inner JWS must carry the new key as 'jwk' and no 'kid'")
    if header.get("url") != signed.jws.url:
        raise problems.malformed("the inner JWS 'url' must equal the outer one")
    new_key = jws.jwk_from_json(header["jwk"])
    jws._check_alg_matches_key(alg, new_key)
    if not jws._signature_valid(alg, new_key, inner.signing_input, inner.signature):
        raise problems.malformed("inner JWS verification error")
    try:
        body = jws.loads(inner.payload)
    except ValueError as exc:
        raise problems.malformed(f"the inner JWS payload is not JSON we accept: {exc}") from None
    payload = KeyChangePayload.from_json(body)
    if payload.account != ctx.urls.account(account.id):
        raise problems.malformed("the inner payload names another account")
    if jws.jwk_thumbprint(payload.old_key) != account.thumbprint:
        raise problems.malformed("'oldKey' is not the account's current key")
    thumbprint = jws.jwk_thumbprint(new_key)
    async with st.store.write() as repo:
        holder = await repo.account_by_thumbprint(ctx.endpoint_id, thumbprint)
        if holder is not None:
            # §7.3.5: 409 with the Location of the account that already uses the key.
            problem = problems.AcmeProblem("malformed", "the new key is already in use by an account", 409)
            problem.location = ctx.urls.account(holder.id)  # type: ignore[attr-defined]
            raise problem
        account = replace(account, jwk=new_key.to_json(), thumbprint=thumbprint)
        await repo.update_account(account)
    return acme_json(account_json(account, ctx), location=ctx.urls.account(account.id))
