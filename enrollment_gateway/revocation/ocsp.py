"""OCSP, RFC 6960 with the RFC 5019 lightweight profile: parse requests, build responses, mint responder certs.

Pure functions: the service looks the CertID up in storage and passes the verdict in.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from asn1crypto import core as asn1_core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..crypto.signer import Signer
from ..domain import RevocationReason

Status = Literal["good", "revoked", "unknown"]

# CertID hash algorithms we answer for (RFC 6960 §4.1.1 leaves the choice to the client; RFC 5019 §2.1.1 says
# SHA-1, RFC 6960 clients increasingly send SHA-256).
_HASH_BY_OID = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_CERT_STATUS = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
                "unknown": ocsp.OCSPCertStatus.UNKNOWN}
NONCE_MAX_OCTETS = 32  # RFC 8954 §2.1


class OCSPRequestError(Exception):
    """A request we refuse; `status` is the OCSPResponseStatus to answer with (RFC 6960 §2.3)."""

    def __init__(self, status: ocsp.OCSPResponseStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _malformed(detail: str) -> OCSPRequestError:
    return OCSPRequestError(ocsp.OCSPResponseStatus.MALFORMED_REQUEST, detail)


@dataclass(frozen=True)
class CertID:
    """RFC 6960 §4.1.1 CertID: which certificate, named by its issuer's hashes and its serial."""

    hash_algorithm: str  # "sha1" | "sha256" | "sha384" | "sha512"
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int


@dataclass(frozen=True)
class ParsedOCSPRequest:
    cert_ids: tuple[CertID, ...]
    nonce: bytes | None  # the nonce's octets (the inner OCTET STRING of the extension), RFC 8954


def parse_ocsp_request(data: bytes, max_size: int = 10_000, max_certs: int = 50) -> ParsedOCSPRequest:
    """Parse a DER OCSPRequest (RFC 6960 §4.1.1); raise OCSPRequestError(malformedRequest) on anything odd.

    asn1crypto, not cryptography: `ocsp.load_der_ocsp_request` refuses requests with more than one Request, which
    RFC 6960 allows; one parser keeps single and multi requests on the same path. A signature on the request
    (optionalSignature) is not checked: RFC 5019 §2.1.2 lets a responder ignore it.
    """
    if len(data) > max_size:
        raise _malformed(f"request of {len(data)} octets exceeds {max_size}")
    try:
        request = asn1_ocsp.OCSPRequest.load(data, strict=True)  # strict: no trailing octets
        tbs = request["tbs_request"]
        if tbs["version"].native != "v1":
            raise _malformed("unsupported request version")
        request_list = tbs["request_list"]
        if len(request_list) == 0:
            raise _malformed("request lists no certificate")
        if len(request_list) > max_certs:
            raise _malformed(f"request lists {len(request_list)} certificates, more than {max_certs}")
        cert_ids = tuple(_cert_id(item["req_cert"]) for item in request_list)
        nonce = _nonce(tbs["request_extensions"])
        request.native  # force a full parse, so truncation anywhere surfaces here
    except OCSPRequestError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError… on bad input
        raise _malformed(f"undecodable OCSP request: {exc.__class__.__name__}") from None
    return ParsedOCSPRequest(cert_ids=cert_ids, nonce=nonce)


def _cert_id(value: asn1_ocsp.CertId) -> CertID:
    name = _HASH_BY_OID.get(value["hash_algorithm"]["algorithm"].dotted)
    if name is None:
        raise _malformed("unsupported CertID hash algorithm")
    size = _HASHES[name].digest_size
    name_hash, key_hash = value["issuer_name_hash"].native, value["issuer_key_hash"].native
    if len(name_hash) != size or len(key_hash) != size:
        raise _malformed("CertID hash length does not match its algorithm")
    serial = value["serial_number"].native
    if serial < 0:
        # RFC 5280 §4.1.2.2: serials are positive; none of ours is negative, and cryptography cannot echo one.
        raise _malformed("negative serial number in CertID")
    return CertID(name, name_hash, key_hash, serial)


