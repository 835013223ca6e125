"""Finalize (RFC 8555 §7.4): the CSR must name exactly the order's identifiers under a key other than the
account's; then the core decides. 200 with the order and its Location, whatever the order's status."""

from __future__ import annotations

import datetime as dt
import ipaddress

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from enrollment_gateway.core.issuance import IssuanceRequest, Issued
from enrollment_gateway.domain import EnrollmentMethod
from enrollment_gateway.errors import ErrorKind, GatewayError

from . import jws, problems
from .messages import FinalizePayload
from .order import load_own, order_response
from .problems import from_gateway_error
from .wire import Signed, authenticate, state

_RETRYABLE = frozenset({ErrorKind.INTERNAL, ErrorKind.UNAVAILABLE, ErrorKind.CONFLICT})  # not the client's fault


def _spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def csr_identifiers(csr: x509.CertificateSigningRequest) -> tuple[set[tuple[str, str]], str | None]:
    """The identifiers a CSR asks for (SANs and the CN, §7.4) and its CN; badCSR for names ACME cannot prove."""
    found: set[tuple[str, str]] = set()
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = []
    except ValueError:
        raise problems.bad_csr("the CSR's subjectAltName cannot be parsed") from None
    for name in sans:
        if isinstance(name, x509.DNSName):
            found.add(("dns", name.value.rstrip(".").lower()))
        elif isinstance(name, x509.IPAddress):
            found.add(("ip", str(name.value)))
        else:
            raise problems.bad_csr(f"the CSR asks for a {type(name).__name__}; only DNS names and IPs are validated")
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    if cn:
        try:
            found.add(("ip", str(ipaddress.ip_address(cn))))
        except ValueError:
            found.add(("dns", cn.rstrip(".").lower()))
    return found, cn


def check_csr(der: bytes, signed: Signed, identifiers: tuple[tuple[str, str], ...]) -> str | None:
    """Everything the ACME layer owns about a CSR; returns its CN. The core judges the rest (key, policy)."""
    try:
        csr = x509.load_der_x509_csr(der)
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError
        raise problems.bad_csr("the CSR is not a DER PKCS#10 request") from None
    try:
        # cryptography parses lazily: a corrupt or unknown key, curve or name surfaces only when it is read.
        signature_valid = csr.is_signature_valid
        csr_key = _spki(csr.public_key())
        found, cn = csr_identifiers(csr)
    except problems.AcmeProblem:
        raise
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        raise problems.bad_csr("the CSR's public key, subject or extensions cannot be read") from None
    if not signature_valid:
        raise problems.bad_csr("the CSR's signature does not verify")
    wanted = set(identifiers)
    if found != wanted:
        extra = ", ".join(sorted(v for _, v in found - wanted))
        missing = ", ".join(sorted(v for _, v in wanted - found))
        raise problems.bad_csr("the CSR's identifiers differ from the order's"
                               + (f"; not in the order: {extra}" if extra else "")
                               + (f"; missing: {missing}" if missing else ""))
    if csr_key == _spki(jws._raw_key(jws.stored_jwk(signed.require_account().jwk))):
        raise problems.bad_csr("the certificate key must differ from the account key")
    return cn


async def finalize(request: web.Request) -> web.Response:
    signed = await authenticate(request)
    ctx, st = signed.ctx, state(request)
    order = await load_own(st, signed, request.match_info["order"])
    payload = FinalizePayload.from_json(signed.payload())
    if order.status != "ready":
        raise problems.order_not_ready(f"the order is {order.status}, not ready")
    cn = check_csr(payload.csr, signed, order.identifiers)
    first_dns = next((v for t, v in order.identifiers if t == "dns" and len(v) <= 64), None)
    subject_cn = cn if cn and len(cn) <= 64 else first_dns or order.identifiers[0][1]
    # The lease lets any instance settle the order if this process dies before it answers (order.settle_stalled).
    lease = dt.timedelta(seconds=st.settings.finalize_lease_seconds)
    async with st.store.write() as repo:
        if not await repo.update_order(order.id, only_from=("ready",), status="processing",
                                       processing_until=st.gateway.clock.now() + lease):
            raise problems.order_not_ready("the order is being finalized already")
    try:
        outcome = await st.gateway.issuance.issue(IssuanceRequest(
            actor=ctx.actor(order.account_id), endpoint_id=ctx.endpoint_id, protocol=EnrollmentMethod.ACME,
            csr=payload.csr, subject=[("CN", subject_cn)],
            sans=[("IP" if t == "ip" else "DNS", v) for t, v in order.identifiers],
            not_before=order.not_before, not_after=order.not_after, replaces_id=order.replaces,
            metadata={"acme_account": order.account_id, "acme_order": order.id}))
    except GatewayError as err:
        problem = from_gateway_error(err)
        async with st.store.write() as repo:
            if err.kind in _RETRYABLE:
                await repo.update_order(order.id, only_from=("processing",), status="ready", processing_until=None)
            else:  # the policy said no for good: the order records why
                await repo.update_order(order.id, only_from=("processing",), status="invalid",
                                        error=problem.to_json(), processing_until=None)
        raise problem from None
    async with st.store.write() as repo:
        if isinstance(outcome, Issued):
            # From "ready" too: had signing outlasted the lease, the order was put back, and this certificate is
            # still the one the client asked for.
            await repo.update_order(order.id, only_from=("processing", "ready"), status="valid",
                                    certificate_id=outcome.certificate.id, processing_until=None)
        else:  # awaiting approval: the order stays processing and polling completes it (order.settle)
            await repo.update_order(order.id, only_from=("processing",), request_id=outcome.request.id,
                                    processing_until=None)
        order = await repo.order(order.id) or order
    return order_response(order, ctx)
