"""Requests, the audit trail and CRLs, on both engines."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import text

import storage_builders as b
from enrollment_gateway.domain import RequestStatus
from enrollment_gateway.storage import StoredCRL
from enrollment_gateway.storage.repositories.audit import AuditRepository

NOW = b.NOW
MINUTE = dt.timedelta(minutes=1)


async def test_requests(database):
    async with database.transaction() as tx:
        app, prof, _ = await b.seed(tx)
        other = b.application()
        await tx.applications.add(other)
        r1 = b.request(app.id, prof.id, created_at=NOW)
        r2 = b.request(app.id, prof.id, created_at=NOW + MINUTE, status=RequestStatus.ISSUED, csr_pem=None,
                       managed_key_algorithm="ECDSA_P256", not_before=NOW, not_after=NOW + MINUTE)
        r3 = b.request(other.id, prof.id, created_at=NOW + 2 * MINUTE, endpoint_id="e1", replaces_id="c0")
        for r in (r1, r2, r3):
            await tx.requests.add(r)
    async with database.transaction() as tx:
        assert await tx.requests.get(r2.id) == r2
        assert await tx.requests.get("missing") is None
        assert await tx.requests.list() == [r3, r2, r1]
        assert await tx.requests.list(application_ids=[app.id]) == [r2, r1]
        assert await tx.requests.list(application_ids=[]) == []
        assert await tx.requests.list(status=RequestStatus.PENDING) == [r3, r1]
        assert await tx.requests.list(limit=1, offset=1) == [r2]
        decided = replace(r1, status=RequestStatus.REJECTED, decided_by="bob", decided_at=NOW + MINUTE, reason="no")
        await tx.requests.update(decided)
        assert await tx.requests.get(r1.id) == decided


async def test_audit_query_filters(database):
    events = [
        b.audit_event(at=NOW, application_id="app-1", actor="alice"),
        b.audit_event(at=NOW + MINUTE, application_id="app-2", actor="bob", action="certificate.revoked"),
        b.audit_event(at=NOW + 2 * MINUTE, application_id=None, actor="alice", outcome="refused"),
    ]
    async with database.transaction() as tx:
        for e in events:
            await tx.audit.append(e)
    e0, e1, e2 = events
    async with database.transaction(readonly=True) as tx:
        assert await tx.audit.query() == [e2, e1, e0]
        assert await tx.audit.query(application_ids=["app-1", "app-2"]) == [e1, e0]
        assert await tx.audit.query(application_ids=[]) == []
        assert await tx.audit.query(actor="alice") == [e2, e0]
        assert await tx.audit.query(since=NOW + MINUTE) == [e2, e1]
        assert await tx.audit.query(until=NOW + MINUTE) == [e0]
        assert await tx.audit.query(action="certificate.revoked") == [e1]
        assert await tx.audit.query(limit=1, offset=1) == [e1]


def test_audit_repository_has_no_way_to_change_history():
    public = {name for name in dir(AuditRepository) if not name.startswith("_")}
    assert public == {"append", "query"}


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET outcome = 'success'", "DELETE FROM audit_events"])
async def test_the_database_refuses_to_change_history(database, statement):
    async with database.transaction() as tx:
        await tx.audit.append(b.audit_event())
    with pytest.raises(Exception, match="append-only"):
        async with database.transaction() as tx:
            await tx.connection.execute(text(statement))
    async with database.transaction(readonly=True) as tx:
        assert len(await tx.audit.query()) == 1


async def test_crls_keep_the_latest(database):
    async with database.transaction() as tx:
        _, _, authority = await b.seed(tx)
        assert await tx.crls.latest(authority.id) is None
        await tx.crls.put(authority.id, 1, b"crl-1", NOW, NOW + MINUTE)
        await tx.crls.put(authority.id, 2, b"crl-2", NOW + MINUTE, NOW + 2 * MINUTE)
    async with database.transaction(readonly=True) as tx:
        latest = await tx.crls.latest(authority.id)
    assert latest == StoredCRL(authority.id, 2, b"crl-2", NOW + MINUTE, NOW + 2 * MINUTE)
