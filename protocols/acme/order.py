"""Orders (RFC 8555 §7.4): newOrder (201 + Location), POST-as-GET (with Location), and the order's status moving
on from its authorizations and from the core's answer to a request awaiting approval (§7.1.6)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from dataclasses import replace
from typing import Any

from aiohttp import web

from enrollment_gateway.core.issuance import IssuanceRequest
from enrollment_gateway.domain import EnrollmentMethod, RequestStatus
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.storage.repositories.acme import AcmeAuthorization, AcmeOrder

from . import problems
from .authorization import effective_status
from .identifiers import check_identifiers
from .messages import Identifier, NewOrderPayload
from .renewal_info import find_certificate
from .wire import RETRY_AFTER_SECONDS, EndpointContext, Signed, acme_json, actor_id, authenticate, rfc3339, state

log = logging.getLogger("enrollment_gateway.acme")

MAX_IDENTIFIERS = 100  # names per order, as Let's Encrypt allows


def challenge_types(identifier: Identifier) -> tuple[str, ...]:
    if identifier.type == "ip":
        return ("http-01", "tls-alpn-01")  # RFC 8738 §7: no dns-01 for addresses
    if identifier.value.startswith("*."):
        return ("dns-01",)  # RFC 8555 §7.1.3: a wildcard is proved through DNS only
    return ("http-01", "dns-01", "tls-alpn-01")


def san(identifier: Identifier) -> str:
    return f"{'IP' if identifier.type == 'ip' else 'DNS'}:{identifier.value}"


def order_json(order: AcmeOrder, ctx: EndpointContext) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": order.status, "expires": rfc3339(order.expires),
        "identifiers": [{"type": t, "value": v} for t, v in order.identifiers],
        "authorizations": [ctx.urls.authz(a) for a in order.authorizations],
        "finalize": ctx.urls.finalize(order.id),
    }
    if order.not_before is not None:
        out["notBefore"] = rfc3339(order.not_before)
    if order.not_after is not None:
        out["notAfter"] = rfc3339(order.not_after)
    if order.error:
        out["error"] = order.error
    if order.status == "valid":
        out["certificate"] = ctx.urls.certificate(order.id)
    return out


def order_response(order: AcmeOrder, ctx: EndpointContext, status: int = 200) -> web.Response:
    """Every order answer carries Location (golang.org/x/crypto/acme, hence cert-manager, polls it)."""
    # RFC 8555 §7.4: a "processing" order (here: waiting for an administrator's approval) says when to look again.
    retry = RETRY_AFTER_SECONDS if order.status == "processing" else None
    return acme_json(order_json(order, ctx), status, location=ctx.urls.order(order.id), retry_after=retry)


async def settle(st, ctx: EndpointContext, order: AcmeOrder,
                 authzs: list[AcmeAuthorization] | None = None) -> AcmeOrder:
    """The order's current status: expired, its authorizations or its pending request decided, or a stalled
    finalization settled (settle_stalled).

    `authzs`: the order's authorizations when the caller already read them (in the order's own transaction).
    """
    now = st.gateway.clock.now()
    changes: dict[str, Any] = {}
    if order.status in ("pending", "ready") and order.expires <= now:
        changes = {"status": "invalid", "error": problems.malformed("the order expired").to_json()}
    elif order.status == "pending":
        if authzs is None:
            async with st.store.read() as repo:
                authzs = await repo.authorizations(order.authorizations)
        statuses = [effective_status(z, now) for z in authzs]
        failed = [z for z, s in zip(authzs, statuses) if s != "valid" and s != "pending"]
        if failed or len(authzs) != len(order.authorizations):
            error = (failed[0].error if failed and failed[0].error
                     else problems.unauthorized("an authorization of this order is not valid").to_json())
            changes = {"status": "invalid", "error": error}
        elif all(s == "valid" for s in statuses):
            changes = {"status": "ready"}
    elif order.status == "processing" and order.request_id is None and stalled(order, now):
        return await settle_stalled(st, order, now)
    elif order.status == "processing" and order.request_id:
        request = await st.gateway.issuance.get_request(ctx.actor(order.account_id), order.request_id)
        if request.status is RequestStatus.ISSUED:
            changes = {"status": "valid", "certificate_id": request.certificate_id}
        elif request.status in (RequestStatus.REJECTED, RequestStatus.FAILED):
            detail = f"the certificate request was {request.status.value}: {request.reason or 'no reason given'}"
            changes = {"status": "invalid", "error": problems.unauthorized(detail).to_json()}
    if not changes:
        return order
    async with st.store.write() as repo:
        if await repo.update_order(order.id, only_from=(order.status,), **changes):
            return replace(order, **changes)
        return await repo.order(order.id) or order  # another instance moved it first: its word stands


def stalled(order: AcmeOrder, now: dt.datetime) -> bool:
    """A finalization whose lease lapsed: the process that was signing died (or never wrote its lease, pre-0007)."""
    return order.processing_until is None or order.processing_until < now


async def settle_stalled(st, order: AcmeOrder, now: dt.datetime) -> AcmeOrder:
    """Converge a finalization its process never finished (issue #7, item 18: `kill -9` between signing and answering).

    Signing and storing the certificate is one transaction in the core, stamped with this order's id, so either it
    exists and is attached now, or nothing was issued and the order is `ready` again for another finalize (§7.4).
    """
    async with st.store.write() as repo:
        certificate_id = await repo.certificate_signed_for(order.id, actor_id(order.account_id))
        changes: dict[str, Any] = ({"status": "valid", "certificate_id": certificate_id} if certificate_id
                                   else {"status": "ready"})
        if await repo.settle_stalled(order.id, now, processing_until=None, **changes):
            log.warning("ACME order %s was left processing by a finalize that never finished: now %s%s", order.id,
                        changes["status"], f" with certificate {certificate_id}" if certificate_id else "")
            return replace(order, processing_until=None, **changes)
        return await repo.order(order.id) or order  # a live finalize or another instance got there first


async def recover_stalled(st) -> int:
    """Settle every stalled finalization (at start-up and in housekeeping, so no client has to ask); how many."""
    now = st.gateway.clock.now()
    async with st.store.read() as repo:
        orders = await repo.stalled_finalizations(now)
    for order in orders:
        await settle_stalled(st, order, now)
    return len(orders)


async def load_own(st, signed: Signed, order_id: str) -> AcmeOrder:
    authzs = None
    async with st.store.read() as repo:
        order = await repo.order(order_id)
        if order is not None and order.status == "pending":  # settle needs them: one transaction, not two
            authzs = await repo.authorizations(order.authorizations)
    if order is None or order.account_id != signed.require_account().id or order.endpoint_id != signed.ctx.endpoint_id:
        raise problems.not_found("no such order")
    return await settle(st, signed.ctx, order, authzs)


async def get_order(request: web.Request) -> web.Response:
    signed = await authenticate(request)
    if not signed.jws.is_post_as_get:
        raise problems.malformed("an order is read with POST-as-GET (empty payload)")
    order = await load_own(state(request), signed, request.match_info["order"])
    return order_response(order, signed.ctx)


async def _precheck(st, ctx: EndpointContext, signed: Signed, identifiers, payload: NewOrderPayload,
                    replaces_id: str | None) -> None:
    """The core's policy, asked before anything is stored (refuse early, with every rejected identifier)."""
    try:
        await st.gateway.issuance.precheck(IssuanceRequest(
            actor=ctx.actor(signed.require_account().id), endpoint_id=ctx.endpoint_id, protocol=EnrollmentMethod.ACME,
            sans=[tuple(san(i).split(":", 1)) for i in identifiers], not_before=payload.not_before,
            not_after=payload.not_after, replaces_id=replaces_id))
    except GatewayError as err:
        if err.kind is ErrorKind.POLICY_VIOLATION and not all(v.identifier for v in err.subproblems):
            # A lifetime outside the policy: the client asked for notBefore/notAfter the profile will not give.
            raise problems.malformed(err.detail + "".join(f"; {v.message}" for v in err.subproblems)) from None
        raise


async def new_order(request: web.Request) -> web.Response:
    signed = await authenticate(request)
    ctx, st = signed.ctx, state(request)
    account = signed.require_account()
    payload = NewOrderPayload.from_json(signed.payload())
    if payload.profile is not None and payload.profile != ctx.profile.name:
        raise problems.malformed(f"profile {payload.profile!r} is not offered here; this directory serves "
                                 f"{ctx.profile.name!r}")
    if len(payload.identifiers) > MAX_IDENTIFIERS:
        raise problems.rejected_identifier(f"at most {MAX_IDENTIFIERS} identifiers per order")
    identifiers = check_identifiers(payload.identifiers)
    replaces_id = None
    if payload.replaces is not None:
        replaces_id = (await find_certificate(st, ctx, ctx.actor(account.id), payload.replaces)).id
    await _precheck(st, ctx, signed, identifiers, payload, replaces_id)

    now = st.gateway.clock.now()
    settings = st.settings
    expires = now + dt.timedelta(days=settings.order_lifetime_days)
    async with st.store.write() as repo:
        await st.limiter.check_new_order(repo, account.id, now)
        if replaces_id is not None and await repo.replacing_order(replaces_id) is not None:
            raise problems.already_replaced("another order already replaces this certificate")
        authz_ids, fresh = [], []
        for identifier in identifiers:
            wildcard = identifier.value.startswith("*.")
            value = identifier.value.removeprefix("*.")
            reused = await repo.valid_authorization(account.id, identifier.type, value, wildcard, expires)
            if reused is not None:  # §7.1.4 lets a server reuse a valid authorization
                authz_ids.append(reused.id)
                continue
            authz = AcmeAuthorization(
                id=uuid.uuid4().hex, endpoint_id=ctx.endpoint_id, account_id=account.id,
                identifier_type=identifier.type, identifier_value=value, wildcard=wildcard, status="pending",
                expires=now + dt.timedelta(days=settings.authorization_lifetime_days),
                token=secrets.token_urlsafe(32), challenge_types=challenge_types(identifier),
                challenge_type=None, challenge_status="pending", created_at=now)
            fresh.append(authz)
            authz_ids.append(authz.id)
        order = AcmeOrder(
            id=uuid.uuid4().hex, endpoint_id=ctx.endpoint_id, account_id=account.id,
            status="ready" if not fresh else "pending",
            identifiers=tuple((i.type, i.value) for i in identifiers), authorizations=tuple(authz_ids),
            expires=expires, created_at=now, not_before=payload.not_before, not_after=payload.not_after,
            replaces=replaces_id)
        await repo.add_authorizations(fresh)
        await repo.add_order(order)
    return order_response(order, ctx, 201)
