"""Accounts (RFC 8555 §7.3): newAccount with onlyReturnExisting and External Account Binding, update,
deactivation (§7.3.6) and the orders list (§7.1.2.1)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from aiohttp import web

from enrollment_gateway.storage.repositories.acme import AcmeAccount

from . import jws, problems
from .messages import NewAccountPayload, _contact
from .wire import EndpointContext, Signed, acme_json, authenticate, rfc3339, state

ORDERS_PAGE = 100  # orders per page of the list; more pages are linked with rel="next"
MAX_CURSOR = 2**31 - 1  # fits every database's OFFSET


def account_json(account: AcmeAccount, ctx: EndpointContext) -> dict[str, Any]:
    out: dict[str, Any] = {"status": account.status, "contact": list(account.contact),
                           "orders": ctx.urls.orders(account.id), "createdAt": rfc3339(account.created_at)}
    if account.eab_kid:
        out["externalAccountBinding"] = {"kid": account.eab_kid}  # the binding's key id, never the MAC
    return out


async def new_account(request: web.Request) -> web.Response:
    signed = await authenticate(request, expect="jwk")
    ctx, st = signed.ctx, state(request)
    payload = NewAccountPayload.from_json(signed.payload())
    jwk = signed.jws.jwk
    assert jwk is not None
    thumbprint = jws.jwk_thumbprint(jwk)
    async with st.store.read() as repo:
        existing = await repo.account_by_thumbprint(ctx.endpoint_id, thumbprint)
    if existing is not None:
        # §7.3.1: the key already has an account: 200 with its URL, whatever else the payload says.
        if existing.status != "valid":
            raise problems.account_not_valid(existing.status)
        return acme_json(account_json(existing, ctx), 200, location=ctx.urls.account(existing.id))
    if payload.only_return_existing:
        raise problems.account_does_not_exist()
    if st.settings.terms_of_service and not payload.terms_of_service_agreed:
        raise problems.malformed("you must agree to the terms of service (termsOfServiceAgreed)")
    eab_kid = None
    if payload.external_account_binding is not None:
        endpoint_id = ctx.endpoint_id

        async def mac_key(kid: str) -> bytes | None:
            return await st.eab.mac_key(endpoint_id, kid)

        eab_kid = await jws.verify_eab(payload.external_account_binding, account_jwk=jwk,
                                       url=ctx.urls.new_account, hmac_key_for_kid=mac_key)
    elif ctx.eab_required:
        raise problems.external_account_required()
    account = AcmeAccount(uuid.uuid4().hex, ctx.endpoint_id, thumbprint, jwk.to_json(), "valid",
                          payload.contact or (), eab_kid, st.gateway.clock.now())
    async with st.store.write() as repo:
        if await repo.account_by_thumbprint(ctx.endpoint_id, thumbprint) is not None:
            raise problems.AcmeProblem("malformed", "an account for this key was created concurrently; retry", 409)
        if eab_kid is not None and not await repo.use_eab_key(eab_kid, account.id, account.created_at):
            raise problems.unauthorized(f"external account key {eab_kid!r} was used or revoked meanwhile")
        await repo.add_account(account)
    return acme_json(account_json(account, ctx), 201, location=ctx.urls.account(account.id))


def _own(signed: Signed, account_id: str) -> AcmeAccount:
    account = signed.require_account()
    if account.id != account_id:
        raise problems.unauthorized("the request is signed by another account")
    return account


async def account(request: web.Request) -> web.Response:
    """POST-as-GET, contact update, or {"status": "deactivated"} (§7.3.2, §7.3.6)."""
    signed = await authenticate(request)
    ctx, st = signed.ctx, state(request)
    current = _own(signed, request.match_info["account"])
    body = signed.payload()
    if not signed.jws.is_post_as_get:
        changed = current
        if "contact" in body:
            if not isinstance(body["contact"], list):
                raise problems.malformed("'contact' must be a list of URIs")
            changed = replace(changed, contact=tuple(_contact(c) for c in body["contact"]))
        if "status" in body:
            if body["status"] != "deactivated":
                raise problems.malformed("an account's status may only be changed to 'deactivated'")
            changed = replace(changed, status="deactivated")
        if changed != current:
            async with st.store.write() as repo:
                await repo.update_account(changed)
            current = changed
    return acme_json(account_json(current, ctx), 200, location=ctx.urls.account(current.id))


async def orders(request: web.Request) -> web.Response:
    """The account's orders (§7.1.2.1), ORDERS_PAGE at a time, `?cursor=N` for the next page."""
    signed = await authenticate(request)
    ctx, st = signed.ctx, state(request)
    account = _own(signed, request.match_info["account"])
    text = request.query.get("cursor", "0")
    # ASCII digits only (int() also takes "٣" and "1_0"), and bounded: a 30-digit OFFSET is a database error.
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_CURSOR):
        raise problems.malformed(f"cursor must be an integer from 0 to {MAX_CURSOR}")
    cursor = int(text)
    async with st.store.read() as repo:
        ids = await repo.orders_of(account.id, ORDERS_PAGE + 1, cursor)
    links = ()
    if len(ids) > ORDERS_PAGE:
        ids = ids[:ORDERS_PAGE]
        links = (f'<{ctx.urls.orders(account.id)}?cursor={cursor + ORDERS_PAGE}>;rel="next"',)
    return acme_json({"orders": [ctx.urls.order(i) for i in ids]}, links=links)
