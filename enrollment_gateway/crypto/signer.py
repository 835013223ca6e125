"""The signer seam: everything that signs for a CA goes through here, so an HSM or KMS can slot in later."""

from __future__ import annotations

from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PublicKeyTypes
from cryptography.x509 import ocsp

from ..algorithms import HashAlgorithm, KeyAlgorithm

_HASHES = {HashAlgorithm.SHA256: hashes.SHA256, HashAlgorithm.SHA384: hashes.SHA384, HashAlgorithm.SHA512: hashes.SHA512}


def hash_for(key_algorithm: KeyAlgorithm, hash_algorithm: HashAlgorithm | None) -> hashes.HashAlgorithm | None:
    """The cryptography hash object to pass to `.sign()`: None for Ed25519 and ML-DSA, which hash internally."""
    if not key_algorithm.takes_hash:
        return None
    from ..algorithms import default_hash_for

    return _HASHES[hash_algorithm or default_hash_for(key_algorithm)]()


class Signer(Protocol):
    key_algorithm: KeyAlgorithm
    hash_algorithm: HashAlgorithm | None

    def public_key(self) -> PublicKeyTypes: ...

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate: ...

    def sign_csr(self, builder: x509.CertificateSigningRequestBuilder) -> x509.CertificateSigningRequest: ...

    def sign_crl(self, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList: ...

    def sign_ocsp(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse: ...


class LocalSigner:
    """A signer over a private key held in this process (decrypted from the key store at start)."""

    def __init__(
        self,
        private_key: CertificateIssuerPrivateKeyTypes,
        key_algorithm: KeyAlgorithm,
        hash_algorithm: HashAlgorithm | None = None,
    ) -> None:
        self._key = private_key
        self.key_algorithm = key_algorithm
        self.hash_algorithm = hash_algorithm

    @property
    def _hash(self) -> hashes.HashAlgorithm | None:
        return hash_for(self.key_algorithm, self.hash_algorithm)

    def public_key(self) -> PublicKeyTypes:
        return self._key.public_key()

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return builder.sign(self._key, self._hash)

    def sign_csr(self, builder: x509.CertificateSigningRequestBuilder) -> x509.CertificateSigningRequest:
        return builder.sign(self._key, self._hash)

    def sign_crl(self, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList:
        return builder.sign(self._key, self._hash)

    def sign_ocsp(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        return builder.sign(self._key, self._hash)
