"""The audit trail. Append-only: this repository has no update or delete, and the database refuses both."""

from __future__ import annotations

import datetime as dt
from typing import Collection

from sqlalchemy import insert, select

from ...domain import AuditEvent
from .. import tables as t
from ._base import Repository

a = t.audit_events.c
_APPEND = insert(t.audit_events)  # built once: every audited operation appends (cache key memoised)


class AuditRepository(Repository):
    async def append(self, event: AuditEvent) -> None:
        await self._conn.execute(
            _APPEND,
            {
                "id": event.id,
                "at": event.at,
                "actor": event.actor,
                "actor_name": event.actor_name,
                "action": event.action,
                "object_type": event.object_type,
                "object_id": event.object_id,
                "application_id": event.application_id,
                "outcome": event.outcome,
                "details": dict(event.details),
            },
        )

    async def query(
        self,
        application_ids: Collection[str] | None = None,
        actor: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Newest first. `since` is inclusive, `until` exclusive; `application_ids=None` means every event."""
        query = select(t.audit_events)
        if application_ids is not None:
            if not application_ids:
                return []
            query = query.where(a.application_id.in_(list(application_ids)))
        if actor is not None:
            query = query.where(a.actor == actor)
        if since is not None:
            query = query.where(a.at >= since)
        if until is not None:
            query = query.where(a.at < until)
        if action is not None:
            query = query.where(a.action == action)
        query = query.order_by(a.at.desc(), a.id.desc()).limit(limit).offset(offset)
        return [
            AuditEvent(
                id=r.id,
                at=r.at,
                actor=r.actor,
                actor_name=r.actor_name,
                action=r.action,
                object_type=r.object_type,
                object_id=r.object_id,
                application_id=r.application_id,
                outcome=r.outcome,
                details=r.details,
            )
            for r in await self._conn.execute(query)
        ]
