"""ACME Renewal Information (RFC 9773): GET {renewalInfo}/{certID} → the suggested renewal window.

The window ends where the profile's renew-before period would have the gateway renew on its own, and starts a
third of that period earlier, so a fleet renewing inside it spreads out. A revoked certificate gets a window that
is already open (§4.2: renew now).
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from cryptography import x509

from enrollment_gateway.domain import Certificate
from enrollment_gateway.errors import ErrorKind, GatewayError

from . import problems
from .messages import AriCertId
from .wire import EndpointContext, acme_json, context, rfc3339, state

RETRY_AFTER_SECONDS = 6 * 3600  # §4.3: how often clients should ask again


async def find_certificate(st, ctx: EndpointContext, actor, cert_id: AriCertId) -> Certificate:
    """The certificate of this endpoint's CA named by an ARI id; NOT_FOUND when it is not one of ours."""
    try:
        cert = await st.gateway.inventory.find_by_serial(actor, ctx.profile.ca_id, cert_id.serial)
    except GatewayError as err:
        if err.kind is ErrorKind.NOT_FOUND:
            raise problems.not_found("no certificate with this ARI identifier") from None
        raise
    parsed = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    try:
        aki = parsed.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        aki = None
    if aki != cert_id.key_identifier:
        raise problems.not_found("no certificate with this ARI identifier")
    return cert


def suggested_window(cert: Certificate, renew_before_days: int, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    if cert.revoked_at is not None:
        return now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)
    lifetime = cert.not_after - cert.not_before
    before = min(dt.timedelta(days=max(1, renew_before_days)), lifetime / 2)
    end = cert.not_after - before
    start = end - before / 3
    return start, end


async def renewal_info(request: web.Request) -> web.Response:
    ctx = await context(request)
    st = state(request)
    cert_id = AriCertId.parse(request.match_info["certid"])
    cert = await find_certificate(st, ctx, ctx.actor("ari"), cert_id)
    start, end = suggested_window(cert, ctx.profile.renew_before_days, st.gateway.clock.now())
    return acme_json({"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)}},
                     retry_after=RETRY_AFTER_SECONDS)
