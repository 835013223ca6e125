"""What every repository shares: the transaction's connection and the mapping of constraint errors."""

from __future__ import annotations

import contextlib
from typing import Any, Generic, Iterator, Mapping, TypeVar

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ...errors import ErrorKind, GatewayError

T = TypeVar("T")


class Repository:
    """A view of some tables through one transaction's connection."""

    def __init__(self, conn: AsyncConnection, dialect: str) -> None:
        self._conn = conn
        self._dialect = dialect


def _violation(exc: IntegrityError) -> str:
    """'unique', 'foreign_key' or 'other', read from asyncpg's SQLSTATE or SQLite's message."""
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code == "23505":
        return "unique"
    if code == "23503":
        return "foreign_key"
    message = str(orig)
    if "UNIQUE constraint failed" in message:
        return "unique"
    if "FOREIGN KEY constraint failed" in message:
        return "foreign_key"
    return "other"


@contextlib.contextmanager
def conflicts(what: str, *, in_use: bool = False) -> Iterator[None]:
    """Turn a constraint violation into CONFLICT. On PostgreSQL the transaction is then unusable: let it propagate.

    `in_use=True` is for deletes, where a foreign key violation means something still refers to the row.
    """
    try:
        yield
    except IntegrityError as exc:
        kind = _violation(exc)
        if kind == "unique":
            raise GatewayError(ErrorKind.CONFLICT, f"{what} already exists") from exc
        if kind == "foreign_key":
            detail = f"{what} is in use" if in_use else f"{what} refers to a record that does not exist"
            raise GatewayError(ErrorKind.CONFLICT, detail) from exc
        raise


class NamedRepository(Repository, Generic[T]):
    """add/get/get_by_name/list/update/delete for a table with a unique `name`; subclasses map rows."""

    table: Table
    what: str  # "policy", used in error messages

    def to_row(self, item: T) -> dict[str, Any]:
        raise NotImplementedError

    def from_row(self, row: Mapping[str, Any]) -> T:
        raise NotImplementedError

    async def add(self, item: T) -> None:
        with conflicts(f"{self.what} {getattr(item, 'name')!r}"):
            await self._conn.execute(insert(self.table), self.to_row(item))

    async def get(self, id: str) -> T | None:
        return await self._one(self.table.c.id == id)

    async def get_by_name(self, name: str) -> T | None:
        return await self._one(self.table.c.name == name)

    async def list(self) -> list[T]:
        result = await self._conn.execute(select(self.table).order_by(self.table.c.name))
        return [self.from_row(row._mapping) for row in result]

    async def update(self, item: T) -> None:
        """Write every field but id and created_at; NOT_FOUND if the row is gone."""
        values = self.to_row(item)
        id = values.pop("id")
        values.pop("created_at")
        with conflicts(f"{self.what} {getattr(item, 'name')!r}"):
            result = await self._conn.execute(update(self.table).where(self.table.c.id == id).values(values))
        if result.rowcount == 0:
            raise GatewayError(ErrorKind.NOT_FOUND, f"{self.what} not found")

    async def delete(self, id: str) -> bool:
        """False if there was no such row; CONFLICT if other rows still refer to it."""
        with conflicts(self.what, in_use=True):
            result = await self._conn.execute(delete(self.table).where(self.table.c.id == id))
        return result.rowcount > 0

    async def _one(self, where: Any) -> T | None:
        row = (await self._conn.execute(select(self.table).where(where))).first()
        return None if row is None else self.from_row(row._mapping)
