"""Who is asking (RFC 7030 §3.2.3, §3.3.2): HTTP Basic and the TLS client certificate, read off the request and
judged by the core (core/est_credentials.py)."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from enrollment_gateway.appkeys import ACTOR
from enrollment_gateway.core.est_credentials import EstPrincipal, source_allowed
from enrollment_gateway.core.est_settings import EstEndpointSettings
from enrollment_gateway.domain import Endpoint
from enrollment_gateway.errors import ErrorKind, GatewayError

from .wire import TlsFacts, state, tls_facts

MAX_AUTHORIZATION = 1024


class NeedsCredentials(Exception):
    """Nothing was presented where Basic would do: answer the bare 401 challenge real clients wait for."""


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """RFC 7617 user-id and password, or None without an Authorization: Basic header; MALFORMED if garbled."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise GatewayError(ErrorKind.UNAUTHENTICATED, f"the {scheme or 'empty'} authorization scheme is not "
                                                      "supported here; use Basic or a TLS client certificate")
    if len(value) > MAX_AUTHORIZATION:
        raise GatewayError(ErrorKind.UNAUTHENTICATED, "the Authorization header is too long")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise GatewayError(ErrorKind.UNAUTHENTICATED, "the Basic credentials are not base64 of user:password") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise GatewayError(ErrorKind.UNAUTHENTICATED, "the Basic credentials have no ':' between user and password")
    return username, password


def client_address(request: web.Request, via_trusted_proxy: bool) -> str:
    """The device's address: behind a trusted proxy, the last X-Forwarded-For hop (the one that proxy added), so
    one device's wrong passwords do not lock out every device behind the same proxy."""
    if via_trusted_proxy:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if hops and len(hops[-1]) <= 64:
            return hops[-1]
    return request.remote or ""


async def authenticate(request: web.Request, endpoint: Endpoint, settings: EstEndpointSettings, *,
                       reenroll: bool = False) -> tuple[EstPrincipal, TlsFacts]:
    st = state(request)
    trusted = source_allowed(request.remote, st.settings.trusted_proxies)
    facts = tls_facts(request, st.settings, trusted)
    basic = basic_credentials(request)
    if basic is None and facts.client_certificate is None and settings.auth.accepts_basic and not reenroll:
        raise NeedsCredentials()
    principal = await st.credentials.authenticate(endpoint, settings, basic=basic,
                                                  client_certificate=facts.client_certificate,
                                                  source=client_address(request, trusted), reenroll=reenroll)
    request[ACTOR] = principal.actor
    return principal, facts
