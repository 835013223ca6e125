"""/simpleenroll and /simplereenroll (RFC 7030 §4.2), /cacerts (§4.1) and /fullcmc (§4.3, not offered).

A translator: base64 PKCS#10 in, one core call, a certs-only CMS (or 202 with Retry-After) out.
"""

from __future__ import annotations

from aiohttp import web
from cryptography import x509

from enrollment_gateway.core.issuance import Issued, Pending
from enrollment_gateway.errors import ErrorKind, GatewayError

from .auth import authenticate
from .labels import endpoint_and_settings
from .status import text_response
from .wire import CERTS_ONLY, PKCS10, base64_response, certs_only, decode_pkcs10, read_body, require_media_type, state


async def cacerts(request: web.Request) -> web.Response:
    """GET, without authentication (§4.1.1): the issuing CA and every certificate up to the root."""
    endpoint, _ = await endpoint_and_settings(request)
    chain = await state(request).enrollment.ca_certificates(endpoint.id)
    return base64_response(certs_only(chain), CERTS_ONLY)


async def _csr(request: web.Request) -> bytes:
    require_media_type(request, PKCS10)
    return decode_pkcs10(await read_body(request, state(request).settings.max_body_bytes))


def _check_declared_size(request: web.Request) -> None:
    """Refuse a declared oversize body before authenticating, so a 1 MB upload is not read at all."""
    limit = state(request).settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise GatewayError(ErrorKind.TOO_LARGE, f"the body is larger than {limit} bytes")


async def simpleenroll(request: web.Request) -> web.Response:
    return await _enroll(request, reenroll=False)


async def simplereenroll(request: web.Request) -> web.Response:
    return await _enroll(request, reenroll=True)


async def _enroll(request: web.Request, *, reenroll: bool) -> web.Response:
    endpoint, settings = await endpoint_and_settings(request)
    _check_declared_size(request)
    if reenroll and not settings.reenroll:
        raise GatewayError(ErrorKind.FORBIDDEN, "simplereenroll is not enabled for this EST label")
    principal, facts = await authenticate(request, endpoint, settings, reenroll=reenroll)
    der = await _csr(request)
    outcome = await state(request).enrollment.enroll(principal, der, reenroll=reenroll, tls_unique=facts.tls_unique)
    return enrollment_response(request, outcome)


def enrollment_response(request: web.Request, outcome: Issued | Pending) -> web.Response:
    """§4.2.3: 200 with the certificate, or 202 + Retry-After while an administrator has not decided."""
    if isinstance(outcome, Pending):
        return pending_response(request, outcome)
    leaf = x509.load_pem_x509_certificate(outcome.certificate.certificate_pem.encode())
    return base64_response(certs_only([leaf]), CERTS_ONLY)


def pending_response(request: web.Request, outcome: Pending) -> web.Response:
    wait = state(request).settings.retry_after_seconds
    return text_response(202, f"request {outcome.request.id} awaits approval; send the same request again after "
                              f"{wait} seconds", {"Retry-After": str(wait)})


async def fullcmc(request: web.Request) -> web.Response:
    """§4.3 is optional; saying so beats a 404 that reads like a wrong label."""
    await endpoint_and_settings(request)
    return text_response(501, "fullcmc (RFC 7030 §4.3) is not offered by this gateway; use simpleenroll")
