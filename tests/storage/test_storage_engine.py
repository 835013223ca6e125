"""Database.open, migrations, transactions, counters and time handling, on both engines."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import inspect, text

import storage_builders as b
from enrollment_gateway.errors import ErrorKind, GatewayError
from alembic.script import ScriptDirectory

from enrollment_gateway.storage import Database
from enrollment_gateway.storage.engine import alembic_config
from enrollment_gateway.storage.tables import metadata

UTC = dt.timezone.utc
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()  # the newest revision, whichever it is


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def _version(db: Database) -> list[str]:
    async with db.transaction(readonly=True) as tx:
        return list((await tx.connection.execute(text("SELECT version_num FROM alembic_version"))).scalars())


async def test_empty_database_migrates_to_head_and_reopen_is_a_no_op(database_target):
    db = await database_target.open()
    try:
        assert set(metadata.tables) <= await _tables(db)
        assert await _version(db) == [HEAD]
        async with db.transaction() as tx:
            await tx.applications.add(b.application(name="kept"))
    finally:
        await db.close()
    db = await database_target.open()  # second open: nothing to migrate, data intact
    try:
        assert await _version(db) == [HEAD]
        async with db.transaction(readonly=True) as tx:
            assert [a.name for a in await tx.applications.list()] == ["kept"]
    finally:
        await db.close()


async def test_instances_starting_together_migrate_once(database_target):
    # On PostgreSQL the advisory lock serialises them; on SQLite BEGIN IMMEDIATE does.
    dbs = await asyncio.gather(*(database_target.open() for _ in range(3)))
    try:
        assert await _version(dbs[0]) == [HEAD]
    finally:
        for db in dbs:
            await db.close()


async def test_sqlite_connection_settings(sqlite_database, tmp_path):
    async with sqlite_database.transaction(readonly=True) as tx:
        got = {
            p: (await tx.connection.execute(text(f"PRAGMA {p}"))).scalar()
            for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert got == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 5000}


async def test_sqlite_file_directory_is_created(tmp_path):
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path}/a/b/gateway.db")
    await db.close()
    assert (tmp_path / "a" / "b" / "gateway.db").exists()


async def test_a_transaction_that_raises_leaves_nothing_behind(database):
    app = b.application()
    with pytest.raises(RuntimeError):
        async with database.transaction() as tx:
            await tx.applications.add(app)
            await tx.counters.next_value("crl")
            await tx.audit.append(b.audit_event())
            raise RuntimeError("boom")
    async with database.transaction(readonly=True) as tx:
        assert await tx.applications.get(app.id) is None
        assert await tx.audit.query() == []
    async with database.transaction() as tx:
        assert await tx.counters.next_value("crl") == 1


async def test_a_transaction_that_raises_before_any_statement(database):
    with pytest.raises(RuntimeError):
        async with database.transaction():
            raise RuntimeError("boom")
    async with database.transaction() as tx:  # the connection is still usable
        assert await tx.counters.next_value("x") == 1


async def test_counters_are_monotonic_under_concurrent_callers(database):
    async def one() -> int:
        async with database.transaction() as tx:
            return await tx.counters.next_value("crl-number")

    values = await asyncio.gather(*(one() for _ in range(20)))
    assert sorted(values) == list(range(1, 21))
    async with database.transaction() as tx:
        assert await tx.counters.next_value("crl-number") == 21
        assert await tx.counters.next_value("other") == 1  # counters are independent


async def test_counters_survive_reopen(database_target):
    db = await database_target.open()
    async with db.transaction() as tx:
        await tx.counters.next_value("n")
    await db.close()
    db = await database_target.open()
    try:
        async with db.transaction() as tx:
            assert await tx.counters.next_value("n") == 2
    finally:
        await db.close()


async def test_times_come_back_utc_aware_whatever_zone_went_in(database):
    plus_five = dt.timezone(dt.timedelta(hours=5))
    at = dt.datetime(2031, 3, 1, 17, 30, 0, 250000, tzinfo=plus_five)
    async with database.transaction() as tx:
        await tx.applications.add(b.application(id="a" * 32, created_at=at))
    async with database.transaction(readonly=True) as tx:
        got = (await tx.applications.get("a" * 32)).created_at
    assert got == at
    assert got.tzinfo == UTC
    assert got.hour == 12


async def test_naive_times_are_refused(database):
    with pytest.raises(Exception) as info:
        async with database.transaction() as tx:
            await tx.applications.add(b.application(created_at=dt.datetime(2030, 1, 1)))
    assert "naive" in str(info.value)


async def test_readonly_transactions_run_beside_a_writer(database):
    app = b.application()
    async with database.transaction() as tx:
        await tx.applications.add(app)
        async with database.transaction(readonly=True) as reader:  # would deadlock if it queued for the lock
            assert await reader.applications.get(app.id) is None  # not committed yet
    async with database.transaction(readonly=True) as reader:
        assert await reader.applications.get(app.id) == app


async def test_conflict_inside_a_transaction_rolls_it_back(database):
    async with database.transaction() as tx:
        await tx.applications.add(b.application(name="dup"))
    with pytest.raises(GatewayError) as info:
        async with database.transaction() as tx:
            await tx.policies.add(b.policy(name="not kept"))
            await tx.applications.add(b.application(name="dup"))
    assert info.value.kind is ErrorKind.CONFLICT
    async with database.transaction(readonly=True) as tx:
        assert await tx.policies.list() == []


@pytest.mark.postgres
async def test_postgres_schema_in_the_url(database_target):
    if database_target.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    db = await Database.open(f"{database_target.url}?schema={database_target.schema}")
    try:
        async with db.transaction(readonly=True) as tx:
            schema = (await tx.connection.execute(text("SELECT current_schema()"))).scalar()
        assert schema == database_target.schema
    finally:
        await db.close()


async def test_postgres_trigram_index_when_the_extension_is_available(database):
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    async with database.transaction(readonly=True) as tx:
        available = (
            await tx.connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"))
        ).scalar()
        index = (
            await tx.connection.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_certificates_search_text_trgm'")
            )
        ).scalar()
    if available:
        assert "gin_trgm_ops" in index


async def test_an_empty_transaction_commits(database):
    async with database.transaction():
        pass
    async with database.transaction() as tx:
        assert await tx.counters.next_value("x") == 1


async def test_in_memory_sqlite():
    db = await Database.open("sqlite+aiosqlite:///:memory:")
    try:
        async with db.transaction() as tx:
            await tx.applications.add(b.application(name="m"))
        async with db.transaction(readonly=True) as tx:
            assert [a.name for a in await tx.applications.list()] == ["m"]
    finally:
        await db.close()


async def test_checkpointer_keeps_the_wal_small(sqlite_database, tmp_path):
    for _ in range(300):  # more than the checkpointer's batch
        async with sqlite_database.transaction() as tx:
            await tx.audit.append(b.audit_event())
    await sqlite_database._checkpointer.checkpoint()
    async with sqlite_database.transaction(readonly=True) as tx:
        busy, log, checkpointed = (await tx.connection.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))).one()
    assert log == checkpointed
