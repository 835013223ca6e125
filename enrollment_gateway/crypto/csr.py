"""PKCS#10 certificate signing requests (RFC 2986): decode, verify the self-signature, pull out what policy needs."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import AttributeOID, ExtensionOID

from ..errors import ErrorKind, GatewayError
from .keys import key_algorithm_name
from .names import general_names_to_pairs, name_pairs

DEFAULT_MAX_SIZE = 64 * 1024  # a 4096-bit RSA or ML-DSA-87 CSR with many SANs is well under this

# "NEW CERTIFICATE REQUEST" is what Netscape-era tools and some Windows clients still write.
_PEM_BLOCK = re.compile(
    rb"-----BEGIN (NEW )?CERTIFICATE REQUEST-----(?P<body>[A-Za-z0-9+/=\s]*?)-----END (NEW )?CERTIFICATE REQUEST-----"
)
_WHITESPACE = re.compile(rb"\s+")

# ASN.1 universal tags a DirectoryString (the challengePassword syntax, RFC 2985 §5.4.1) may carry.
_BMP_STRING, _UNIVERSAL_STRING = 30, 28

# What cryptography raises on malformed input; several x509 exceptions do not derive from ValueError.
_DECODE_ERRORS = (
    ValueError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@dataclass(frozen=True)
class ParsedCSR:
    """A CSR whose signature verified, with what policy and issuance read from it."""

    csr: x509.CertificateSigningRequest
    subject: tuple[tuple[str, str], ...]
    sans: tuple[tuple[str, str], ...]
    public_key: PublicKeyTypes
    key_algorithm: str  # key_algorithm_name(); may be unsupported (policy reports it)
    challenge_password: str | None  # PKCS#9 challengePassword attribute if present (SCEP uses it)
    # Every extension the CSR asks for besides subjectAltName (read into `sans`); the core honours or refuses each.
    extension_requests: tuple[x509.Extension, ...] = ()

    @property
    def der(self) -> bytes:
        return self.csr.public_bytes(Encoding.DER)


def _bad(detail: str) -> GatewayError:
    return GatewayError(ErrorKind.BAD_CSR, detail)


def _to_der(data: bytes) -> bytes:
    """DER from PEM, raw DER, or base64 DER without headers (EST's application/pkcs10 body, RFC 7030 §4.2.1)."""
    if data.lstrip()[:1] == b"\x30":
        # A DER SEQUENCE (base64 of one starts with "MI", never 0x30). Only leading space is dropped: a trailing
        # 0x0a or 0x20 may be the last byte of the signature.
        return data.lstrip()
    stripped = data.strip()
    if b"-----BEGIN" in stripped:
        match = _PEM_BLOCK.search(stripped)
        if match is None:
            raise _bad("PEM input holds no CERTIFICATE REQUEST block")
        body = match.group("body")
    else:
        body = stripped
    try:
        return base64.b64decode(_WHITESPACE.sub(b"", body), validate=True)
    except (binascii.Error, ValueError):
        raise _bad("CSR is neither PEM, DER nor base64-encoded DER") from None


def _challenge_password(csr: x509.CertificateSigningRequest) -> str | None:
    try:
        attribute = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD)
    except x509.AttributeNotFound:
        return None
    except _DECODE_ERRORS as e:
        raise _bad(f"cannot parse CSR attributes: {e}") from None
    raw = attribute.value
    try:
        if attribute._type == _BMP_STRING:
            return raw.decode("utf-16-be")
        if attribute._type == _UNIVERSAL_STRING:
            return raw.decode("utf-32-be")
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("challengePassword attribute is not valid text") from None


def parse_csr(data: bytes | str, max_size: int = DEFAULT_MAX_SIZE) -> ParsedCSR:
    """Decode a CSR and verify its self-signature (RFC 2986).

    Every failure is a GatewayError, never a cryptography exception: BAD_CSR, or BAD_PUBLIC_KEY for a key type
    cryptography cannot load. A loadable but unsupported key (RSA-1024, Ed448) parses: policy names and refuses it.
    """
    if isinstance(data, str):
        try:
            data = data.encode("ascii")
        except UnicodeEncodeError:
            raise _bad("CSR text must be ASCII (PEM or base64)") from None
    if len(data) > max_size:
        raise _bad(f"CSR is larger than {max_size} bytes")
    if not data.strip():
        raise _bad("CSR is empty")
    der = _to_der(data)
    try:
        csr = x509.load_der_x509_csr(der)
    except _DECODE_ERRORS as e:
        raise _bad(f"cannot decode CSR: {e}") from None

    try:
        public_key = csr.public_key()
    except UnsupportedAlgorithm as e:
        # A key type cryptography does not know (GOST, SM2, …): we cannot even check the self-signature.
        raise GatewayError(ErrorKind.BAD_PUBLIC_KEY, f"unsupported public key in CSR: {e}") from None
    except _DECODE_ERRORS as e:
        raise _bad(f"cannot decode CSR public key: {e}") from None
    try:
        signature_ok = csr.is_signature_valid
    except _DECODE_ERRORS as e:
        raise _bad(f"cannot verify CSR signature: {e}") from None
    if not signature_ok:
        # RFC 2986 §3: the signature proves possession of the private key; without it anyone's key could be certified.
        raise _bad("CSR signature does not verify")

    try:
        subject = name_pairs(csr.subject)
        requested = tuple(csr.extensions)
        san_ext = next((e for e in requested if e.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME), None)
        sans = general_names_to_pairs(san_ext.value) if san_ext is not None else ()
    except _DECODE_ERRORS as e:
        # Duplicate or undecodable extensions and malformed names all land here.
        raise _bad(f"cannot parse CSR subject or extensions: {e}") from None

    return ParsedCSR(
        csr=csr,
        subject=subject,
        sans=sans,
        public_key=public_key,
        key_algorithm=key_algorithm_name(public_key),
        challenge_password=_challenge_password(csr),
        extension_requests=tuple(e for e in requested if e.oid != ExtensionOID.SUBJECT_ALTERNATIVE_NAME),
    )
