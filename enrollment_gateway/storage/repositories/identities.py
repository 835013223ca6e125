"""Identities (people and machines with bearer tokens) and their roles in applications."""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import bindparam, delete, insert, select, update

from ...domain import Identity, IdentityKind, Membership, Role
from ...errors import not_found
from .. import tables as t
from ._base import Repository, conflicts

_IDENTITY_COLUMNS = [c for c in t.identities.c if c.name != "token_hash"]
# Every API request authenticates with these two; built once, so SQLAlchemy's cache key is memoised.
_BY_TOKEN_HASH = select(*_IDENTITY_COLUMNS).where(t.identities.c.token_hash == bindparam("token_hash"))
_ROLES_OF = select(t.memberships.c.application_id, t.memberships.c.role).where(
    t.memberships.c.identity_id == bindparam("identity_id"))


def _identity_row(i: Identity) -> dict[str, Any]:
    return {
        "id": i.id,
        "name": i.name,
        "kind": i.kind.value,
        "superadmin": i.superadmin,
        "bypass_approval": i.bypass_approval,
        "disabled": i.disabled,
        "expires_at": i.expires_at,
        "created_at": i.created_at,
    }


def _identity(r: Mapping[str, Any]) -> Identity:
    return Identity(
        id=r["id"],
        name=r["name"],
        kind=IdentityKind(r["kind"]),
        superadmin=r["superadmin"],
        bypass_approval=r["bypass_approval"],
        created_at=r["created_at"],
        disabled=r["disabled"],
        expires_at=r["expires_at"],
    )


class IdentityRepository(Repository):
    async def add(self, identity: Identity, token_hash: str) -> None:
        with conflicts(f"identity {identity.name!r}"):
            await self._conn.execute(insert(t.identities), {**_identity_row(identity), "token_hash": token_hash})

    async def get(self, id: str) -> Identity | None:
        return await self._one(t.identities.c.id == id)

    async def by_token_hash(self, token_hash: str) -> Identity | None:
        row = (await self._conn.execute(_BY_TOKEN_HASH, {"token_hash": token_hash})).first()
        return None if row is None else _identity(row._mapping)

    async def list(self) -> list[Identity]:
        query = select(*_IDENTITY_COLUMNS).order_by(t.identities.c.name, t.identities.c.id)
        return [_identity(r._mapping) for r in await self._conn.execute(query)]

    async def update(self, identity: Identity) -> None:
        """Write every field but id and created_at (the token hash has its own method); NOT_FOUND if gone."""
        values = _identity_row(identity)
        del values["id"], values["created_at"]
        result = await self._conn.execute(
            update(t.identities).where(t.identities.c.id == identity.id).values(values)
        )
        if result.rowcount == 0:
            raise not_found("identity")

    async def set_token_hash(self, id: str, token_hash: str) -> bool:
        with conflicts("token"):
            result = await self._conn.execute(
                update(t.identities).where(t.identities.c.id == id).values(token_hash=token_hash)
            )
        return result.rowcount > 0

    async def _one(self, where: Any) -> Identity | None:
        row = (await self._conn.execute(select(*_IDENTITY_COLUMNS).where(where))).first()
        return None if row is None else _identity(row._mapping)


class MembershipRepository(Repository):
    async def add(self, m: Membership) -> None:
        with conflicts("membership"):
            await self._conn.execute(
                insert(t.memberships),
                {
                    "application_id": m.application_id,
                    "identity_id": m.identity_id,
                    "role": m.role.value,
                    "created_at": m.created_at,
                },
            )

    async def remove(self, application_id: str, identity_id: str) -> bool:
        result = await self._conn.execute(
            delete(t.memberships).where(
                t.memberships.c.application_id == application_id, t.memberships.c.identity_id == identity_id
            )
        )
        return result.rowcount > 0

    async def list_for_application(self, application_id: str) -> list[Membership]:
        query = (
            select(t.memberships)
            .where(t.memberships.c.application_id == application_id)
            .order_by(t.memberships.c.created_at, t.memberships.c.identity_id)
        )
        return [
            Membership(r.application_id, r.identity_id, Role(r.role), r.created_at)
            for r in await self._conn.execute(query)
        ]

    async def roles_of(self, identity_id: str) -> dict[str, Role]:
        """Application id -> role, for building an Actor."""
        rows = await self._conn.execute(_ROLES_OF, {"identity_id": identity_id})
        return {r.application_id: Role(r.role) for r in rows}
