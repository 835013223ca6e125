"""Key generation, naming, serialisation and fingerprints for every KeyAlgorithm the gateway issues with."""

from __future__ import annotations

import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, mldsa, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from ..algorithms import KeyAlgorithm
from ..errors import ErrorKind, GatewayError

# The one public exponent we generate and the BRs (§6.1.6) expect; other exponents still parse and are named.
_RSA_EXPONENT = 65537
_RSA_SIZES = {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}
_CURVES: dict[KeyAlgorithm, type[ec.EllipticCurve]] = {
    KeyAlgorithm.ECDSA_P256: ec.SECP256R1,
    KeyAlgorithm.ECDSA_P384: ec.SECP384R1,
    KeyAlgorithm.ECDSA_P521: ec.SECP521R1,
}
_CURVE_ALGORITHMS = {curve.name: alg for alg, curve in _CURVES.items()}
_MLDSA_PRIVATE = {
    KeyAlgorithm.ML_DSA_44: mldsa.MLDSA44PrivateKey,
    KeyAlgorithm.ML_DSA_65: mldsa.MLDSA65PrivateKey,
    KeyAlgorithm.ML_DSA_87: mldsa.MLDSA87PrivateKey,
}
_MLDSA_PUBLIC = {
    mldsa.MLDSA44PublicKey: KeyAlgorithm.ML_DSA_44,
    mldsa.MLDSA65PublicKey: KeyAlgorithm.ML_DSA_65,
    mldsa.MLDSA87PublicKey: KeyAlgorithm.ML_DSA_87,
}
MIN_RSA_BITS = 2048  # NIST SP 800-131A and BRs §6.1.5: nothing weaker is accepted for any use


def generate_private_key(alg: KeyAlgorithm) -> PrivateKeyTypes:
    """A fresh private key of `alg` (server-generated keys and CA keys)."""
    alg = KeyAlgorithm(alg)
    if alg in _RSA_SIZES:
        return rsa.generate_private_key(public_exponent=_RSA_EXPONENT, key_size=_RSA_SIZES[alg])
    if alg in _CURVES:
        return ec.generate_private_key(_CURVES[alg]())
    if alg is KeyAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if alg in _MLDSA_PRIVATE:
        return _MLDSA_PRIVATE[alg].generate()
    raise GatewayError(ErrorKind.INTERNAL, f"no generator for key algorithm {alg.value}")  # pragma: no cover


def key_algorithm_name(public_key: PublicKeyTypes) -> str:
    """A KeyAlgorithm value when the key is one we support, else a descriptive name (RSA_1024, ED448, …).

    Policy messages quote this name, so an unsupported key is reported as what it is rather than "unknown".
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA_{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        known = _CURVE_ALGORITHMS.get(public_key.curve.name)
        return known.value if known else f"ECDSA_{public_key.curve.name.upper()}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeyAlgorithm.ED25519.value
    for cls, alg in _MLDSA_PUBLIC.items():
        if isinstance(public_key, cls):
            return alg.value
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "ED448"
    if isinstance(public_key, dsa.DSAPublicKey):
        return f"DSA_{public_key.key_size}"
    if isinstance(public_key, x25519.X25519PublicKey):
        return "X25519"
    if isinstance(public_key, x448.X448PublicKey):
        return "X448"
    return type(public_key).__name__.upper()


def key_algorithm_of(public_key: PublicKeyTypes) -> KeyAlgorithm:
    """The KeyAlgorithm of `public_key`; BAD_PUBLIC_KEY when the gateway does not certify keys of that kind."""
    name = key_algorithm_name(public_key)
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise GatewayError(
            ErrorKind.BAD_PUBLIC_KEY, f"RSA keys must be at least {MIN_RSA_BITS} bits, got {public_key.key_size}"
        )
    try:
        return KeyAlgorithm(name)
    except ValueError:
        raise GatewayError(ErrorKind.BAD_PUBLIC_KEY, f"unsupported key algorithm {name}") from None


def private_key_to_pem(key: PrivateKeyTypes) -> bytes:
    """PKCS#8 PEM, unencrypted: callers that store it wrap it with the KeyEncryptionKey (kek.py)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pem_or_der: bytes | str, password: bytes | None = None) -> PrivateKeyTypes:
    """A private key from PEM (any header cryptography knows) or DER; MALFORMED on anything else."""
    data = pem_or_der.encode("ascii", "replace") if isinstance(pem_or_der, str) else bytes(pem_or_der)
    # DER is passed on untouched: its last byte may legitimately be 0x0a or 0x20, which strip() would eat.
    is_pem = data.lstrip().startswith(b"-----")
    loader = serialization.load_pem_private_key if is_pem else serialization.load_der_private_key
    try:
        return loader(data.strip() if is_pem else data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        # TypeError: password given for an unencrypted key or missing for an encrypted one.
        raise GatewayError(ErrorKind.MALFORMED, f"cannot load private key: {e}") from None


def public_key_der(public_key: PublicKeyTypes) -> bytes:
    """The SubjectPublicKeyInfo DER of `public_key`."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_fingerprint(public_key: PublicKeyTypes) -> bytes:
    """SHA-256 of the SubjectPublicKeyInfo DER: equal keys give equal fingerprints whatever wrapped them."""
    return hashlib.sha256(public_key_der(public_key)).digest()
