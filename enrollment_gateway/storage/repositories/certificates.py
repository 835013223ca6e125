"""Issued certificates: the hot insert of issuance, listings that stay fast at millions of rows, revocation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Collection, Mapping

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy import text as sql

from ...domain import Certificate, CertificateStatus, RevocationReason
from .. import tables as t
from ._base import Repository, conflicts

c = t.certificates.c
m = t.certificate_metadata.c

SELF_SIGNED = "self"  # issuer_key of self-signed certificates (see tables.certificates)
_HOLD = RevocationReason.CERTIFICATE_HOLD.value
_CHAIN_BOUND = 64  # renewal_chain stops after this many steps each way

# Everything the dataclass needs, and not the managed key blob, which only managed_key_blob() reads.
_COLUMNS = [col for col in t.certificates.c if col.name not in ("managed_key_blob", "issuer_key", "search_text")]
_SELECT = select(*_COLUMNS, c.managed_key_blob.is_not(None).label("has_managed_key"))
_NEWEST_FIRST = (c.created_at.desc(), c.id.desc())
_INSERT = insert(t.certificates)  # built once: issuance's hot path (its cache key is memoised)


@dataclass(frozen=True)
class CertificateFilter:
    """What a certificate listing asks for; every field narrows the result.

    `now` decides active vs expired. `expiring_before` is only `not_after < expiring_before`: combine it with
    `status=ACTIVE` for "expiring soon". `text` matches case-insensitively inside the CN or any SAN.
    `metadata` pairs must all match exactly. `application_ids=None` means every application; an empty
    collection means none.
    """

    now: dt.datetime
    application_ids: Collection[str] | None = None
    status: CertificateStatus | None = None
    profile_id: str | None = None
    text: str | None = None
    expiring_before: dt.datetime | None = None
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RevokedEntry:
    """One revoked certificate as a CRL needs it."""

    serial: int
    revoked_at: dt.datetime
    reason: str
    invalidity_date: dt.datetime | None
    not_after: dt.datetime


def search_text(cert: Certificate) -> str:
    """The lower-cased CN and SANs, one per line, that the `text` filter searches."""
    parts = [cert.common_name] if cert.common_name else []
    parts.extend(cert.sans)
    return "\n".join(parts).lower()


def _certificate(r: Mapping[str, Any]) -> Certificate:
    return Certificate(
        id=r["id"],
        serial=r["serial"],
        ca_id=r["ca_id"],
        application_id=r["application_id"],
        profile_id=r["profile_id"],
        request_id=r["request_id"],
        subject=r["subject"],
        common_name=r["common_name"],
        sans=tuple(r["sans"]),
        not_before=r["not_before"],
        not_after=r["not_after"],
        key_algorithm=r["key_algorithm"],
        signature_algorithm=r["signature_algorithm"],
        fingerprint_sha256=r["fingerprint_sha256"],
        certificate_pem=r["certificate_pem"],
        chain_pem=r["chain_pem"],
        metadata=r["metadata"],
        created_at=r["created_at"],
        has_managed_key=bool(r["has_managed_key"]),
        revoked_at=r["revoked_at"],
        revocation_reason=r["revocation_reason"],
        invalidity_date=r["invalidity_date"],
        replaces_id=r["replaces_id"],
        is_ca=r["is_ca"],
    )


_FEW_MATCHES = 2000  # up to this many trigram hits, the listing is narrowed to them (SQLite only)
_FTS_MATCH = sql("SELECT certificate_id FROM certificate_search WHERE certificate_search MATCH :phrase LIMIT :cap")


def _where(f: CertificateFilter) -> list[Any]:
    where: list[Any] = []
    if f.application_ids is not None:
        where.append(c.application_id.in_(list(f.application_ids)))
    if f.status is CertificateStatus.REVOKED:
        where.append(c.revoked_at.is_not(None))
    elif f.status is CertificateStatus.ACTIVE:
        where.extend([c.revoked_at.is_(None), c.not_after > f.now])
    elif f.status is CertificateStatus.EXPIRED:
        where.extend([c.revoked_at.is_(None), c.not_after <= f.now])
    if f.profile_id is not None:
        where.append(c.profile_id == f.profile_id)
    if f.text:
        # LIKE with the wildcards in the text escaped; the pg_trgm index serves it on PostgreSQL.
        where.append(c.search_text.contains(f.text.lower(), autoescape=True))
    if f.expiring_before is not None:
        where.append(c.not_after < f.expiring_before)
    for key, value in f.metadata[1:]:  # the first pair drives the query (see CertificateRepository.list)
        where.append(c.id.in_(select(m.certificate_id).where(m.key == key, m.value == value)))
    return where


class CertificateRepository(Repository):
    async def add(self, cert: Certificate, managed_key_blob: bytes | None = None) -> None:
        """Insert an issued certificate; CONFLICT if its issuer already used the serial."""
        row = {
            "id": cert.id,
            "issuer_key": cert.ca_id or SELF_SIGNED,
            "serial": cert.serial,
            "ca_id": cert.ca_id,
            "application_id": cert.application_id,
            "profile_id": cert.profile_id,
            "request_id": cert.request_id,
            "subject": cert.subject,
            "common_name": cert.common_name,
            "sans": list(cert.sans),
            "search_text": search_text(cert),
            "not_before": cert.not_before,
            "not_after": cert.not_after,
            "key_algorithm": cert.key_algorithm,
            "signature_algorithm": cert.signature_algorithm,
            "fingerprint_sha256": cert.fingerprint_sha256,
            "certificate_pem": cert.certificate_pem,
            "chain_pem": cert.chain_pem,
            "metadata": dict(cert.metadata),
            "created_at": cert.created_at,
            "managed_key_blob": managed_key_blob,
            "revoked_at": cert.revoked_at,
            "revocation_reason": cert.revocation_reason,
            "invalidity_date": cert.invalidity_date,
            "replaces_id": cert.replaces_id,
            "is_ca": cert.is_ca,
        }
        with conflicts(f"certificate with serial {cert.serial:x} from this issuer"):
            await self._conn.execute(_INSERT, row)
        await self._insert_metadata(cert.id, cert.created_at, cert.metadata)

    async def get(self, id: str) -> Certificate | None:
        row = (await self._conn.execute(_SELECT.where(c.id == id))).first()
        return None if row is None else _certificate(row._mapping)

    async def get_by_serial(self, ca_id: str | None, serial: int) -> Certificate | None:
        """By issuer and serial; `ca_id=None` looks among self-signed certificates."""
        query = _SELECT.where(c.issuer_key == (ca_id or SELF_SIGNED), c.serial == serial)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _certificate(row._mapping)

    async def list(self, f: CertificateFilter, limit: int, offset: int = 0) -> list[Certificate]:
        """One page, newest first (created_at, then id, descending)."""
        if f.application_ids is not None and not f.application_ids:
            return []
        if f.metadata:
            # Walk the (key, value, created_at, certificate_id) index newest first and join each hit: a page
            # costs the same whether the pair is rare or common. Its created_at equals the certificate's.
            key, value = f.metadata[0]
            on = and_(m.certificate_id == c.id, m.key == key, m.value == value)
            query = _SELECT.where(*_where(f)).join_from(t.certificates, t.certificate_metadata, on)
            query = query.order_by(m.created_at.desc(), m.certificate_id.desc()).limit(limit).offset(offset)
        else:
            # The page's ids first, from the indexes alone, then only those rows: where the database has to
            # sort (an expiry range) or filter (a substring) many entries, it handles narrow index entries,
            # never rows that each carry two PEMs.
            where = _where(f)
            if f.text and self._dialect == "sqlite":
                where.extend(await self._few_text_matches(f.text))
            page = select(c.id).where(*where).order_by(*_NEWEST_FIRST).limit(limit).offset(offset)
            query = _SELECT.where(c.id.in_(page)).order_by(*_NEWEST_FIRST)
        return [_certificate(r._mapping) for r in await self._conn.execute(query)]

    async def _few_text_matches(self, substring: str) -> list[Any]:
        """SQLite: an extra condition naming the matching ids when the substring is rare (migration 0005).

        A common substring fills a page within the first index entries of the scan; a rare or absent one would
        scan them all, so it is looked up in the trigram index instead (3 characters at least, as trigrams are).
        """
        needle = substring.lower()
        if len(needle) < 3:
            return []
        phrase = 'search_text:"' + needle.replace('"', '""') + '"'
        rows = await self._conn.execute(_FTS_MATCH, {"phrase": phrase, "cap": _FEW_MATCHES + 1})
        ids = [r[0] for r in rows]
        return [] if len(ids) > _FEW_MATCHES else [c.id.in_(ids)]

    async def update_metadata(self, id: str, metadata: Mapping[str, str]) -> bool:
        """Replace the certificate's metadata; False if there is no such certificate."""
        created_at = (await self._conn.execute(select(c.created_at).where(c.id == id))).scalar()
        if created_at is None:
            return False
        await self._conn.execute(update(t.certificates).where(c.id == id).values(metadata=dict(metadata)))
        await self._conn.execute(delete(t.certificate_metadata).where(m.certificate_id == id))
        await self._insert_metadata(id, created_at, metadata)
        return True

    async def mark_revoked(
        self, id: str, at: dt.datetime, reason: str, invalidity_date: dt.datetime | None = None
    ) -> bool:
        """Revoke; False if there is no such certificate or it is already revoked.

        A certificate on hold may be revoked again with a final reason (RFC 5280 §5.3.1 allows a hold to
        become a permanent revocation); the revocation time then becomes `at`.
        """
        still_open = c.revoked_at.is_(None)
        if reason != _HOLD:
            still_open = still_open | (c.revocation_reason == _HOLD)
        result = await self._conn.execute(
            update(t.certificates)
            .where(c.id == id, still_open)
            .values(revoked_at=at, revocation_reason=reason, invalidity_date=invalidity_date)
        )
        return result.rowcount > 0

    async def clear_revocation(self, id: str) -> bool:
        """Release a hold; False unless the certificate is on hold (other revocations are final)."""
        result = await self._conn.execute(
            update(t.certificates)
            .where(c.id == id, c.revocation_reason == _HOLD)
            .values(revoked_at=None, revocation_reason=None, invalidity_date=None)
        )
        return result.rowcount > 0

    async def delete(self, id: str) -> bool:
        await self._conn.execute(delete(t.certificate_metadata).where(m.certificate_id == id))
        result = await self._conn.execute(delete(t.certificates).where(c.id == id))
        return result.rowcount > 0

    async def managed_key_blob(self, id: str) -> bytes | None:
        blob = (await self._conn.execute(select(c.managed_key_blob).where(c.id == id))).scalar()
        return None if blob is None else bytes(blob)

    async def latest_active(self, application_id: str, profile_id: str, now: dt.datetime) -> Certificate | None:
        """The newest unrevoked, unexpired certificate of this application and profile."""
        query = (
            _SELECT.where(
                c.application_id == application_id,
                c.profile_id == profile_id,
                c.revoked_at.is_(None),
                c.not_after > now,
            )
            .order_by(*_NEWEST_FIRST)
            .limit(1)
        )
        row = (await self._conn.execute(query)).first()
        return None if row is None else _certificate(row._mapping)

    async def renewal_chain(self, id: str) -> list[str]:
        """Ids linked to `id` by replaces_id, oldest first, `id` included; empty if `id` does not exist.

        Walks at most 64 steps each way, so a corrupted (cyclic) chain cannot loop.
        """
        if (await self._conn.execute(select(c.id).where(c.id == id))).first() is None:
            return []
        seen = {id}
        older: list[str] = []
        current: str | None = id
        for _ in range(_CHAIN_BOUND):
            current = (await self._conn.execute(select(c.replaces_id).where(c.id == current))).scalar()
            if current is None or current in seen:
                break
            seen.add(current)
            older.append(current)
        newer: list[str] = []
        frontier = [id]
        for _ in range(_CHAIN_BOUND):
            query = select(c.id).where(c.replaces_id.in_(frontier)).order_by(c.created_at, c.id)
            frontier = [i for i in (await self._conn.execute(query)).scalars() if i not in seen]
            if not frontier:
                break
            seen.update(frontier)
            newer.extend(frontier)
        return [*reversed(older), id, *newer]

    async def revoked_for_ca(self, ca_id: str, not_after_since: dt.datetime) -> list[RevokedEntry]:
        """The CA's revoked certificates that have not expired before `not_after_since`, for its CRL."""
        query = (
            select(c.serial, c.revoked_at, c.revocation_reason, c.invalidity_date, c.not_after)
            .where(c.issuer_key == ca_id, c.revoked_at.is_not(None), c.not_after >= not_after_since)
            .order_by(c.revoked_at, c.serial)
        )
        return [
            RevokedEntry(
                serial=r.serial,
                revoked_at=r.revoked_at,
                reason=r.revocation_reason or RevocationReason.UNSPECIFIED.value,
                invalidity_date=r.invalidity_date,
                not_after=r.not_after,
            )
            for r in await self._conn.execute(query)
        ]

    async def count_for_ca(self, ca_id: str) -> int:
        query = select(func.count()).select_from(t.certificates).where(c.issuer_key == ca_id)
        return int((await self._conn.execute(query)).scalar_one())

    async def _insert_metadata(self, id: str, created_at: dt.datetime, metadata: Mapping[str, str]) -> None:
        if metadata:
            # One executemany for all pairs: a single round trip on either driver.
            rows = [
                {"certificate_id": id, "key": k, "value": v, "created_at": created_at} for k, v in metadata.items()
            ]
            await self._conn.execute(insert(t.certificate_metadata), rows)
