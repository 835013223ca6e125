"""Gateway-wide facts every instance must agree on (migration 0008): the key-encryption key's check value and
the demo set-up. A small name → bytes table, so a new fact needs no migration of its own."""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary, String, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables as t
from .types import UTCDateTime

gateway_state = Table(
    "gateway_state",
    t.metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


class GatewayState:
    """Read and write named values through one transaction's connection (`GatewayState(tx.connection, tx.dialect)`)."""

    def __init__(self, conn: AsyncConnection, dialect: str) -> None:
        self._conn, self._dialect = conn, dialect

    async def get(self, name: str) -> bytes | None:
        row = (await self._conn.execute(select(gateway_state.c.value).where(gateway_state.c.name == name))).first()
        return None if row is None else bytes(row.value)

    async def add_if_absent(self, name: str, value: bytes, at) -> bool:
        """Insert unless another instance got there first (no error either way); True if this call inserted."""
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(gateway_state).values(name=name, value=value, updated_at=at).on_conflict_do_nothing()
        return (await self._conn.execute(stmt)).rowcount == 1

    async def put(self, name: str, value: bytes, at) -> None:
        if not await self.add_if_absent(name, value, at):
            await self._conn.execute(update(gateway_state).where(gateway_state.c.name == name)
                                     .values(value=value, updated_at=at))


def state_of(tx) -> GatewayState:
    """The gateway state seen through a `Tx` (a repository kept outside `Tx`, as the ACME tables are)."""
    return GatewayState(tx.connection, tx.dialect)
