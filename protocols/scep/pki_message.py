"""pkiMessage (RFC 8894 §3.2): a CMS SignedData whose signed attributes carry the SCEP transaction.

`parse_pki_message` reads a request: the signer certificate, the SCEP attributes (messageType, transactionID,
senderNonce), the digest algorithm and the pkcsPKIEnvelope, and says whether the signature verifies. Anything
that parses far enough to name a transactionID and a signer gets a CertRep; what does not raises `Unparseable`
(HTTP 400). `cert_rep` builds the signed reply (§3.3.2) with asn1crypto and signs it with cryptography.
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
import os
from dataclasses import dataclass

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from . import der

# RFC 8894 §3.2.1: the SCEP authenticated attributes (id-VeriSign pki attributes).
MESSAGE_TYPE = "2.16.840.1.113733.1.9.2"
PKI_STATUS = "2.16.840.1.113733.1.9.3"
FAIL_INFO = "2.16.840.1.113733.1.9.4"
SENDER_NONCE = "2.16.840.1.113733.1.9.5"
RECIPIENT_NONCE = "2.16.840.1.113733.1.9.6"
TRANSACTION_ID = "2.16.840.1.113733.1.9.7"

MAX_TRANSACTION_ID = 128  # printable; real clients send a hex or base64 digest of the key
DIGESTS = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha512": hashes.SHA512, "sha224": hashes.SHA224,
           "sha384": hashes.SHA384}


class MessageType(enum.IntEnum):
    """RFC 8894 §3.2.1.2."""

    CertRep = 3
    RenewalReq = 17
    PKCSReq = 19
    CertPoll = 20  # GetCertInitial in draft-nourse
    GetCert = 21
    GetCRL = 22


class PkiStatus(str, enum.Enum):
    """RFC 8894 §3.2.1.3."""

    SUCCESS = "0"
    FAILURE = "2"
    PENDING = "3"


class FailInfo(str, enum.Enum):
    """RFC 8894 §3.2.1.4."""

    badAlg = "0"
    badMessageCheck = "1"
    badRequest = "2"
    badTime = "3"
    badCertId = "4"


class Unparseable(ValueError):
    """No CertRep can be built for this message: the answer is HTTP 400."""


@dataclass(frozen=True)
class PkiMessage:
    """A request as read off the wire; `message_type` is the raw number (unknown types are kept, then refused)."""

    message_type: int | None
    transaction_id: str
    sender_nonce: bytes
    signer: x509.Certificate
    digest_algorithm: str  # a DIGESTS name, for the reply
    envelope: bytes | None  # the pkcsPKIEnvelope (EnvelopedData DER)
    signature_valid: bool
    problem: str | None = None
    digest_supported: bool = True  # why the message cannot be processed although a CertRep can be built

    @property
    def known_type(self) -> MessageType | None:
        try:
            return MessageType(self.message_type) if self.message_type is not None else None
        except ValueError:
            return None


def _attr_values(signed_attrs: cms.CMSAttributes) -> dict[str, list]:
    out: dict[str, list] = {}
    for attr in signed_attrs:
        out.setdefault(attr["type"].dotted, []).extend(attr["values"])
    return out


def _single(values: dict[str, list], oid: str, spec):
    found = values.get(oid)
    if not found or len(found) != 1:
        return None
    value = found[0]
    try:
        return value.parse(spec).native if isinstance(value, core.Any) else value.native
    except (ValueError, TypeError):
        return None


def parse_pki_message(data: bytes) -> PkiMessage:
    """Read a pkiMessage; raises Unparseable when no CertRep can be addressed to its sender."""
    try:
        der.check(data)
    except der.DerError as exc:
        raise Unparseable(str(exc)) from None
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "signed_data":
            raise Unparseable("a pkiMessage is a CMS SignedData")
        signed = info["content"]
        signer_infos = list(signed["signer_infos"])
        certificates = [c.chosen for c in signed["certificates"] if c.name == "certificate"]
        if len(signer_infos) != 1:
            raise Unparseable("a pkiMessage has exactly one signer")
        si = signer_infos[0]
        sid = si["sid"]
        signed_attrs = si["signed_attrs"]
        if not isinstance(signed_attrs, cms.CMSAttributes) or not len(signed_attrs):
            raise Unparseable("a pkiMessage carries its SCEP attributes as signed attributes")
        values = _attr_values(signed_attrs)
        digest_name = si["digest_algorithm"]["algorithm"].native
        encap = signed["encap_content_info"]
        content = encap["content"].native if encap["content"].native is not None else None
    except Unparseable:
        raise
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise Unparseable(f"not a CMS SignedData: {exc}") from None

    transaction_id = _single(values, TRANSACTION_ID, core.PrintableString)
    if not isinstance(transaction_id, str) or not 0 < len(transaction_id) <= MAX_TRANSACTION_ID:
        raise Unparseable("the pkiMessage has no usable transactionID")
    signer = _find_signer(sid, certificates)
    if signer is None:
        raise Unparseable("the pkiMessage does not include its signer's certificate")
    nonce = _single(values, SENDER_NONCE, core.OctetString)
    raw_type = _single(values, MESSAGE_TYPE, core.PrintableString)
    try:
        message_type = int(raw_type) if isinstance(raw_type, str) and raw_type.isdigit() else None
    except ValueError:
        message_type = None

    problem = None
    if not isinstance(nonce, bytes) or len(nonce) != 16:
        problem = "the senderNonce is missing or not 16 bytes"
        nonce = nonce if isinstance(nonce, bytes) and len(nonce) <= 64 else b""
    valid = digest_name in DIGESTS and _verify(si, signed_attrs, values, content, signer, digest_name)
    if isinstance(content, bytes) and not content:
        content = None
    supported = digest_name in DIGESTS
    return PkiMessage(message_type, transaction_id, nonce, signer, digest_name if supported else "sha256", content,
                      valid, problem, supported)


def _find_signer(sid: cms.SignerIdentifier, certificates: list) -> x509.Certificate | None:
    for cert in certificates:
        try:
            if sid.name == "issuer_and_serial_number":
                match = (cert.issuer.dump() == sid.chosen["issuer"].dump()
                         and cert.serial_number == sid.chosen["serial_number"].native)
            else:
                match = cert.key_identifier == sid.chosen.native
            if match:
                return x509.load_der_x509_certificate(cert.dump())
        except (ValueError, TypeError):
            continue
    return None


def _verify(si: cms.SignerInfo, signed_attrs: cms.CMSAttributes, values: dict, content: bytes | None,
            signer: x509.Certificate, digest_name: str) -> bool:
    """CMS §5.4: messageDigest is the content's digest and the signature covers the DER SET of signed attrs."""
    algorithm = DIGESTS[digest_name]()
    digest = hashes.Hash(algorithm)
    digest.update(content or b"")
    claimed = _single(values, "1.2.840.113549.1.9.4", core.OctetString)
    if not isinstance(claimed, bytes) or not hmac.compare_digest(claimed, digest.finalize()):
        return False
    to_verify = signed_attrs.untag().dump(force=False)  # the same bytes under the SET tag (§5.4)
    signature = si["signature"].native
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, to_verify, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, to_verify, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class CertRep:
    """What the reply says (§3.3.2); `envelope` is the pkcsPKIEnvelope of a SUCCESS."""

    status: PkiStatus
    fail_info: FailInfo | None = None
    envelope: bytes | None = None


