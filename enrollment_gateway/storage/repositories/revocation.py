"""What revocation needs beyond the shared repositories: the revocation entries, cheap freshness reads.

Revocation status lives in tables of its own, read by CRLs and OCSP, and never in the inventory alone: RFC 5280
§3.3 keeps an entry on the CRL until the certificate has expired, whatever happens to the inventory row (an
admin's DELETE, a clean-up job, a hand-written SQL statement). `revoked_certificates` holds every revoked leaf:
database triggers on `certificates` (migration 0006) copy each revocation into it in the writing transaction,
whatever writes it, and remove the entry only when a hold is released; `ca_revocations` holds revoked CA
certificates the gateway made (an intermediate under a parent it holds has no row in `certificates`, which needs
an application and a profile), keyed by the revoked CA and read by its parent's CRL and OCSP. Neither has a
foreign key to what it talks about. Built from a transaction with `RevocationRepository.of(tx)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Column, Index, String, Table, delete, func, insert, select

from ...domain import RevocationReason
from .. import tables as t
from ..types import SerialNumber, UTCDateTime
from ._base import Repository, conflicts
from .certificates import RevokedEntry

ca_revocations = Table(
    "ca_revocations",
    t.metadata,
    Column("ca_id", t.ID, primary_key=True),  # the revoked CA (no FK: the record outlives a deleted CA row)
    Column("issuer_id", t.ID, nullable=False),  # the CA that signed it, whose CRL and OCSP carry it
    Column("serial", SerialNumber, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=False),
    Column("revocation_reason", String(32), nullable=False),
    Column("invalidity_date", UTCDateTime),
    Column("not_after", UTCDateTime, nullable=False),
    Index(None, "issuer_id", "serial"),
)

revoked_certificates = Table(
    "revoked_certificates",
    t.metadata,
    Column("issuer_id", t.ID, primary_key=True),  # certificates.issuer_key: the CA id ("self" when self-signed)
    Column("serial", SerialNumber, primary_key=True),
    Column("certificate_id", t.ID, nullable=False),  # no FK: the entry outlives the inventory row
    Column("revoked_at", UTCDateTime, nullable=False),
    Column("revocation_reason", String(32), nullable=False),
    Column("invalidity_date", UTCDateTime),
    Column("not_after", UTCDateTime, nullable=False),
    Index(None, "issuer_id", "not_after"),
)

# Issued certificates whose inventory row was deleted, filled by a database trigger on `certificates` (migration
# 0006) whatever deletes the row, so OCSP keeps answering `good` (never `unknown`) for what the CA did sign.
deleted_certificates = Table(
    "deleted_certificates",
    t.metadata,
    Column("issuer_id", t.ID, primary_key=True),
    Column("serial", SerialNumber, primary_key=True),
    Column("certificate_id", t.ID, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
)

# Counter names: `counters` is shared, so revocation's counters carry a prefix.
GENERATION_PREFIX = "revocations:"  # bumped in every revocation transaction of the issuing CA


def generation_counter(issuer_id: str) -> str:
    return GENERATION_PREFIX + issuer_id


@dataclass(frozen=True)
class CARevocation:
    ca_id: str
    issuer_id: str
    serial: int
    revoked_at: dt.datetime
    reason: str
    invalidity_date: dt.datetime | None
    not_after: dt.datetime


@dataclass(frozen=True)
class CRLHead:
    """The newest stored CRL of a CA without its (possibly large) DER."""

    number: int
    this_update: dt.datetime
    next_update: dt.datetime


_R = ca_revocations.c
_L = revoked_certificates.c


def _ca_revocation(r) -> CARevocation:
    return CARevocation(r.ca_id, r.issuer_id, r.serial, r.revoked_at, r.revocation_reason, r.invalidity_date,
                        r.not_after)


class RevocationRepository(Repository):
    @classmethod
    def of(cls, tx) -> "RevocationRepository":
        return cls(tx.connection, tx.dialect)

    # --- revoked leaf certificates --------------------------------------------------------------------------------

    async def revocation(self, issuer_id: str, serial: int) -> RevokedEntry | None:
        """The entry of one serial of one issuer, as OCSP needs it; None when it is not revoked."""
        query = select(revoked_certificates).where(_L.issuer_id == issuer_id, _L.serial == serial)
        row = (await self._conn.execute(query)).first()
        return None if row is None else RevokedEntry(row.serial, row.revoked_at, row.revocation_reason,
                                                     row.invalidity_date, row.not_after)

    async def was_issued(self, issuer_id: str, serial: int) -> bool:
        """True when the issuer signed this serial and its inventory row has since been deleted."""
        d = deleted_certificates.c
        query = select(d.serial).where(d.issuer_id == issuer_id, d.serial == serial)
        return (await self._conn.execute(query)).first() is not None

    async def revoked_for_issuer(self, issuer_id: str, not_after_since: dt.datetime) -> list[RevokedEntry]:
        """The issuer's revoked leaves that have not expired before `not_after_since`, for its CRL."""
        query = (select(revoked_certificates).where(_L.issuer_id == issuer_id, _L.not_after >= not_after_since)
                 .order_by(_L.revoked_at, _L.serial))
        return [RevokedEntry(r.serial, r.revoked_at, r.revocation_reason, r.invalidity_date, r.not_after)
                for r in await self._conn.execute(query)]

    # --- revoked CA certificates ---------------------------------------------------------------------------------

    async def add_ca_revocation(self, rev: CARevocation) -> None:
        with conflicts("revocation of this CA"):
            await self._conn.execute(insert(ca_revocations), {
                "ca_id": rev.ca_id, "issuer_id": rev.issuer_id, "serial": rev.serial, "revoked_at": rev.revoked_at,
                "revocation_reason": rev.reason, "invalidity_date": rev.invalidity_date, "not_after": rev.not_after,
            })

    async def ca_revocation(self, ca_id: str) -> CARevocation | None:
        row = (await self._conn.execute(select(ca_revocations).where(_R.ca_id == ca_id))).first()
        return None if row is None else _ca_revocation(row)

    async def ca_revocation_by_serial(self, issuer_id: str, serial: int) -> CARevocation | None:
        query = select(ca_revocations).where(_R.issuer_id == issuer_id, _R.serial == serial)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _ca_revocation(row)

    async def clear_ca_revocation(self, ca_id: str) -> bool:
        result = await self._conn.execute(delete(ca_revocations).where(_R.ca_id == ca_id))
        return result.rowcount > 0

    async def revoked_cas_for_issuer(self, issuer_id: str, not_after_since: dt.datetime) -> list[RevokedEntry]:
        query = (select(ca_revocations).where(_R.issuer_id == issuer_id, _R.not_after >= not_after_since)
                 .order_by(_R.revoked_at, _R.serial))
        return [RevokedEntry(r.serial, r.revoked_at, r.revocation_reason or RevocationReason.UNSPECIFIED.value,
                             r.invalidity_date, r.not_after) for r in await self._conn.execute(query)]

    # --- cheap reads for instances sharing one database -----------------------------------------------------------

    async def generations(self) -> dict[str, int]:
        """Every issuer's revocation generation (issuer id -> counter value); one small indexed query."""
        query = select(t.counters.c.name, t.counters.c.value).where(
            t.counters.c.name.startswith(GENERATION_PREFIX, autoescape=True))
        return {row.name[len(GENERATION_PREFIX):]: int(row.value) for row in await self._conn.execute(query)}

    async def latest_crl_number(self, ca_id: str) -> int | None:
        value = (await self._conn.execute(select(func.max(t.crls.c.number)).where(t.crls.c.ca_id == ca_id))).scalar()
        return None if value is None else int(value)

    async def latest_crl_head(self, ca_id: str) -> CRLHead | None:
        c = t.crls.c
        query = (select(c.number, c.this_update, c.next_update).where(c.ca_id == ca_id)
                 .order_by(c.number.desc()).limit(1))
        row = (await self._conn.execute(query)).first()
        return None if row is None else CRLHead(int(row.number), row.this_update, row.next_update)
