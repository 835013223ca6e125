"""The certificate inventory: find, describe, annotate, export and forget what was issued."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping

from cryptography import x509

from ..crypto import keys
from ..crypto.export import describe_certificate, pem_bundle, pkcs12_bundle
from ..crypto.kek import KeyEncryptionKey
from ..domain import Actor, Certificate, CertificateStatus, Role
from ..errors import conflict, malformed, not_found
from ..storage.repositories import CertificateFilter
from .access import require_role, visible_applications
from .audit import Auditor
from .clock import Clock
from .issuance_rules import check_metadata, managed_key_aad


@dataclass(frozen=True)
class Query:
    application_id: str | None = None
    status: CertificateStatus | None = None
    profile_id: str | None = None
    text: str | None = None
    expiring_within_days: int | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    limit: int = 50
    offset: int = 0


class Inventory:
    def __init__(self, db, kek: KeyEncryptionKey, clock: Clock, auditor: Auditor) -> None:
        self._db, self._kek, self._clock, self._audit = db, kek, clock, auditor

    async def list(self, actor: Actor, q: Query) -> list[Certificate]:
        if q.application_id is not None:
            require_role(actor, q.application_id, Role.AUDITOR)
            scope = (q.application_id,)
        else:
            scope = visible_applications(actor)
        if not 1 <= q.limit <= 500 or q.offset < 0:
            raise malformed("limit must be 1..500 and offset non-negative")
        now = self._clock.now()
        f = CertificateFilter(
            application_ids=scope, status=q.status, profile_id=q.profile_id, text=q.text or None,
            expiring_before=now + dt.timedelta(days=q.expiring_within_days) if q.expiring_within_days is not None else None,
            metadata=q.metadata, now=now,
        )
        async with self._db.transaction(readonly=True) as tx:
            return await tx.certificates.list(f, q.limit, q.offset)

    async def get(self, actor: Actor, certificate_id: str) -> Certificate:
        # Read-only: on SQLite a plain transaction would queue behind issuance for the writer's lock.
        async with self._db.transaction(readonly=True) as tx:
            cert = await tx.certificates.get(certificate_id)
        if cert is None or actor.role_in(cert.application_id) is None:
            raise not_found("certificate")
        return cert

    async def find_by_serial(self, actor: Actor, ca_id: str | None, serial: int) -> Certificate:
        """By issuer and serial (ACME revokeCert and ARI name certificates so); NOT_FOUND outside the actor's scope."""
        async with self._db.transaction(readonly=True) as tx:
            cert = await tx.certificates.get_by_serial(ca_id, serial)
        if cert is None or actor.role_in(cert.application_id) is None:
            raise not_found("certificate")
        return cert

    async def details(self, actor: Actor, certificate_id: str) -> dict:
        cert = await self.get(actor, certificate_id)
        async with self._db.transaction(readonly=True) as tx:
            chain = await tx.certificates.renewal_chain(cert.id)
        parsed = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
        return {"certificate": cert, "x509": describe_certificate(parsed), "renewal_chain": chain}

    async def update_metadata(self, actor: Actor, certificate_id: str, metadata: Mapping[str, str]) -> Certificate:
        cert = await self.get(actor, certificate_id)
        require_role(actor, cert.application_id, Role.OPERATOR)
        check_metadata(metadata)
        async with self._db.transaction() as tx:
            await tx.certificates.update_metadata(cert.id, dict(metadata))
            await self._audit.record(tx, actor, "certificate.metadata_changed", "certificate", cert.id,
                                     application_id=cert.application_id)
            return await tx.certificates.get(cert.id)

    async def delete(self, actor: Actor, certificate_id: str) -> None:
        cert = await self.get(actor, certificate_id)
        require_role(actor, cert.application_id, Role.ADMIN)
        async with self._db.transaction() as tx:
            await tx.certificates.delete(cert.id)
            await self._audit.record(tx, actor, "certificate.deleted", "certificate", cert.id,
                                     application_id=cert.application_id, serial=format(cert.serial, "x"))

    async def latest_active(self, actor: Actor, application_id: str, profile_id: str) -> Certificate:
        require_role(actor, application_id, Role.AUDITOR)
        async with self._db.transaction() as tx:
            cert = await tx.certificates.latest_active(application_id, profile_id, self._clock.now())
        if cert is None:
            raise not_found("active certificate")
        return cert

    async def export_pem(self, actor: Actor, certificate_id: str, *, include_key: bool, chain: bool = True) -> str:
        cert = await self.get(actor, certificate_id)
        key = await self._key_for_export(actor, cert, include_key, "pem")
        return pem_bundle(_x509(cert.certificate_pem), _chain(cert.chain_pem) if chain else [], key)

    async def export_pkcs12(self, actor: Actor, certificate_id: str, *, password: str, alias: str | None) -> bytes:
        if not password:
            raise malformed("a PKCS#12 export needs a password")
        cert = await self.get(actor, certificate_id)
        key = await self._key_for_export(actor, cert, True, "pkcs12")
        return pkcs12_bundle(_x509(cert.certificate_pem), _chain(cert.chain_pem), key, password.encode(),
                             alias or cert.common_name or cert.id)

    async def _key_for_export(self, actor: Actor, cert: Certificate, include_key: bool, fmt: str):
        key = None
        if include_key:
            # Handing out a private key is an operator's act, not an auditor's, and always audited.
            require_role(actor, cert.application_id, Role.OPERATOR)
            if not cert.has_managed_key:
                raise conflict("the gateway does not hold this certificate's private key (it came from a CSR)")
            async with self._db.transaction() as tx:
                blob = await tx.certificates.managed_key_blob(cert.id)
            key = keys.load_private_key(self._kek.unwrap(blob, managed_key_aad(cert.id)))
        await self._audit.record_alone(self._db, actor, "certificate.exported", "certificate", cert.id,
                                       application_id=cert.application_id, format=fmt, with_key=include_key)
        return key


def _x509(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _chain(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode()) if pem.strip() else []
