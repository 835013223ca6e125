"""Certificate requests: what was asked, by whom, and how it was decided."""

from __future__ import annotations

from typing import Any, Collection, Mapping

from sqlalchemy import insert, select, update

from ...domain import CertificateRequest, RequestStatus
from ...errors import not_found
from .. import tables as t
from ._base import Repository, conflicts

r_ = t.requests.c


def _row(q: CertificateRequest) -> dict[str, Any]:
    return {
        "id": q.id,
        "application_id": q.application_id,
        "profile_id": q.profile_id,
        "endpoint_id": q.endpoint_id,
        "requester_id": q.requester_id,
        "requester_name": q.requester_name,
        "protocol": q.protocol,
        "status": q.status.value,
        "csr_pem": q.csr_pem,
        "managed_key_algorithm": q.managed_key_algorithm,
        "subject": q.subject,
        "sans": list(q.sans),
        "ttl_seconds": q.ttl_seconds,
        "not_before": q.not_before,
        "not_after": q.not_after,
        "metadata": dict(q.metadata),
        "created_at": q.created_at,
        "certificate_id": q.certificate_id,
        "decided_by": q.decided_by,
        "decided_at": q.decided_at,
        "reason": q.reason,
        "replaces_id": q.replaces_id,
    }


def _request(r: Mapping[str, Any]) -> CertificateRequest:
    values = dict(r)
    values["status"] = RequestStatus(values["status"])
    values["sans"] = tuple(values["sans"])
    return CertificateRequest(**values)


_INSERT = insert(t.requests)  # built once: issuance's hot path (its cache key is memoised)


class RequestRepository(Repository):
    async def add(self, req: CertificateRequest) -> None:
        with conflicts("request"):
            await self._conn.execute(_INSERT, _row(req))

    async def get(self, id: str) -> CertificateRequest | None:
        row = (await self._conn.execute(select(t.requests).where(r_.id == id))).first()
        return None if row is None else _request(row._mapping)

    async def update(self, req: CertificateRequest) -> None:
        """Write every field but id and created_at; NOT_FOUND if the request is gone."""
        values = _row(req)
        del values["id"], values["created_at"]
        result = await self._conn.execute(update(t.requests).where(r_.id == req.id).values(values))
        if result.rowcount == 0:
            raise not_found("request")

    async def list(
        self,
        application_ids: Collection[str] | None = None,
        status: RequestStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[CertificateRequest]:
        """Newest first; `application_ids=None` means all applications, an empty collection none."""
        query = select(t.requests)
        if application_ids is not None:
            if not application_ids:
                return []
            query = query.where(r_.application_id.in_(list(application_ids)))
        if status is not None:
            query = query.where(r_.status == status.value)
        query = query.order_by(r_.created_at.desc(), r_.id.desc()).limit(limit).offset(offset)
        return [_request(row._mapping) for row in await self._conn.execute(query)]
