"""SQLite plumbing under SQLAlchemy's aiosqlite dialect, tuned for the issuance hot path.

A small write transaction on SQLite costs far more in plumbing than in SQLite's own work:

- aiosqlite runs every call on the connection's worker thread, and SQLAlchemy's adapter makes three calls per
  statement (open cursor, execute, close) plus BEGIN and COMMIT. Each trip to the thread and back costs tens of
  microseconds (measured ~60 us on the 2-core CI machines), more than the INSERT itself.
  Here a cursor does execute + fetch + close in one trip; BEGIN travels with the transaction's first statement;
  and inside a write transaction (BEGIN IMMEDIATE, so the write lock is already ours and nothing can wait on
  busy_timeout) INSERT/UPDATE/DELETE and COMMIT run directly on the event loop's thread: they touch a few
  pages and return in microseconds. SELECTs, BEGIN and everything outside write transactions still go to the
  worker thread, so a long scan or a wait for another process's lock never blocks the loop.
- WAL auto-checkpoints run inside whichever COMMIT crosses the threshold, and they fsync: a 5-15 ms stall
  every few dozen transactions, while our writer lock is held. Connections here turn auto-checkpointing
  off and a `Checkpointer` task runs PASSIVE checkpoints on its own connection and thread, beside the writer.

This relies only on aiosqlite's `Connection._execute(fn)` (run `fn` on the worker thread), which every one of
aiosqlite's own methods is built on. The sqlite3 connection is opened with check_same_thread=False because
two threads take turns on it; they never overlap, since each call is awaited before the next is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from functools import partial
from typing import Any, Callable, Iterable, Sequence

import aiosqlite

PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers never block the writer, and commits are appends
    "PRAGMA synchronous=NORMAL",  # with WAL: no fsync per commit; a power cut may lose the last commits only
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",  # other processes (the CLI) may hold the write lock briefly
    "PRAGMA wal_autocheckpoint=0",  # the Checkpointer does it, off the writer's path
    "PRAGMA journal_size_limit=67108864",  # give back WAL space beyond 64 MiB after a checkpoint
)


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None takes transaction control away from the sqlite3 module (it BEGINs lazily and
    # commits before DDL), so SQLAlchemy's begin/commit are the real ones and migrations are transactional.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class _Cursor:
    """Enough of aiosqlite's cursor for SQLAlchemy's adapter; each execute is one trip to the thread."""

    arraysize = 1

    def __init__(self, conn: "Connection") -> None:
        self._conn = conn
        self._rows: list[Any] = []
        self.description: Sequence[Any] | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> "_Cursor":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        pass

    def _run(self, call: Callable[[sqlite3.Cursor], Any]) -> tuple[Any, list[Any], int, int | None]:
        cursor = self._conn._conn.cursor()  # on the worker thread, like every sqlite3 call here
        try:
            call(cursor)
            rows = cursor.fetchall() if cursor.description else []
            return cursor.description, rows, cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> "_Cursor":
        run = partial(self._run, lambda cur: cur.execute(sql, parameters))
        self.description, self._rows, self.rowcount, self.lastrowid = await self._conn.call(run, _is_dml(sql))
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> "_Cursor":
        run = partial(self._run, lambda cur: cur.executemany(sql, seq_of_parameters))
        self.description, self._rows, self.rowcount, self.lastrowid = await self._conn.call(run, _is_dml(sql))
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def close(self) -> None:
        self._rows = []


def _is_dml(sql: str) -> bool:
    return sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")


class Connection(aiosqlite.Connection):
    """An aiosqlite connection that makes as few trips to its worker thread as it safely can (see above)."""

    _begin: str | None = None  # the BEGIN to send along with the next statement
    _writing = False  # inside a BEGIN IMMEDIATE transaction: the write lock is held
    _reading = False  # inside a deferred (read-only) transaction: its COMMIT only drops the read snapshot

    def cursor(self) -> _Cursor:  # type: ignore[override]
        return _Cursor(self)

    def begin(self, immediate: bool) -> None:
        """Called from SQLAlchemy's `begin` event: open a transaction with the next statement."""
        self._begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    async def call(self, fn: Callable[[], Any], dml: bool) -> Any:
        if self._begin is not None:
            begin, self._begin = self._begin, None

            def begin_then() -> Any:
                self._conn.execute(begin)
                return fn()

            result = await self._execute(begin_then)
            self._writing = begin == "BEGIN IMMEDIATE"
            self._reading = not self._writing
            return result
        if dml and self._writing:
            return fn()
        return await self._execute(fn)

    async def commit(self) -> None:
        if self._begin is not None:  # nothing ran: there is no transaction to end
            self._begin = None
            return
        if self._writing or self._reading:
            # Ending a write transaction we hold the lock for, or a read one (in WAL a reader holds no lock that
            # anyone waits on), never waits: no need for a trip to the worker thread.
            self._writing = self._reading = False
            self._conn.commit()
            return
        await super().commit()

    async def rollback(self) -> None:
        if self._begin is not None:
            self._begin = None
            return
        self._writing = self._reading = False
        await super().rollback()


def async_creator(path: str) -> Callable[[], Connection]:
    """For `create_async_engine(async_creator=...)`: connections with our pragmas and cursors."""

    def create() -> Connection:
        conn = Connection(lambda: _connect(path), iter_chunk_size=64)
        conn._thread.daemon = True  # as SQLAlchemy does for aiosqlite: an unclosed one must not block exit
        return conn

    return create


class Checkpointer:
    """Runs PASSIVE WAL checkpoints on its own connection, after every `every` commits or `interval` seconds.

    PASSIVE never waits for readers or the writer, so the hot path is untouched; whatever it could not copy
    this time it copies next time.
    """

    def __init__(self, path: str, every: int = 256, interval: float = 1.0) -> None:
        self._path = path
        self._every = every
        self._interval = interval
        self._commits = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: aiosqlite.Connection | None = None

    async def start(self) -> None:
        conn = aiosqlite.Connection(lambda: sqlite3.connect(self._path, isolation_level=None), iter_chunk_size=64)
        conn._thread.daemon = True
        self._conn = await conn
        await self._conn.execute("PRAGMA busy_timeout=5000")
        self._task = asyncio.create_task(self._run(), name="sqlite-checkpointer")

    def committed(self) -> None:
        self._commits += 1
        if self._commits >= self._every:
            self._wake.set()

    async def checkpoint(self) -> None:
        self._commits = 0
        self._wake.clear()
        assert self._conn is not None
        await self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            try:
                await self.checkpoint()
            except sqlite3.Error:
                pass  # e.g. SQLITE_BUSY from another process's checkpoint: try again next round

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await self._conn.close()
