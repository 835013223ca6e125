"""Hand certificates out: PEM bundles, PKCS#12 files, fingerprints and a readable description for the API."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import SignatureAlgorithmOID

from ..algorithms import EXTENDED_KEY_USAGES, KEY_USAGES, SignatureAlgorithm
from ..errors import ErrorKind, GatewayError
from .keys import key_algorithm_name, private_key_to_pem
from .names import format_san, general_names_to_pairs

_SIGNATURE_ALGORITHMS = {
    SignatureAlgorithmOID.RSA_WITH_SHA256: SignatureAlgorithm.RSA_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384: SignatureAlgorithm.RSA_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512: SignatureAlgorithm.RSA_SHA512,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: SignatureAlgorithm.ECDSA_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: SignatureAlgorithm.ECDSA_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: SignatureAlgorithm.ECDSA_SHA512,
    SignatureAlgorithmOID.ED25519: SignatureAlgorithm.ED25519,
    SignatureAlgorithmOID.ML_DSA_44: SignatureAlgorithm.ML_DSA_44,
    SignatureAlgorithmOID.ML_DSA_65: SignatureAlgorithm.ML_DSA_65,
    SignatureAlgorithmOID.ML_DSA_87: SignatureAlgorithm.ML_DSA_87,
}
_EKU_NAMES = {dotted: name for name, dotted in EXTENDED_KEY_USAGES.items()}

# PKCS#12 protection OpenSSL 3.0 reads without the legacy provider: PBES2 with AES-256-CBC and an HMAC-SHA256
# MAC. The pre-2019 default (RC2/3DES with SHA-1) needs `-legacy` on OpenSSL 3 and is refused by macOS keychains.
_PKCS12_KDF_ROUNDS = 50_000


def signature_algorithm_name(
    obj: x509.Certificate | x509.CertificateSigningRequest | x509.CertificateRevocationList,
) -> str:
    """The SignatureAlgorithm value of the signature on `obj`, else the OID's name (or dotted string)."""
    oid = obj.signature_algorithm_oid
    known = _SIGNATURE_ALGORITHMS.get(oid)
    if known is not None:
        return known.value
    return getattr(oid, "_name", None) or oid.dotted_string


def pem_bundle(cert: x509.Certificate, chain: Sequence[x509.Certificate], key: Any = None) -> str:
    """The leaf, then its issuers nearest first, then the PKCS#8 key if given (the order nginx and HAProxy want)."""
    parts = [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in (cert, *chain)]
    if key is not None:
        parts.append(private_key_to_pem(key).decode("ascii"))
    return "".join(parts)


def pkcs12_bundle(
    cert: x509.Certificate, chain: Sequence[x509.Certificate], key: Any, password: bytes, alias: str
) -> bytes:
    """A password-protected PKCS#12 (RFC 7292) holding key, certificate (friendlyName = alias) and chain."""
    if not password:
        raise GatewayError(ErrorKind.MALFORMED, "a PKCS#12 export needs a non-empty password")
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    try:
        return pkcs12.serialize_key_and_certificates(
            alias.encode("utf-8") if alias else None, key, cert, list(chain) or None, encryption
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise GatewayError(ErrorKind.MALFORMED, f"cannot build PKCS#12: {e}") from None


def fingerprints(cert: x509.Certificate) -> dict[str, str]:
    """SHA-256 and SHA-1 of the DER, lowercase hex without colons (SHA-1 only because tools still show it)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"sha256": hashlib.sha256(der).hexdigest(), "sha1": hashlib.sha1(der, usedforsecurity=False).hexdigest()}


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    return getattr(oid, "_name", None) or oid.dotted_string


def _uris(names: Sequence[x509.GeneralName] | None) -> list[str]:
    return [format_san(k, v) for k, v in general_names_to_pairs(names or ())]


def _extension_value(value: x509.ExtensionType) -> str:
    """A short readable rendering of the extensions we issue; others fall back to their OID name."""
    if isinstance(value, x509.BasicConstraints):
        text = f"CA:{'TRUE' if value.ca else 'FALSE'}"
        return text + (f", pathlen:{value.path_length}" if value.path_length is not None else "")
    if isinstance(value, x509.KeyUsage):
        bits = []
        for name in KEY_USAGES:
            try:
                if getattr(value, name):
                    bits.append(name)
            except ValueError:  # encipher_only/decipher_only raise unless key_agreement is set
                pass
        return ", ".join(bits)
    if isinstance(value, x509.ExtendedKeyUsage):
        return ", ".join(_EKU_NAMES.get(o.dotted_string, _oid_name(o)) for o in value)
    if isinstance(value, x509.SubjectAlternativeName):
        return ", ".join(_uris(list(value)))
    if isinstance(value, (x509.SubjectKeyIdentifier,)):
        return value.digest.hex()
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return value.key_identifier.hex() if value.key_identifier else ""
    if isinstance(value, x509.CRLDistributionPoints):
        return ", ".join(u for point in value for u in _uris(point.full_name))
    if isinstance(value, x509.AuthorityInformationAccess):
        return ", ".join(f"{_oid_name(d.access_method)}: {_uris([d.access_location])[0]}" for d in value)
    if isinstance(value, x509.CertificatePolicies):
        return ", ".join(p.policy_identifier.dotted_string for p in value)
    return _oid_name(value.oid)


def describe_certificate(cert: x509.Certificate) -> dict[str, Any]:
    """The JSON-ready summary the API's certificate details route returns."""
    try:
        key_algorithm = key_algorithm_name(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        key_algorithm = _oid_name(cert.public_key_algorithm_oid)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = _uris(list(san))
    except x509.ExtensionNotFound:
        sans = []
    extensions = [
        {
            "name": _oid_name(ext.oid),
            "oid": ext.oid.dotted_string,
            "critical": ext.critical,
            "value": _extension_value(ext.value),
        }
        for ext in cert.extensions
    ]
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sans": sans,
        "key_algorithm": key_algorithm,
        "signature_algorithm": signature_algorithm_name(cert),
        "fingerprints": fingerprints(cert),
        "extensions": extensions,
    }
