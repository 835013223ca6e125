"""What every ACME handler shares: resource URLs, the endpoint's context, JWS authentication, JSON responses.

The URLs handed out are built from the gateway's public HTTPS base (`UrlBuilder.acme_directory`), and a JWS
`url` is compared against the public URL of the resource it was POSTed to (RFC 8555 §6.4).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import josepy
from aiohttp import web

from enrollment_gateway.appkeys import ACTOR, GATEWAY
from enrollment_gateway.config import AcmeSettings
from enrollment_gateway.core.acme_eab import ExternalAccountKeys
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.domain import Actor, EnrollmentMethod, Profile, Role
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.storage.repositories.acme import AcmeAccount, AcmeStore

from . import jws, problems

JOSE_JSON = "application/jose+json"
MAX_JWS_BYTES = 64 * 1024  # a finalize with an 8192-bit RSA CSR is ~3 kB; nothing legitimate comes near this
RETRY_AFTER_SECONDS = 1  # processing/pending states: clients (and the load bench) poll again this soon
_CONTEXT_TTL = 5.0  # seconds an endpoint's profile is cached: a changed profile takes effect within this


@dataclass(frozen=True)
class AcmeUrls:
    """Every resource URL of one endpoint's ACME server (RFC 8555 §7.1)."""

    base: str  # https://host/acme/<endpoint>

    @property
    def directory(self) -> str:
        return f"{self.base}/directory"

    def __getattr__(self, name: str) -> str:  # new_nonce, new_account, new_order, revoke_cert, key_change
        paths = {"new_nonce": "new-nonce", "new_account": "new-account", "new_order": "new-order",
                 "revoke_cert": "revoke-cert", "key_change": "key-change", "renewal_info": "renewal-info"}
        if name in paths:
            return f"{self.base}/{paths[name]}"
        raise AttributeError(name)

    def account(self, id: str) -> str:
        return f"{self.base}/acct/{id}"

    def orders(self, account_id: str) -> str:
        return f"{self.base}/acct/{account_id}/orders"

    def order(self, id: str) -> str:
        return f"{self.base}/order/{id}"

    def finalize(self, order_id: str) -> str:
        return f"{self.base}/order/{order_id}/finalize"

    def certificate(self, order_id: str) -> str:
        return f"{self.base}/cert/{order_id}"

    def authz(self, id: str) -> str:
        return f"{self.base}/authz/{id}"

    def challenge(self, authz_id: str, type: str) -> str:
        return f"{self.base}/chall/{authz_id}/{type}"


def actor_id(account_id: str) -> str:
    """The core's requester id for an ACME account (what its certificate requests record)."""
    return f"acme:{account_id}"


@dataclass(frozen=True)
class EndpointContext:
    """One ACME directory: the endpoint, its application and profile, as of at most _CONTEXT_TTL ago."""

    endpoint_id: str
    application_id: str
    profile: Profile
    urls: AcmeUrls

    @property
    def acme_settings(self) -> Mapping[str, Any]:
        return self.profile.enrollment.get("acme") or {}

    @property
    def eab_required(self) -> bool:
        return bool(self.acme_settings.get("eab_required", False))

    @property
    def include_root(self) -> bool:
        """Certificate downloads end with the self-signed root (default: they stop below it, as public CAs do)."""
        return self.acme_settings.get("include_root") is True

    def actor(self, account_id: str) -> Actor:
        """An ACME account as the core sees it: the endpoint itself authorises its accounts to issue and revoke."""
        return Actor(id=actor_id(account_id), name=f"ACME account {account_id}",
                     roles={self.application_id: Role.OPERATOR}, via="acme")


@dataclass
class AcmeState:
    """Per-process ACME machinery, opened in routes.mount's cleanup_ctx."""

    gateway: Gateway
    settings: AcmeSettings
    store: AcmeStore
    nonces: Any  # nonces.NonceService
    limiter: Any  # rate_limits.RateLimiter
    validator: Any  # validation.Validator
    eab: ExternalAccountKeys
    _contexts: dict[str, tuple[float, EndpointContext]] = field(default_factory=dict)

    async def context(self, endpoint_id: str) -> EndpointContext:
        cached = self._contexts.get(endpoint_id)
        if cached is not None and time.monotonic() - cached[0] < _CONTEXT_TTL:
            return cached[1]
        gw = self.gateway
        try:
            endpoint = await gw.applications.endpoint(endpoint_id)
            profile = await gw.catalog.get_profile(endpoint.profile_id)
        except GatewayError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                raise problems.not_found("no ACME directory here") from None
            raise
        if not profile.enabled(EnrollmentMethod.ACME):
            raise problems.not_found("ACME is not enabled for this endpoint")
        base = gw.urls.acme_directory(endpoint_id).removesuffix("/directory")
        ctx = EndpointContext(endpoint_id, endpoint.application_id, profile, AcmeUrls(base))
        if len(self._contexts) > 4096:
            self._contexts.clear()
        self._contexts[endpoint_id] = (time.monotonic(), ctx)
        return ctx


