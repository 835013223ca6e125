"""Certificate authorities: create roots and intermediates, import existing ones, and hand out their signers.

CA keys are generated here, wrapped with the key-encryption key before they touch storage, and unwrapped only into
the in-memory signer cache.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ..algorithms import HashAlgorithm, KeyAlgorithm
from ..crypto import builder, keys, names
from ..crypto.kek import KeyEncryptionKey
from ..crypto.signer import LocalSigner, Signer
from ..domain import Actor, CAStatus, CertificateAuthority
from ..errors import ErrorKind, GatewayError, conflict, malformed, not_found
from ..revocation.crl import build_crl
from ..revocation.ocsp import CertID, build_response, issuer_hashes
from .access import require_superadmin
from .audit import Auditor
from .clock import Clock
from .urls import UrlBuilder


@dataclass(frozen=True)
class LoadedCA:
    """A CA ready to sign: its record, signer, certificate and the chain above it (nearest first)."""

    ca: CertificateAuthority
    signer: Signer
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def chain_pem(self) -> str:
        """This CA's certificate followed by the chain above it: what a leaf's `chain` is."""
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in (self.certificate, *self.chain))


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _load_pem_certs(text: str, what: str) -> list[x509.Certificate]:
    if not text.strip():
        return []
    try:
        return x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise malformed(f"{what} is not a PEM certificate") from None


def _ca_aad(ca_id: str) -> bytes:
    return f"ca-key:{ca_id}".encode()


class Authorities:
    """CAs: creation, import, status, and their signers.

    Cache (`_cache`, CA id -> LoadedCA): the key, certificate and chain, which never change once the certificate
    is set (upload_certificate and set_status forget the entry on this instance). The record's status in it is
    never trusted to allow signing: issuance re-reads it in the transaction that stores the certificate
    (`check_still_active`), so a CA disabled or revoked on any instance stops issuance on every instance with the
    next request; a cached status other than active is re-read on every `load`, so re-enabling is seen at once.
    """

    def __init__(self, db, kek: KeyEncryptionKey, clock: Clock, urls: UrlBuilder, auditor: Auditor) -> None:
        self._db, self._kek, self._clock, self._urls, self._audit = db, kek, clock, urls, auditor
        self._cache: dict[str, LoadedCA] = {}

    def urls_for(self, ca_id: str) -> builder.CAUrls:
        return builder.CAUrls(
            crl_url=self._urls.crl(ca_id), ocsp_url=self._urls.ocsp(ca_id), ca_issuers_url=self._urls.ca_certificate(ca_id)
        )

    # --- reading -------------------------------------------------------------------------------------------------

    async def get(self, ca_id: str) -> CertificateAuthority:
        async with self._db.transaction(readonly=True) as tx:
            ca = await tx.cas.get(ca_id)
        if ca is None:
            raise not_found("certificate authority")
        return ca

    async def list(self) -> list[CertificateAuthority]:
        async with self._db.transaction(readonly=True) as tx:
            return await tx.cas.list()

    async def load(self, ca_id: str) -> LoadedCA:
        """The CA with its signer, ready to issue; disabled and unfinished CAs are refused here."""
        loaded = await self.load_any(ca_id)
        if loaded.ca.status is not CAStatus.ACTIVE:
            self.forget(ca_id)  # perhaps re-enabled on another instance: read it again
            loaded = await self.load_any(ca_id)
        if loaded.ca.status is not CAStatus.ACTIVE:
            raise conflict(f"CA {loaded.ca.name} is {loaded.ca.status.value}")
        return loaded

    async def check_still_active(self, tx, ca_id: str) -> None:
        """In the transaction that records a certificate: is its CA still active, as the database says now?

        CONFLICT if it was disabled or revoked meanwhile, through any instance. The row is locked for share on
        PostgreSQL, so a concurrent disable waits for this issuance to commit (or the issuance sees it); on SQLite
        the writing transaction holds the database's write lock already.
        """
        status = await tx.cas.status_for_issuance(ca_id)
        if status is not CAStatus.ACTIVE:
            self.forget(ca_id)
            raise conflict(f"the CA is {status.value if status else 'gone'}; it no longer issues")

    async def load_any(self, ca_id: str) -> LoadedCA:
        """The CA with its signer whatever its status: a disabled CA still signs CRLs and OCSP for what it issued."""
        loaded = self._cache.get(ca_id)
        if loaded is None:
            async with self._db.transaction(readonly=True) as tx:
                ca = await tx.cas.get(ca_id)
                blob = await tx.cas.key_blob(ca_id) if ca else None
            if ca is None:
                raise not_found("certificate authority")
            if ca.certificate_pem is None:
                raise conflict(f"CA {ca.name} is still waiting for its certificate")
            key = keys.load_private_key(self._kek.unwrap(blob, _ca_aad(ca.id)))
            loaded = LoadedCA(
                ca=ca,
                signer=LocalSigner(key, ca.key_algorithm, ca.hash_algorithm),
                certificate=x509.load_pem_x509_certificate(ca.certificate_pem.encode()),
                chain=tuple(_load_pem_certs(ca.chain_pem, "chain")),
            )
            self._cache[ca_id] = loaded
        return loaded

    def forget(self, ca_id: str) -> None:
        """Drop a cached CA after its record changed."""
        self._cache.pop(ca_id, None)

    # --- creating ------------------------------------------------------------------------------------------------

    async def create_root(
        self,
        actor: Actor,
        *,
        name: str,
        subject: Sequence[tuple[str, str]],
        key_algorithm: KeyAlgorithm,
        hash_algorithm: HashAlgorithm | None = None,
        validity_days: int = 3650,
        path_length: int | None = None,
    ) -> CertificateAuthority:
        require_superadmin(actor)
        key = keys.generate_private_key(key_algorithm)
        signer = LocalSigner(key, key_algorithm, hash_algorithm)
        cert = builder.build_root_ca(signer, names.build_name(subject), validity_days, path_length=path_length,
                                     now=self._clock.now())
        return await self._store(actor, name, key, cert, "", None, key_algorithm, hash_algorithm, path_length,
                                 validity_days, action="ca.created")

    async def create_intermediate(
        self,
        actor: Actor,
        *,
        name: str,
        parent_id: str,
        subject: Sequence[tuple[str, str]],
        key_algorithm: KeyAlgorithm,
        hash_algorithm: HashAlgorithm | None = None,
        validity_days: int = 1825,
        path_length: int | None = 0,
    ) -> CertificateAuthority:
        require_superadmin(actor)
        parent = await self.load(parent_id)
        self._check_path_length(parent.certificate, path_length)
        key = keys.generate_private_key(key_algorithm)
        # An intermediate may not outlive the CA that signed it (RFC 5280 path validation would reject the tail).
        now = self._clock.now()
        remaining = (parent.certificate.not_valid_after_utc - now).days
        cert = builder.build_intermediate_ca(
            parent.signer, parent.certificate, key.public_key(), names.build_name(subject),
            max(1, min(validity_days, remaining)), path_length, self.urls_for(parent_id), now=now,
        )
        chain = "".join(_pem(c) for c in (parent.certificate, *parent.chain))
        return await self._store(actor, name, key, cert, chain, parent_id, key_algorithm, hash_algorithm, path_length,
                                 validity_days, action="ca.created")

    async def create_external_intermediate(
        self,
        actor: Actor,
        *,
        name: str,
        subject: Sequence[tuple[str, str]],
        key_algorithm: KeyAlgorithm,
        hash_algorithm: HashAlgorithm | None = None,
        validity_days: int = 1825,
        path_length: int | None = 0,
    ) -> CertificateAuthority:
        """Generate a key and CSR for an offline root to sign; the CA is usable once the certificate is uploaded."""
        require_superadmin(actor)
        key = keys.generate_private_key(key_algorithm)
        csr = builder.build_ca_csr(LocalSigner(key, key_algorithm, hash_algorithm), names.build_name(subject))
        ca = CertificateAuthority(
            id=uuid.uuid4().hex, name=name, key_algorithm=key_algorithm, hash_algorithm=hash_algorithm,
            status=CAStatus.AWAITING_CERTIFICATE, certificate_pem=None, chain_pem="", parent_id=None,
            path_length=path_length, validity_days=validity_days, created_at=self._clock.now(),
            csr_pem=csr.public_bytes(serialization.Encoding.PEM).decode(), external_parent=True,
        )
        blob = self._kek.wrap(keys.private_key_to_pem(key), _ca_aad(ca.id))
        async with self._db.transaction() as tx:
            if await tx.cas.get_by_name(name):
                raise conflict(f"a CA named {name!r} already exists")
            await tx.cas.add(ca, blob)
            await self._audit.record(tx, actor, "ca.csr_created", "ca", ca.id, name=name)
        return ca

    async def upload_certificate(self, actor: Actor, ca_id: str, certificate_pem: str, chain_pem: str) -> CertificateAuthority:
        """Complete an external intermediate: the certificate must carry our key and chain to the given roots."""
        require_superadmin(actor)
        certs = _load_pem_certs(certificate_pem, "certificate")
        if len(certs) != 1:
            raise malformed("certificate must hold exactly one PEM certificate")
        cert, chain = certs[0], _load_pem_certs(chain_pem, "chain")
        async with self._db.transaction() as tx:
            ca = await tx.cas.get(ca_id)
            if ca is None:
                raise not_found("certificate authority")
            if ca.status is not CAStatus.AWAITING_CERTIFICATE:
                raise conflict("this CA is not waiting for a certificate")
            key = keys.load_private_key(self._kek.unwrap(await tx.cas.key_blob(ca_id), _ca_aad(ca_id)))
            self._check_ca_certificate(cert, key, chain)
            check_status_signing(LocalSigner(key, ca.key_algorithm, ca.hash_algorithm), cert, self._clock.now())
            updated = replace(ca, certificate_pem=_pem(cert), chain_pem="".join(_pem(c) for c in chain),
                              status=CAStatus.ACTIVE)
            await tx.cas.update(updated)
            await self._audit.record(tx, actor, "ca.certificate_uploaded", "ca", ca_id, name=ca.name)
        self.forget(ca_id)
        return updated

    async def import_ca(
        self,
        actor: Actor,
        *,
        name: str,
        certificate_pem: str | None = None,
        key_pem: str | None = None,
        chain_pem: str = "",
        pkcs12_data: bytes | None = None,
        password: bytes | None = None,
        hash_algorithm: HashAlgorithm | None = None,
    ) -> CertificateAuthority:
        """Bring an existing CA (certificate and key as PEM, or one PKCS#12) under the gateway's management."""
        require_superadmin(actor)
        if pkcs12_data is not None:
            try:
                key, cert, extra = pkcs12.load_key_and_certificates(pkcs12_data, password)
            except (ValueError, TypeError):
                raise malformed("PKCS#12 could not be read (wrong password or not PKCS#12)") from None
            if key is None or cert is None:
                raise malformed("PKCS#12 must hold the CA certificate and its private key")
            chain = list(extra)
        else:
            if not certificate_pem or not key_pem:
                raise malformed("certificate_pem and key_pem are required")
            certs = _load_pem_certs(certificate_pem, "certificate")
            if len(certs) != 1:
                raise malformed("certificate_pem must hold exactly one certificate")
            cert, chain = certs[0], _load_pem_certs(chain_pem, "chain")
            key = keys.load_private_key(key_pem.encode(), password)
        self._check_ca_certificate(cert, key, chain)
        key_algorithm = keys.key_algorithm_of(cert.public_key())
        is_root = cert.issuer == cert.subject and not chain
        return await self._store(actor, name, key, cert, "".join(_pem(c) for c in chain), None, key_algorithm,
                                 hash_algorithm, _path_length(cert), 0, action="ca.imported", external=not is_root)

    async def set_status(self, actor: Actor, ca_id: str, status: CAStatus) -> CertificateAuthority:
        require_superadmin(actor)
        if status is CAStatus.AWAITING_CERTIFICATE:
            raise malformed("status must be active or disabled")
        async with self._db.transaction() as tx:
            ca = await tx.cas.get(ca_id)
            if ca is None:
                raise not_found("certificate authority")
            if ca.status is CAStatus.AWAITING_CERTIFICATE:
                raise conflict("upload the CA certificate first")
            updated = replace(ca, status=status)
            await tx.cas.update(updated)
            await self._audit.record(tx, actor, "ca.status_changed", "ca", ca_id, status=status.value)
        self.forget(ca_id)
        return updated

    # --- helpers -------------------------------------------------------------------------------------------------

    async def _store(self, actor, name, key, cert, chain_pem, parent_id, key_algorithm, hash_algorithm, path_length,
                     validity_days, *, action: str, external: bool = False) -> CertificateAuthority:
        ca = CertificateAuthority(
            id=uuid.uuid4().hex, name=name, key_algorithm=key_algorithm, hash_algorithm=hash_algorithm,
            status=CAStatus.ACTIVE, certificate_pem=_pem(cert), chain_pem=chain_pem, parent_id=parent_id,
            path_length=path_length, validity_days=validity_days, created_at=self._clock.now(),
            external_parent=external,
        )
        check_status_signing(LocalSigner(key, key_algorithm, hash_algorithm), cert, self._clock.now())
        blob = self._kek.wrap(keys.private_key_to_pem(key), _ca_aad(ca.id))
        async with self._db.transaction() as tx:
            if await tx.cas.get_by_name(name):
                raise conflict(f"a CA named {name!r} already exists")
            await tx.cas.add(ca, blob)
            await self._audit.record(tx, actor, action, "ca", ca.id, name=name, subject=cert.subject.rfc4514_string())
        return ca

    @staticmethod
    def _check_path_length(parent: x509.Certificate, child_path_length: int | None) -> None:
        parent_len = _path_length(parent)
        if parent_len is not None and (parent_len == 0 or (child_path_length is not None and child_path_length >= parent_len)):
            raise GatewayError(ErrorKind.CONFLICT, f"the parent CA's path length {parent_len} does not allow this CA")

    @staticmethod
    def _check_ca_certificate(cert: x509.Certificate, key, chain: list[x509.Certificate]) -> None:
        if not builder.certificate_matches_key(cert, key.public_key()):
            raise malformed("the certificate does not match the CA's private key")
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        if bc is None or not bc.ca:
            raise malformed("the certificate is not a CA certificate (BasicConstraints cA is not set)")
        child = cert
        for parent in chain:
            if not builder.issued_by(child, parent):
                raise malformed(f"the chain does not verify: {child.subject.rfc4514_string()} is not signed by "
                                f"{parent.subject.rfc4514_string()}")
            child = parent


def check_status_signing(signer: Signer, cert: x509.Certificate, now: dt.datetime) -> None:
    """Refuse, before it is stored, a CA that could issue but not publish status: every CA must sign its CRL
    (RFC 5280 §5) and OCSP responses (RFC 6960) and be matched by CertID hashes, or its certificates could never
    be revoked. One trial CRL and OCSP response with the CA's own signer prove it for this key and library."""
    try:
        hashes = issuer_hashes(cert, "sha1")
        build_crl(signer=signer, issuer=cert, entries=(), number=0, this_update=now,
                  next_update=now + dt.timedelta(hours=1))
        build_response(responder_signer=signer, responder_cert=cert, issuer_cert=cert,
                       cert_id=CertID("sha1", *hashes, 1), status="good", this_update=now,
                       next_update=now + dt.timedelta(hours=1), responder_is_issuer=True)
    except Exception as exc:
        raise GatewayError(ErrorKind.BAD_PUBLIC_KEY,
                           f"a CA with a {signer.key_algorithm.value} key cannot sign CRLs or OCSP responses with "
                           f"this gateway's cryptography library ({exc.__class__.__name__}); choose another key "
                           "algorithm") from None


def _path_length(cert: x509.Certificate) -> int | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    except x509.ExtensionNotFound:
        return None