def _nonce(extensions: asn1_ocsp.TBSRequestExtensions) -> bytes | None:
    if not extensions:
        return None
    for extension in extensions:
        if extension["extn_id"].native == "nonce":
            nonce = extension["extn_value"].parsed.native
            # RFC 8954 §2.1: 1 to 32 octets; a responder may refuse others with malformedRequest.
            if not 1 <= len(nonce) <= NONCE_MAX_OCTETS:
                raise _malformed(f"nonce of {len(nonce)} octets (RFC 8954 allows 1 to {NONCE_MAX_OCTETS})")
            return nonce
    return None


def decode_get_path(path_tail: str, max_size: int = 10_000) -> bytes:
    """The DER request in a GET URL's path (RFC 6960 Appendix A.1, RFC 5019 §5): base64, maybe URL-encoded.

    Clients differ: some percent-encode '+', '/' and '=', some leave '+' literal; a few use the URL-safe alphabet
    or drop the padding. All decode to the same octets; '+' is never a space here (that is form encoding only).
    """
    try:
        text = unquote(path_tail.lstrip("/"), errors="strict")
    except UnicodeDecodeError:
        raise _malformed("GET request is not base64") from None
    text = text.replace(" ", "+").replace("-", "+").replace("_", "/")
    if len(text) > (max_size * 4) // 3 + 4:
        raise _malformed("GET request too long")
    text += "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("GET request is not base64") from None
    if not data:
        raise _malformed("empty GET request")
    return data


def issuer_hashes(issuer_cert: x509.Certificate, hash_name: str) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of `issuer_cert` for a CertID (RFC 6960 §4.1.1): the hash of its DER
    subject name and of its subjectPublicKey BIT STRING's value. Cheap, but a service may cache it per CA."""
    if hash_name not in _HASHES:
        raise ValueError(f"unsupported hash {hash_name!r}")
    # asn1crypto over the certificate's own octets: cryptography re-encodes Name and public key (an EC point
    # stored compressed comes back uncompressed) and does not expose the BIT STRING's value, and the hashes must
    # be of exactly what the certificate holds.
    tbs = asn1_x509.Certificate.load(issuer_cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]
    name_hash = hashlib.new(hash_name, tbs["subject"].dump()).digest()
    # The SPKI re-read as the generic RFC 5280 §4.1 shape: asn1crypto's PublicKeyInfo picks the BIT STRING's inner
    # type by algorithm OID and raises on one it does not know (ML-DSA), yet the key hash needs only the octets.
    spki = _SubjectPublicKeyInfo.load(tbs["subject_public_key_info"].dump())
    key_hash = hashlib.new(hash_name, spki["subject_public_key"].native).digest()
    return name_hash, key_hash


class _SubjectPublicKeyInfo(asn1_core.Sequence):
    """RFC 5280 §4.1 SubjectPublicKeyInfo with the algorithm left opaque, so any key algorithm reads."""

    _fields = [("algorithm", asn1_core.Any), ("subject_public_key", asn1_core.OctetBitString)]


def _same_key(public_key: CertificatePublicKeyTypes, certificate: x509.Certificate) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return public_key.public_bytes(*spki) == certificate.public_key().public_bytes(*spki)


def _utc(value: dt.datetime) -> dt.datetime:
    value = value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return value.replace(microsecond=0)


