"""EST state (RFC 7030): endpoint settings, device Basic credentials, requests parked for approval.

Built from a transaction with `EstRepository.of(tx)`, as repositories/acme.py is; only core/est_credentials.py
uses it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import delete, insert, select, update

from ..est_tables import est_credentials, est_endpoints, est_requests
from ._base import Repository, conflicts


@dataclass(frozen=True)
class EstCredential:
    username: str
    endpoint_id: str
    password_hash: str
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None = None


_C, _E, _R = est_credentials.c, est_endpoints.c, est_requests.c


def _credential(r: Any) -> EstCredential:
    return EstCredential(r.username, r.endpoint_id, r.password_hash, r.created_at, r.created_by, r.revoked_at)


class EstRepository(Repository):
    @classmethod
    def of(cls, tx) -> "EstRepository":
        return cls(tx.connection, tx.dialect)

    # --- settings ------------------------------------------------------------------------------------------------

    async def settings(self, endpoint_id: str) -> Mapping[str, Any] | None:
        row = (await self._conn.execute(select(_E.settings).where(_E.endpoint_id == endpoint_id))).first()
        return dict(row.settings) if row is not None else None

    async def put_settings(self, endpoint_id: str, settings: Mapping[str, Any], now: dt.datetime) -> None:
        changed = await self._conn.execute(update(est_endpoints).where(_E.endpoint_id == endpoint_id)
                                           .values(settings=dict(settings), updated_at=now))
        if changed.rowcount == 0:
            with conflicts("EST settings"):
                await self._conn.execute(insert(est_endpoints), {"endpoint_id": endpoint_id,
                                                                 "settings": dict(settings), "updated_at": now})

    # --- credentials ---------------------------------------------------------------------------------------------

    async def add_credential(self, cred: EstCredential) -> None:
        with conflicts(f"EST username {cred.username!r}"):
            await self._conn.execute(insert(est_credentials), {
                "username": cred.username, "endpoint_id": cred.endpoint_id, "password_hash": cred.password_hash,
                "created_at": cred.created_at, "created_by": cred.created_by, "revoked_at": cred.revoked_at})

    async def credential(self, username: str) -> EstCredential | None:
        row = (await self._conn.execute(select(est_credentials).where(_C.username == username))).first()
        return _credential(row) if row is not None else None

    async def credentials(self, endpoint_id: str) -> list[EstCredential]:
        rows = await self._conn.execute(select(est_credentials).where(_C.endpoint_id == endpoint_id)
                                        .order_by(_C.created_at, _C.username))
        return [_credential(r) for r in rows]

    async def revoke_credential(self, username: str, endpoint_id: str, now: dt.datetime) -> bool:
        result = await self._conn.execute(
            update(est_credentials).where(_C.username == username, _C.endpoint_id == endpoint_id,
                                          _C.revoked_at.is_(None)).values(revoked_at=now))
        return result.rowcount > 0

    # --- requests awaiting approval ------------------------------------------------------------------------------

    async def parked_request(self, endpoint_id: str, csr_sha256: str) -> str | None:
        row = (await self._conn.execute(select(_R.request_id).where(_R.endpoint_id == endpoint_id,
                                                                    _R.csr_sha256 == csr_sha256))).first()
        return row.request_id if row is not None else None

    async def park_request(self, endpoint_id: str, csr_sha256: str, request_id: str, now: dt.datetime) -> None:
        with conflicts("EST request for this CSR"):
            await self._conn.execute(insert(est_requests), {"endpoint_id": endpoint_id, "csr_sha256": csr_sha256,
                                                            "request_id": request_id, "created_at": now})

    async def forget_request(self, endpoint_id: str, csr_sha256: str) -> None:
        await self._conn.execute(delete(est_requests).where(_R.endpoint_id == endpoint_id,
                                                            _R.csr_sha256 == csr_sha256))