def cert_rep(reply: CertRep, request: PkiMessage, ra_certificate: x509.Certificate, ra_key: rsa.RSAPrivateKey,
             *, now: dt.datetime) -> bytes:
    """The signed CertRep for `request`: its transactionID, recipientNonce = its senderNonce, a fresh senderNonce,
    the request's digest algorithm, signed by the RA key."""
    digest_name = request.digest_algorithm
    content = reply.envelope or b""
    h = hashes.Hash(DIGESTS[digest_name]())
    h.update(content)
    attrs = [
        _attr("content_type", cms.ContentType("data")),
        _attr("signing_time", cms.Time({"utc_time": now})),
        _attr("message_digest", core.OctetString(h.finalize())),
        _attr(MESSAGE_TYPE, core.PrintableString(str(int(MessageType.CertRep)))),
        _attr(PKI_STATUS, core.PrintableString(reply.status.value)),
        _attr(TRANSACTION_ID, core.PrintableString(request.transaction_id)),
        _attr(SENDER_NONCE, core.OctetString(os.urandom(16))),
    ]
    if request.sender_nonce:
        attrs.append(_attr(RECIPIENT_NONCE, core.OctetString(request.sender_nonce)))
    if reply.status is PkiStatus.FAILURE:
        attrs.append(_attr(FAIL_INFO, core.PrintableString((reply.fail_info or FailInfo.badRequest).value)))
    signed_attrs = cms.CMSAttributes(attrs)
    signature = ra_key.sign(signed_attrs.dump(), padding.PKCS1v15(), DIGESTS[digest_name]())
    # Each part is made with the tagging its field wants, so asn1crypto does not deep-copy it to retag it (that
    # copying was most of the cost of a CertRep). The signed attributes go in as the same content octets under
    # [0] IMPLICIT (RFC 5652 §5.4).
    tagged_attrs = cms.CMSAttributes(implicit=0)
    tagged_attrs.contents = signed_attrs.contents
    ra = asn1_x509.Certificate.load(ra_certificate.public_bytes(Encoding.DER))
    tbs = ra["tbs_certificate"]
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": tbs["issuer"], "serial_number": tbs["serial_number"]})}),
        "digest_algorithm": {"algorithm": digest_name},
        "signed_attrs": tagged_attrs,
        "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
        "signature": signature,
    })
    encap = {"content_type": "data"}
    if reply.envelope:
        encap["content"] = core.OctetString(reply.envelope, explicit=0)
    signed = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [{"algorithm": digest_name}],
        "encap_content_info": encap,
        "certificates": cms.CertificateSet([cms.CertificateChoices({"certificate": ra})], implicit=0),
        "signer_infos": [signer_info],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def _attr(oid: str, value: core.Asn1Value) -> cms.CMSAttribute:
    if "." in oid:  # a SCEP attribute asn1crypto does not name: the value goes in as its DER
        return cms.CMSAttribute({"type": cms.CMSAttributeType(oid), "values": [core.Any.load(value.dump())]})
    return cms.CMSAttribute({"type": oid, "values": [value]})