def build_response(
    *,
    responder_signer: Signer,
    responder_cert: x509.Certificate,
    issuer_cert: x509.Certificate,
    cert_id: CertID,
    status: Status,
    revoked_at: dt.datetime | None = None,
    reason: RevocationReason | None = None,
    this_update: dt.datetime,
    next_update: dt.datetime,
    nonce: bytes | None = None,
    responder_is_issuer: bool,
) -> bytes:
    """A signed, successful BasicOCSPResponse for one CertID, DER (RFC 6960 §4.2, RFC 5019 §2.2).

    The CertID is echoed with the request's own hash algorithm and hashes (add_response_by_hash), so a client
    matching on exact bytes finds it. responderID is byKey (RFC 5019 §2.2.3 prefers it: smaller, name-agnostic).
    A delegated responder's certificate is carried in `certs` so the client can check it chains to the issuer
    (RFC 6960 §4.2.2.2); a CA answering for itself needs no certificate there.
    Precondition: the service has matched `cert_id`'s issuer hashes to `issuer_cert` (see `issuer_hashes`).
    """
    if not _same_key(responder_signer.public_key(), responder_cert):
        raise ValueError("the signer's key is not the responder certificate's key")
    if responder_is_issuer and responder_cert != issuer_cert:
        raise ValueError("responder_is_issuer, but the responder certificate is not the issuer's")
    if not responder_is_issuer and responder_cert.issuer != issuer_cert.subject:
        raise ValueError("a delegated responder certificate must be issued by the CA it answers for")
    if status not in _CERT_STATUS:
        raise ValueError(f"unknown status {status!r}")
    if (status == "revoked") != (revoked_at is not None):
        raise ValueError("revoked_at is required for, and only for, status 'revoked'")
    # Like the CRL (RFC 5280 §5.3.1, BRs §7.3), an unspecified reason is left out rather than sent as 0.
    reason_flag = None
    if status == "revoked" and reason is not None and reason is not RevocationReason.UNSPECIFIED:
        reason_flag = x509.ReasonFlags[reason.value]
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=cert_id.issuer_name_hash,
        issuer_key_hash=cert_id.issuer_key_hash,
        serial_number=cert_id.serial,
        algorithm=_HASHES[cert_id.hash_algorithm](),
        cert_status=_CERT_STATUS[status],
        this_update=_utc(this_update),
        next_update=_utc(next_update),
        revocation_time=_utc(revoked_at) if revoked_at is not None else None,
        revocation_reason=reason_flag,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
    if not responder_is_issuer:
        builder = builder.certificates([responder_cert])
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return responder_signer.sign_ocsp(builder).public_bytes(serialization.Encoding.DER)


def error_response(status: ocsp.OCSPResponseStatus) -> bytes:
    """An unsigned error OCSPResponse (RFC 6960 §2.3): malformedRequest, internalError, tryLater, unauthorized…"""
    if status is ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise ValueError("a successful response needs build_response")
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def build_responder_certificate(
    *,
    ca_signer: Signer,
    ca_cert: x509.Certificate,
    responder_public_key: CertificatePublicKeyTypes,
    validity: dt.timedelta,
    now: dt.datetime,
) -> x509.Certificate:
    """A delegated OCSP responder certificate for `ca_cert` (RFC 6960 §4.2.2.2).

    id-kp-OCSPSigning in EKU makes it a designated responder; id-pkix-ocsp-nocheck (§4.2.2.2.1) tells clients
    not to ask about the responder itself, which is why its validity should be short (rotate it with
    `responder_needs_rotation`). It never outlives the CA certificate.
    """
    if not _same_key(ca_signer.public_key(), ca_cert):
        raise ValueError("the signer's key is not the CA certificate's key")
    not_before = _utc(now)
    not_after = min(not_before + validity, ca_cert.not_valid_after_utc)
    if not_after <= not_before:
        raise ValueError("the responder certificate would have no validity")
    ca_cn = [a.value for a in ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    label = str(ca_cn[0]) if ca_cn else ca_cert.subject.rfc4514_string()
    # Keep the CA's other attributes (O, C…) and name the responder after the CA; ub-common-name is 64.
    attributes = [a for a in ca_cert.subject if a.oid != NameOID.COMMON_NAME]
    subject = x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, f"{label[:50]} OCSP Responder")])
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    key_usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(responder_public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(responder_public_key), critical=False)
        .add_extension(aki, critical=False)
    )
    return ca_signer.sign_certificate(builder)


def responder_needs_rotation(cert: x509.Certificate, now: dt.datetime, before: dt.timedelta) -> bool:
    """True once `now` is within `before` of the responder certificate's notAfter (or past it)."""
    return _utc(now) >= cert.not_valid_after_utc - before
