"""The SCEP operations (RFC 8894 §4): GetCACaps, GetCACert and PKIOperation, per endpoint.

PKIOperation: read and bound the message, parse it (400 only if no CertRep can be addressed to the sender), then
every outcome is a CertRep signed by the endpoint's RA: SUCCESS with the certificate (or CRL) enveloped to the
requester's signer certificate in the request's own content cipher, PENDING, or FAILURE with a failInfo.

The CMS work (parsing, RSA decryption, building and signing the reply: milliseconds each, mostly asn1crypto) runs
in worker threads: on the event loop it delayed whichever request held the database's write lock, and the
enrolment rate fell as concurrency rose.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web
from asn1crypto import cms
from cryptography import x509

from enrollment_gateway.appkeys import GATEWAY, LOG_FIELDS
from enrollment_gateway.core.scep import Enrolment, ScepIssued, ScepService
from enrollment_gateway.core.scep_ra import RaCredential
from enrollment_gateway.errors import ErrorKind, GatewayError

from . import degenerate, der, envelope
from .capabilities import ca_caps
from .fail_info import fail_info
from .pki_message import CertRep, FailInfo, MessageType, PkiMessage, PkiStatus, Unparseable, cert_rep, \
    parse_pki_message
from .rate_limits import ChallengeLimiter
from .transport import BadTransport, read_message

log = logging.getLogger("enrollment_gateway.scep")

PKI_MESSAGE = "application/x-pki-message"
CA_CERT = "application/x-x509-ca-cert"
CA_RA_CERT = "application/x-x509-ca-ra-cert"


@dataclass
class ScepState:
    service: ScepService
    limiter: ChallengeLimiter


SCEP: web.AppKey[ScepState] = web.AppKey("scep", ScepState)


def _log(request: web.Request, **fields) -> None:
    extra = request.get(LOG_FIELDS)  # present only with the access log on; nothing here depends on it
    if extra is not None:
        extra.update({k: v for k, v in fields.items() if v is not None})


async def _credentials(request: web.Request, *, refresh: bool = False) -> list[RaCredential]:
    try:
        return await request.config_dict[SCEP].service.ra_credentials(request.match_info["endpoint"],
                                                                         refresh=refresh)
    except GatewayError as err:
        if err.kind is ErrorKind.NOT_FOUND:
            raise web.HTTPNotFound(text="no SCEP service here\n") from None
        raise


async def scep(request: web.Request) -> web.StreamResponse:
    operation = request.query.get("operation", "")
    _log(request, scep_operation=operation[:32])
    if operation == "GetCACaps":
        await _credentials(request)  # 404 for an endpoint without SCEP
        return web.Response(text=ca_caps(), content_type="text/plain")
    if operation == "GetCACert":
        return await get_ca_cert(request)
    if operation == "PKIOperation":
        return await pki_operation(request)
    raise web.HTTPBadRequest(text="unknown or missing operation\n")


async def get_ca_cert(request: web.Request) -> web.Response:
    """§4.2: the RA and the CA (and the chain, root included if the endpoint says so), certs-only PKCS#7. The
    `message` parameter (Cisco sends its trustpoint name there) is ignored."""
    endpoint_id = request.match_info["endpoint"]
    try:
        certs = await request.config_dict[SCEP].service.ca_certificates(endpoint_id)
    except GatewayError as err:
        if err.kind is ErrorKind.NOT_FOUND:
            raise web.HTTPNotFound(text="no SCEP service here\n") from None
        raise
    body = degenerate.certificates_only([certs.ra, certs.ca, *certs.chain])
    return web.Response(body=body, content_type=CA_RA_CERT)


async def pki_operation(request: web.Request) -> web.Response:
    if request.method not in ("GET", "POST"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
    try:
        data = await read_message(request)
        message = await asyncio.to_thread(parse_pki_message, data)
    except BadTransport as exc:
        if exc.too_large:
            raise web.HTTPRequestEntityTooLarge(der.MAX_MESSAGE_BYTES, request.content_length or 0,
                                                text=f"{exc}\n") from None
        raise web.HTTPBadRequest(text=f"{exc}\n") from None
    except Unparseable as exc:
        raise web.HTTPBadRequest(text=f"not a SCEP pkiMessage: {exc}\n") from None
    credentials = await _credentials(request)
    try:
        reply, signer = await _answer(request, message, credentials)
    except asyncio.CancelledError:
        raise
    except GatewayError as err:
        if err.kind is ErrorKind.INTERNAL:
            log.error("internal error in SCEP %s: %s", message.message_type, err.detail)
        reply, signer = CertRep(PkiStatus.FAILURE, fail_info(err)), credentials[0]
    except Exception:  # once a CertRep can be built, the client gets one (certmonger refuses text/plain errors)
        log.exception("unhandled error in SCEP PKIOperation")
        reply, signer = CertRep(PkiStatus.FAILURE, FailInfo.badRequest), credentials[0]
    _log(request, scep_message_type=message.message_type, scep_transaction_id=message.transaction_id[:64],
         scep_status=reply.status.name, scep_fail_info=reply.fail_info.name if reply.fail_info else None)
    now = request.config_dict[GATEWAY].clock.now()
    body = await asyncio.to_thread(cert_rep, reply, message, signer.certificate, signer.key, now=now)
    return web.Response(body=body, content_type=PKI_MESSAGE)


def _failure(info: FailInfo) -> CertRep:
    return CertRep(PkiStatus.FAILURE, info)


async def _answer(request: web.Request, msg: PkiMessage, credentials: list[RaCredential]
                  ) -> tuple[CertRep, RaCredential]:
    """The CertRep for a parsed message, and the RA credential to sign it with."""
    current = credentials[0]
    if not msg.digest_supported:
        return _failure(FailInfo.badAlg), current
    if not msg.signature_valid:
        return _failure(FailInfo.badMessageCheck), current
    kind = msg.known_type
    if kind is None or kind is MessageType.CertRep or msg.problem or msg.envelope is None:
        return _failure(FailInfo.badRequest), current
    opened = await _open(request, msg.envelope, credentials)
    if isinstance(opened, CertRep):
        return opened, current
    ra = _credential_of(opened.recipient, credentials)
    try:
        der.check(opened.content)  # the CSR or IssuerAndSerialNumber, bounded before anything parses it
    except der.DerError:
        return _failure(FailInfo.badRequest), ra
    st = request.config_dict[SCEP]
    endpoint_id = request.match_info["endpoint"]
    service = st.service

    if kind in (MessageType.PKCSReq, MessageType.RenewalReq):
        source = request.remote
        try:
            outcome = await service.enrol(Enrolment(endpoint_id, msg.transaction_id, opened.content, msg.signer,
                                                    renewal_only=kind is MessageType.RenewalReq, source=source,
                                                    challenge_blocked=st.limiter.blocked(source)))
        except GatewayError as err:
            if err.kind is ErrorKind.UNAUTHENTICATED:
                st.limiter.failed(source)
            raise
    elif kind is MessageType.CertPoll:
        outcome = await service.poll(endpoint_id, msg.transaction_id, msg.signer)
    elif kind is MessageType.GetCert:
        issuer, serial = _issuer_and_serial(opened.content)
        certificate = await service.get_cert(endpoint_id, issuer, serial, msg.signer)
        outcome = ScepIssued(certificate)
    else:  # GetCRL
        issuer, _ = _issuer_and_serial(opened.content)
        crl = await service.get_crl(endpoint_id, issuer)
        return await asyncio.to_thread(_success, degenerate.crls_only(crl), msg, opened), ra

    if isinstance(outcome, ScepIssued):
        cert = x509.load_pem_x509_certificate(outcome.certificate.certificate_pem.encode())
        return await asyncio.to_thread(_success, degenerate.certificates_only([cert]), msg, opened), ra
    return CertRep(PkiStatus.PENDING), ra


async def _open(request: web.Request, data: bytes, credentials: list[RaCredential]
                ) -> envelope.Opened | CertRep:
    recipients = [envelope.Recipient(c.certificate, c.key) for c in credentials]
    try:
        return await asyncio.to_thread(envelope.open_envelope, data, recipients)
    except envelope.EnvelopeError as exc:
        if exc.bad_alg:
            return _failure(FailInfo.badAlg)
        if not exc.addressed_elsewhere:
            return _failure(FailInfo.badMessageCheck)
    # Perhaps an RA certificate another instance made just now: read them again, once.
    fresh = await _credentials(request, refresh=True)
    try:
        return envelope.open_envelope(data, [envelope.Recipient(c.certificate, c.key) for c in fresh])
    except envelope.EnvelopeError as exc:
        return _failure(FailInfo.badAlg if exc.bad_alg else FailInfo.badMessageCheck)


def _credential_of(recipient: envelope.Recipient, credentials: list[RaCredential]) -> RaCredential:
    for c in credentials:
        if c.certificate == recipient.certificate:
            return c
    return RaCredential(recipient.certificate, recipient.key, credentials[0].ca)


def _success(content: bytes, msg: PkiMessage, opened: envelope.Opened) -> CertRep:
    try:
        sealed = envelope.seal(content, msg.signer, opened.content_cipher)
    except envelope.EnvelopeError:
        return _failure(FailInfo.badAlg)  # the requester's certificate has no RSA key to encrypt to
    return CertRep(PkiStatus.SUCCESS, envelope=sealed)


def _issuer_and_serial(content: bytes) -> tuple[bytes, int]:
    """GetCert and GetCRL carry an IssuerAndSerialNumber (§3.3.4, §3.3.5): the issuer's Name DER and the serial."""
    try:
        der.check(content)
        parsed = cms.IssuerAndSerialNumber.load(content, strict=True)
        return parsed["issuer"].dump(), parsed["serial_number"].native
    except (ValueError, TypeError, KeyError, der.DerError):
        raise GatewayError(ErrorKind.MALFORMED, "the message does not hold an IssuerAndSerialNumber") from None
