"""The database handle: one async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg), migrated on open.

Every core operation runs in one `Database.transaction()`; the repositories hang off the `Tx` it yields.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from pathlib import Path
from typing import Any, AsyncIterator

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import sqlite
from .repositories import Tx

MIGRATIONS = Path(__file__).parent / "migrations"

# pg_advisory_xact_lock key for migrations: any constant shared by every instance of the gateway.
_MIGRATION_LOCK_KEY = 0x6567_6D69_6772  # "egmigr"

# Alembic's `op` and `context` are process-wide proxies, so two migrations in one process (two Database.open
# calls awaited together) must not interleave. One lock per event loop: an asyncio.Lock belongs to one loop.
_alembic_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _alembic_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _alembic_locks.get(loop)
    if lock is None:
        lock = _alembic_locks[loop] = asyncio.Lock()
    return lock


class Database:
    """An open, migrated database. Use `await Database.open(url)`, then `async with db.transaction() as tx`."""

    def __init__(self, engine: AsyncEngine, dialect: str) -> None:
        self.engine = engine
        self.dialect = dialect
        # SQLite allows one writer per database. Two of our transactions that both write would otherwise meet
        # as SQLITE_BUSY (or, for a deferred transaction that read first, SQLITE_BUSY_SNAPSHOT, which
        # busy_timeout cannot wait out). Queueing writers on this lock inside the process means they never
        # collide; busy_timeout is left to cover other processes.
        self._write_lock = asyncio.Lock() if dialect == "sqlite" else None
        # Marks read-only transactions so the SQLite begin hook can start them DEFERRED (no write lock).
        self._readonly_engine = engine.execution_options(eg_readonly=True)
        self._checkpointer: sqlite.Checkpointer | None = None

    @classmethod
    async def open(cls, url: str, *, schema: str | None = None, **engine_kwargs: Any) -> "Database":
        """Connect to `url` and migrate to head.

        `schema` (PostgreSQL only; also accepted as `?schema=` in the URL) keeps every table in that schema,
        created if missing, by making it the connections' only search_path entry.
        """
        parsed = make_url(url)
        dialect = parsed.get_backend_name()
        if "schema" in parsed.query:
            schema = schema or str(parsed.query["schema"])
            parsed = parsed.difference_update_query(["schema"])
        if schema is not None and dialect != "postgresql":
            raise ValueError("a schema applies to PostgreSQL only")
        kwargs: dict[str, Any] = {}
        path = None
        if dialect == "sqlite":
            path = parsed.database or ":memory:"
            if path != ":memory:":
                path = str(Path(path).expanduser())
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["async_creator"] = sqlite.async_creator(path)
            # Transactions always end in commit or rollback (see `transaction`), so the pool's extra
            # ROLLBACK on check-in would only cost a round trip to the driver thread.
            kwargs["pool_reset_on_return"] = None
        elif dialect == "postgresql":
            kwargs["pool_pre_ping"] = True
            if schema is not None:
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        else:
            raise ValueError(f"unsupported database {dialect!r}: use sqlite+aiosqlite or postgresql+asyncpg")
        kwargs.update(engine_kwargs)
        engine = create_async_engine(parsed, **kwargs)
        if dialect == "sqlite":
            _configure_sqlite(engine)
        db = cls(engine, dialect)
        try:
            await db._migrate(schema)
            if path is not None and path != ":memory:":
                db._checkpointer = sqlite.Checkpointer(path)
                await db._checkpointer.start()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.stop()
            self._checkpointer = None
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[Tx]:
        """One database transaction: committed on a clean exit, rolled back if the block raises.

        `readonly=True` promises the block does not write; on SQLite it then skips the writers' queue, so
        listings run beside issuance.
        """
        if readonly:
            async with self._readonly_engine.begin() as conn:
                yield Tx(conn, self.dialect)
            return
        async with self._write_lock or contextlib.nullcontext():
            async with self.engine.begin() as conn:
                yield Tx(conn, self.dialect)
            if self._checkpointer is not None:
                self._checkpointer.committed()

    async def _migrate(self, schema: str | None) -> None:
        async with _alembic_lock(), self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Instances starting together would otherwise race to create the same tables; the lock is
                # released with this transaction, by which time the first one has committed head.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
                if schema is not None:
                    quoted = conn.dialect.identifier_preparer.quote_identifier(schema)
                    await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
            await conn.run_sync(upgrade_to_head)


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration, built in code: no alembic.ini to ship or find."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so a transaction that reads and then writes cannot fail
        # half way with SQLITE_BUSY_SNAPSHOT when another process wrote in between. Read-only ones need no lock.
        # The BEGIN itself travels with the first statement (see storage/sqlite.py).
        readonly = conn.get_execution_options().get("eg_readonly", False)
        conn.connection.driver_connection.begin(immediate=not readonly)
