"""CAs and what hangs off them: their key blobs, other keys, CRLs, and the counters that number CRLs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ...algorithms import HashAlgorithm, KeyAlgorithm
from ...domain import CAStatus, CertificateAuthority
from ...errors import not_found
from .. import tables as t
from ._base import Repository, conflicts

_CA_COLUMNS = [c for c in t.cas.c if c.name != "key_blob"]


def _ca_row(ca: CertificateAuthority) -> dict[str, Any]:
    return {
        "id": ca.id,
        "name": ca.name,
        "key_algorithm": ca.key_algorithm.value,
        "hash_algorithm": ca.hash_algorithm.value if ca.hash_algorithm else None,
        "status": ca.status.value,
        "certificate_pem": ca.certificate_pem,
        "chain_pem": ca.chain_pem,
        "parent_id": ca.parent_id,
        "path_length": ca.path_length,
        "validity_days": ca.validity_days,
        "created_at": ca.created_at,
        "csr_pem": ca.csr_pem,
        "external_parent": ca.external_parent,
    }


def _ca(r: Mapping[str, Any]) -> CertificateAuthority:
    return CertificateAuthority(
        id=r["id"],
        name=r["name"],
        key_algorithm=KeyAlgorithm(r["key_algorithm"]),
        hash_algorithm=HashAlgorithm(r["hash_algorithm"]) if r["hash_algorithm"] else None,
        status=CAStatus(r["status"]),
        certificate_pem=r["certificate_pem"],
        chain_pem=r["chain_pem"],
        parent_id=r["parent_id"],
        path_length=r["path_length"],
        validity_days=r["validity_days"],
        created_at=r["created_at"],
        csr_pem=r["csr_pem"],
        external_parent=r["external_parent"],
    )


class CARepository(Repository):
    async def add(self, ca: CertificateAuthority, key_blob: bytes) -> None:
        with conflicts(f"CA {ca.name!r}"):
            await self._conn.execute(insert(t.cas), {**_ca_row(ca), "key_blob": key_blob})

    async def get(self, id: str) -> CertificateAuthority | None:
        row = (await self._conn.execute(select(*_CA_COLUMNS).where(t.cas.c.id == id))).first()
        return None if row is None else _ca(row._mapping)

    async def get_by_name(self, name: str) -> CertificateAuthority | None:
        row = (await self._conn.execute(select(*_CA_COLUMNS).where(t.cas.c.name == name))).first()
        return None if row is None else _ca(row._mapping)

    async def list(self) -> list[CertificateAuthority]:
        result = await self._conn.execute(select(*_CA_COLUMNS).order_by(t.cas.c.name))
        return [_ca(r._mapping) for r in result]

    async def update(self, ca: CertificateAuthority, key_blob: bytes | None = None) -> None:
        """Write every field but id and created_at (and the key blob when given); NOT_FOUND if gone."""
        values = _ca_row(ca)
        del values["id"], values["created_at"]
        if key_blob is not None:
            values["key_blob"] = key_blob
        with conflicts(f"CA {ca.name!r}"):
            result = await self._conn.execute(update(t.cas).where(t.cas.c.id == ca.id).values(values))
        if result.rowcount == 0:
            raise not_found("CA")

    async def status_for_issuance(self, id: str) -> CAStatus | None:
        """The CA's status now, the row locked FOR SHARE on PostgreSQL until the transaction ends (so a status
        change waits for an issuance that read it); None if there is no such CA."""
        query = select(t.cas.c.status).where(t.cas.c.id == id)
        if self._dialect == "postgresql":
            query = query.with_for_update(read=True)
        value = (await self._conn.execute(query)).scalar()
        return None if value is None else CAStatus(value)

    async def key_blob(self, ca_id: str) -> bytes:
        blob = (await self._conn.execute(select(t.cas.c.key_blob).where(t.cas.c.id == ca_id))).scalar()
        if blob is None:
            raise not_found("CA")
        return bytes(blob)


class KeyRepository(Repository):
    """Encrypted key blobs other than CA keys (e.g. OCSP responder keys), by owner and purpose."""

    async def put(self, id: str, owner_id: str, purpose: str, blob: bytes, created_at: dt.datetime) -> None:
        with conflicts("key"):
            await self._conn.execute(
                insert(t.keys),
                {"id": id, "owner_id": owner_id, "purpose": purpose, "blob": blob, "created_at": created_at},
            )

    async def get(self, id: str) -> bytes | None:
        blob = (await self._conn.execute(select(t.keys.c.blob).where(t.keys.c.id == id))).scalar()
        return None if blob is None else bytes(blob)

    async def latest(self, owner_id: str, purpose: str) -> tuple[str, bytes] | None:
        query = (
            select(t.keys.c.id, t.keys.c.blob)
            .where(t.keys.c.owner_id == owner_id, t.keys.c.purpose == purpose)
            .order_by(t.keys.c.created_at.desc(), t.keys.c.id.desc())
            .limit(1)
        )
        row = (await self._conn.execute(query)).first()
        return None if row is None else (row.id, bytes(row.blob))


class CounterRepository(Repository):
    async def next_value(self, name: str) -> int:
        """The next value of counter `name` (1 first), atomic across transactions, instances and restarts.

        One upsert: the row lock it takes (PostgreSQL) or the single writer (SQLite) orders concurrent callers,
        so no two get the same value and a later commit never gets a smaller one.
        """
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(t.counters).values(name=name, value=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.counters.c.name], set_={"value": t.counters.c.value + 1}
        ).returning(t.counters.c.value)
        return int((await self._conn.execute(stmt)).scalar_one())


@dataclass(frozen=True)
class StoredCRL:
    ca_id: str
    number: int
    der: bytes
    this_update: dt.datetime
    next_update: dt.datetime


class CRLRepository(Repository):
    async def put(
        self, ca_id: str, number: int, der: bytes, this_update: dt.datetime, next_update: dt.datetime
    ) -> None:
        """Store a CRL and drop the CA's older ones: only the latest is ever served, and big CRLs add up."""
        with conflicts(f"CRL number {number}"):
            await self._conn.execute(
                insert(t.crls),
                {
                    "ca_id": ca_id,
                    "number": number,
                    "der": der,
                    "this_update": this_update,
                    "next_update": next_update,
                },
            )
        await self._conn.execute(delete(t.crls).where(t.crls.c.ca_id == ca_id, t.crls.c.number < number))

    async def latest(self, ca_id: str) -> StoredCRL | None:
        query = select(t.crls).where(t.crls.c.ca_id == ca_id).order_by(t.crls.c.number.desc()).limit(1)
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return StoredCRL(
            ca_id=row.ca_id,
            number=int(row.number),
            der=bytes(row.der),
            this_update=row.this_update,
            next_update=row.next_update,
        )
