"""A lock held across processes on one database, for set-up work that spans several transactions.

PostgreSQL: a session advisory lock on a connection of its own. SQLite: flock on a file beside the database
(every process that shares the database file shares it). Both are released by the operating system or the
server if the holder dies, so a crash mid-set-up never leaves the next start waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import zlib
from pathlib import Path
from typing import AsyncIterator

from sqlalchemy import text

from .engine import Database


@contextlib.asynccontextmanager
async def exclusive(db: Database, name: str, *, timeout: float = 120.0) -> AsyncIterator[None]:
    """Hold the lock `name` for the block; TimeoutError after `timeout` seconds of waiting."""
    if db.dialect == "postgresql":
        key = zlib.crc32(f"enrollment-gateway:{name}".encode())
        async with db.engine.connect() as conn:
            async def try_lock() -> bool:
                got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
                await conn.commit()  # the session lock outlives the transaction; do not sit idle in one
                return bool(got)

            await _poll(try_lock, timeout, name)
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()
        return
    database = db.engine.url.database
    if not database or database == ":memory:":  # one process only: nobody to exclude
        yield
        return
    path = Path(f"{database}.{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        async def try_lock() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        await _poll(try_lock, timeout, name)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


async def _poll(try_lock, timeout: float, name: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await try_lock():
        if loop.time() >= deadline:
            raise TimeoutError(f"waited {timeout:g}s for the {name} lock held by another gateway process")
        await asyncio.sleep(0.05)
