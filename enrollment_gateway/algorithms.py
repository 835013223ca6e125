"""Names for the key and signature algorithms the gateway issues with, shared by policy, signers and protocols."""

from __future__ import annotations

import enum


class KeyAlgorithm(str, enum.Enum):
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECDSA_P256 = "ECDSA_P256"
    ECDSA_P384 = "ECDSA_P384"
    ECDSA_P521 = "ECDSA_P521"
    ED25519 = "ED25519"
    ML_DSA_44 = "ML_DSA_44"
    ML_DSA_65 = "ML_DSA_65"
    ML_DSA_87 = "ML_DSA_87"

    @property
    def family(self) -> str:
        return self.value.split("_")[0] if not self.value.startswith("ML_DSA") else "ML_DSA"

    @property
    def takes_hash(self) -> bool:
        """Ed25519 and ML-DSA sign the message itself; RSA and ECDSA sign a digest we choose."""
        return self.family in ("RSA", "ECDSA")


class SignatureAlgorithm(str, enum.Enum):
    RSA_SHA256 = "RSA_SHA256"
    RSA_SHA384 = "RSA_SHA384"
    RSA_SHA512 = "RSA_SHA512"
    ECDSA_SHA256 = "ECDSA_SHA256"
    ECDSA_SHA384 = "ECDSA_SHA384"
    ECDSA_SHA512 = "ECDSA_SHA512"
    ED25519 = "ED25519"
    ML_DSA_44 = "ML_DSA_44"
    ML_DSA_65 = "ML_DSA_65"
    ML_DSA_87 = "ML_DSA_87"

    @property
    def hash_name(self) -> str | None:
        return self.value.split("_")[1] if self.value.startswith(("RSA_", "ECDSA_")) else None


class HashAlgorithm(str, enum.Enum):
    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"


def signature_algorithm_for(key: KeyAlgorithm, hash_alg: HashAlgorithm | None) -> SignatureAlgorithm:
    """The signature algorithm a key of `key` produces with `hash_alg` (ignored where the key takes no hash)."""
    if key.family == "RSA":
        return SignatureAlgorithm(f"RSA_{(hash_alg or HashAlgorithm.SHA256).value}")
    if key.family == "ECDSA":
        return SignatureAlgorithm(f"ECDSA_{(hash_alg or default_hash_for(key)).value}")
    return SignatureAlgorithm(key.value)


def default_hash_for(key: KeyAlgorithm) -> HashAlgorithm | None:
    """The digest that matches the key's strength, as the CA/B Forum BRs pair them (P-384 with SHA-384)."""
    return {
        KeyAlgorithm.ECDSA_P384: HashAlgorithm.SHA384,
        KeyAlgorithm.ECDSA_P521: HashAlgorithm.SHA512,
    }.get(key, HashAlgorithm.SHA256 if key.takes_hash else None)


# RFC 5280 §4.2.1.3 key usage bits, by the names cryptography's KeyUsage takes.
KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)

# Extended key usages by short name; values are dotted OIDs.
EXTENDED_KEY_USAGES = {
    "server_auth": "1.3.6.1.5.5.7.3.1",
    "client_auth": "1.3.6.1.5.5.7.3.2",
    "code_signing": "1.3.6.1.5.5.7.3.3",
    "email_protection": "1.3.6.1.5.5.7.3.4",
    "time_stamping": "1.3.6.1.5.5.7.3.8",
    "ocsp_signing": "1.3.6.1.5.5.7.3.9",
}