ACME: web.AppKey[AcmeState] = web.AppKey("acme", AcmeState)


def state(request: web.Request) -> AcmeState:
    return request.config_dict[ACME]


def gateway(request: web.Request) -> Gateway:
    return request.config_dict[GATEWAY]


async def context(request: web.Request) -> EndpointContext:
    return await state(request).context(request.match_info["endpoint"])


def acme_json(data: Any, status: int = 200, *, location: str | None = None, links: tuple[str, ...] = (),
              retry_after: int | None = None) -> web.Response:
    response = web.Response(status=status, text=json.dumps(data), content_type="application/json")
    if location is not None:
        response.headers["Location"] = location
    for link in links:
        response.headers.add("Link", link)
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))  # always delta-seconds, never an HTTP-date
    return response


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def problem_response(problem: problems.AcmeProblem) -> web.Response:
    response = web.Response(status=problem.status, text=json.dumps(problem.to_json()),
                            content_type=problems.CONTENT_TYPE)
    if problem.retry_after is not None:
        response.headers["Retry-After"] = str(int(problem.retry_after))
    location = getattr(problem, "location", None)  # keyChange's 409 names the account holding the key
    if location:
        response.headers["Location"] = location
    return response


# --- JWS authentication (RFC 8555 §6.2–§6.5) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    """An authenticated request: its verified JWS, the account when signed by `kid`, and the endpoint."""

    jws: jws.VerifiedJWS
    ctx: EndpointContext
    account: AcmeAccount | None

    def payload(self) -> dict:
        return self.jws.json()

    def require_account(self) -> AcmeAccount:
        assert self.account is not None  # expect="kid" guarantees it
        return self.account


async def read_body(request: web.Request, limit: int = MAX_JWS_BYTES) -> bytes:
    """The body, refused (413) once past `limit` without reading — or parsing — the rest."""
    if request.content_length is not None and request.content_length > limit:
        raise problems.malformed(f"request body larger than {limit} bytes", 413)
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise problems.malformed(f"request body larger than {limit} bytes", 413)
    return bytes(body)


def public_url(ctx: EndpointContext, request: web.Request) -> str:
    """The URL the client was given for this resource: our public base plus the path below /acme/<endpoint>."""
    prefix = f"/acme/{ctx.endpoint_id}"
    path = request.raw_path  # with the query: the orders list's `?cursor=` is part of the URL the client signs
    return ctx.urls.base + path[len(prefix):] if path.startswith(prefix) else ctx.urls.base + path


async def authenticate(request: web.Request, *, expect: jws.Expect = "kid") -> Signed:
    """Content type, size, JWS structure, key, signature, url, then the nonce is redeemed (single use).

    The account is read and the nonce redeemed in one transaction: one round of begin/commit per request instead
    of two. The order of the checks is unchanged (signature before nonce), and nothing is written unless every
    check before the redemption passed.
    """
    if request.content_type != JOSE_JSON:
        raise problems.unsupported_media_type()
    ctx = await context(request)
    st = state(request)
    parsed = jws.parse_flattened(await read_body(request), MAX_JWS_BYTES)
    found: dict[str, AcmeAccount] = {}
    url = public_url(ctx, request)
    async with st.store.write() as repo:

        async def key_for_kid(kid: str) -> josepy.JWK | None:
            prefix = ctx.urls.account("")
            if not kid.startswith(prefix) or "/" in kid[len(prefix):]:
                return None
            account = await repo.account(kid[len(prefix):])
            if account is None or account.endpoint_id != ctx.endpoint_id:
                return None
            found["account"] = account
            return jws.stored_jwk(account.jwk)

        verified = await jws.verify(parsed, request_url=url, key_for_kid=key_for_kid, expect=expect)
        # After the signature (an unsigned request learns nothing of the account), before the nonce is spent.
        if "account" in found and found["account"].status != "valid":
            raise problems.account_not_valid(found["account"].status)
        await st.nonces.redeem(verified.nonce, repo)
    account = found.get("account")
    if account is not None:
        request[ACTOR] = ctx.actor(account.id)
    return Signed(verified, ctx, account)
