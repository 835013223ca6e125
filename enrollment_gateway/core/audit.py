"""Audit trail: every state change and every refusal, with actor, time, object and outcome."""

from __future__ import annotations

import uuid
from typing import Any, Collection

from ..domain import Actor, AuditEvent
from .clock import Clock


class Auditor:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def event(
        self,
        actor: Actor,
        action: str,
        object_type: str,
        object_id: str | None,
        *,
        application_id: str | None = None,
        outcome: str = "success",
        **details: Any,
    ) -> AuditEvent:
        return AuditEvent(
            id=uuid.uuid4().hex,
            at=self._clock.now(),
            actor=actor.id,
            actor_name=actor.name,
            action=action,
            object_type=object_type,
            object_id=object_id,
            application_id=application_id,
            outcome=outcome,
            details={k: v for k, v in details.items() if v is not None},
        )

    async def record(self, tx, *args: Any, **kwargs: Any) -> AuditEvent:
        event = self.event(*args, **kwargs)
        await tx.audit.append(event)
        return event

    async def record_alone(self, db, *args: Any, **kwargs: Any) -> AuditEvent:
        """Record in a transaction of its own: refusals are audited although the refused work rolled back."""
        async with db.transaction() as tx:
            return await self.record(tx, *args, **kwargs)


async def query_audit(
    db,
    *,
    application_ids: Collection[str] | None,
    actor: str | None = None,
    since=None,
    until=None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEvent]:
    async with db.transaction() as tx:
        return await tx.audit.query(
            application_ids=application_ids, actor=actor, since=since, until=until, action=action,
            limit=limit, offset=offset,
        )
