"""SCEP state (RFC 8894): endpoint settings, RA certificates, one-time challenges, transactions.

Built from a transaction with `ScepRepository.of(tx)`, as the ACME repository is. Stored here rather than in
memory so several instances on one database serve one SCEP endpoint: any instance answers any CertPoll, and a
one-time challenge redeemed on one is refused on all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from ..scep_tables import scep_challenges, scep_ra_certificates, scep_settings, scep_transactions
from ._base import Repository, conflicts


@dataclass(frozen=True)
class ScepSettings:
    endpoint_id: str
    challenge_mode: str  # static | one_time | webhook
    static_challenge: bytes | None  # wrapped
    webhook_url: str | None
    include_root: bool
    updated_at: dt.datetime
    updated_by: str


@dataclass(frozen=True)
class RaCertificateRow:
    id: str
    endpoint_id: str
    ca_id: str
    certificate_pem: str
    key_blob: bytes  # wrapped
    not_after: dt.datetime
    created_at: dt.datetime


@dataclass(frozen=True)
class ScepTransaction:
    endpoint_id: str
    transaction_id: str
    key_digest: str
    created_at: dt.datetime
    request_id: str | None = None
    certificate_id: str | None = None


_S, _R, _C, _T = scep_settings.c, scep_ra_certificates.c, scep_challenges.c, scep_transactions.c


def _settings(r: Any) -> ScepSettings:
    return ScepSettings(r.endpoint_id, r.challenge_mode, bytes(r.static_challenge) if r.static_challenge else None,
                        r.webhook_url, bool(r.include_root), r.updated_at, r.updated_by)


def _ra(r: Any) -> RaCertificateRow:
    return RaCertificateRow(r.id, r.endpoint_id, r.ca_id, r.certificate_pem, bytes(r.key_blob), r.not_after,
                            r.created_at)


def _transaction(r: Any) -> ScepTransaction:
    return ScepTransaction(r.endpoint_id, r.transaction_id, r.key_digest, r.created_at, r.request_id,
                           r.certificate_id)


class ScepRepository(Repository):
    @classmethod
    def of(cls, tx) -> "ScepRepository":
        return cls(tx.connection, tx.dialect)

    # --- settings ----------------------------------------------------------------------------------------------

    async def settings(self, endpoint_id: str) -> ScepSettings | None:
        row = (await self._conn.execute(select(scep_settings).where(_S.endpoint_id == endpoint_id))).first()
        return None if row is None else _settings(row)

    async def put_settings(self, s: ScepSettings) -> None:
        values = {"challenge_mode": s.challenge_mode, "static_challenge": s.static_challenge,
                  "webhook_url": s.webhook_url, "include_root": s.include_root, "updated_at": s.updated_at,
                  "updated_by": s.updated_by}
        result = await self._conn.execute(update(scep_settings).where(_S.endpoint_id == s.endpoint_id).values(values))
        if result.rowcount == 0:
            with conflicts("SCEP settings"):
                await self._conn.execute(insert(scep_settings), {"endpoint_id": s.endpoint_id, **values})

    # --- RA certificates ---------------------------------------------------------------------------------------

    async def ra_certificates(self, endpoint_id: str, valid_at: dt.datetime) -> list[RaCertificateRow]:
        """The endpoint's RA certificates still valid at `valid_at`, newest first."""
        rows = await self._conn.execute(
            select(scep_ra_certificates).where(_R.endpoint_id == endpoint_id, _R.not_after > valid_at)
            .order_by(_R.created_at.desc()))
        return [_ra(r) for r in rows]

    async def add_ra_certificate(self, ra: RaCertificateRow) -> None:
        await self._conn.execute(insert(scep_ra_certificates), {
            "id": ra.id, "endpoint_id": ra.endpoint_id, "ca_id": ra.ca_id, "certificate_pem": ra.certificate_pem,
            "key_blob": ra.key_blob, "not_after": ra.not_after, "created_at": ra.created_at})

    # --- one-time challenges -----------------------------------------------------------------------------------

    async def add_challenge(self, digest: str, endpoint_id: str, expires_at: dt.datetime, created_by: str,
                            created_at: dt.datetime) -> None:
        with conflicts("challenge"):
            await self._conn.execute(insert(scep_challenges), {
                "digest": digest, "endpoint_id": endpoint_id, "expires_at": expires_at, "used_at": None,
                "created_by": created_by, "created_at": created_at})

    async def redeem_challenge(self, digest: str, endpoint_id: str, now: dt.datetime) -> bool:
        """Mark an unused, unexpired challenge of this endpoint used; False if there is none (atomic)."""
        result = await self._conn.execute(
            update(scep_challenges).where(_C.digest == digest, _C.endpoint_id == endpoint_id, _C.used_at.is_(None),
                                          _C.expires_at > now).values(used_at=now))
        return result.rowcount == 1

    async def unredeem_challenge(self, digest: str, endpoint_id: str) -> None:
        await self._conn.execute(update(scep_challenges).where(
            _C.digest == digest, _C.endpoint_id == endpoint_id).values(used_at=None))

    async def prune_challenges(self, before: dt.datetime) -> int:
        return (await self._conn.execute(delete(scep_challenges).where(_C.expires_at < before))).rowcount

    # --- transactions ------------------------------------------------------------------------------------------

    async def transaction(self, endpoint_id: str, transaction_id: str) -> ScepTransaction | None:
        row = (await self._conn.execute(select(scep_transactions).where(
            _T.endpoint_id == endpoint_id, _T.transaction_id == transaction_id))).first()
        return None if row is None else _transaction(row)

    async def claim_transaction(self, t: ScepTransaction) -> None:
        """Insert; CONFLICT if the transactionID is taken (another instance is processing it)."""
        with conflicts("SCEP transaction"):
            await self._conn.execute(insert(scep_transactions), {
                "endpoint_id": t.endpoint_id, "transaction_id": t.transaction_id, "key_digest": t.key_digest,
                "request_id": t.request_id, "certificate_id": t.certificate_id, "created_at": t.created_at})

    async def reopen_transaction(self, t: ScepTransaction, renewed_certificate_id: str) -> bool:
        """Point the transaction at `t`'s outcome, for a renewal of the certificate it produced; False if another
        request got there first."""
        result = await self._conn.execute(update(scep_transactions).where(
            _T.endpoint_id == t.endpoint_id, _T.transaction_id == t.transaction_id,
            _T.certificate_id == renewed_certificate_id).values(
            key_digest=t.key_digest, request_id=t.request_id, certificate_id=t.certificate_id,
            created_at=t.created_at))
        return result.rowcount == 1
