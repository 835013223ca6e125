"""Shared fixtures. `database` runs a test on SQLite and on PostgreSQL.

PostgreSQL comes from EG_TEST_POSTGRES_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test); each test
gets a fresh schema, dropped afterwards. Unset: the postgres cases are skipped. Set but unreachable: they fail,
so CI can never pass without having tested PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from enrollment_gateway.storage import Database

POSTGRES_URL_ENV = "EG_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class DatabaseTarget:
    """Where a test's database lives; `open()` may be called more than once (e.g. to test re-opening)."""

    dialect: str  # "sqlite" | "postgresql"
    url: str
    schema: str | None = None

    async def open(self) -> Database:
        return await Database.open(self.url, schema=self.schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_target(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[DatabaseTarget]:
    if request.param == "sqlite":
        yield DatabaseTarget("sqlite", f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
        return
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    # pg_trgm in public, once: left to the migration it lands in the first test's schema and vanishes with it,
    # under the feet of tests running concurrently ("referenced operator class was concurrently dropped").
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    except Exception:  # no CREATE privilege: the migration tolerates a missing extension too
        pass
    finally:
        await engine.dispose()
    try:
        yield DatabaseTarget("postgresql", url, schema)
    finally:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            await engine.dispose()


@pytest.fixture
async def database(database_target: DatabaseTarget) -> AsyncIterator[Database]:
    """A migrated, empty database, on each engine."""
    db = await database_target.open()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def sqlite_database(tmp_path) -> AsyncIterator[Database]:
    """A migrated, empty SQLite database, for tests that need only the embedded engine."""
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
    try:
        yield db
    finally:
        await db.close()
