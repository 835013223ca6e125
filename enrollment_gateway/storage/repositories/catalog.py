"""Policies, profiles, applications and the endpoints that attach a profile to an application."""

from __future__ import annotations

from typing import Any, Collection, Mapping

from sqlalchemy import LABEL_STYLE_TABLENAME_PLUS_COL, bindparam, delete, insert, select

from ...algorithms import HashAlgorithm, KeyAlgorithm
from ...domain import Application, Endpoint, Policy, Profile, ProfileDefaults
from .. import tables as t
from ._base import NamedRepository, Repository, conflicts


class PolicyRepository(NamedRepository[Policy]):
    table = t.policies
    what = "policy"

    def to_row(self, p: Policy) -> dict[str, Any]:
        return {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "rules": dict(p.rules),
            "created_at": p.created_at,
        }

    def from_row(self, r: Mapping[str, Any]) -> Policy:
        return Policy(
            id=r["id"], name=r["name"], rules=r["rules"], created_at=r["created_at"], description=r["description"]
        )


def defaults_to_json(d: ProfileDefaults) -> dict[str, Any]:
    return {
        "ttl_seconds": d.ttl_seconds,
        "key_algorithm": d.key_algorithm.value,
        "hash_algorithm": d.hash_algorithm.value if d.hash_algorithm else None,
        "key_usages": list(d.key_usages),
        "extended_key_usages": list(d.extended_key_usages),
        "is_ca": d.is_ca,
        "certificate_policies": list(d.certificate_policies),
        "not_after_behavior": d.not_after_behavior,
    }


def defaults_from_json(j: Mapping[str, Any]) -> ProfileDefaults:
    # Keys missing from older rows fall back to the dataclass defaults.
    kw: dict[str, Any] = {}
    if "ttl_seconds" in j:
        kw["ttl_seconds"] = int(j["ttl_seconds"])
    if "key_algorithm" in j:
        kw["key_algorithm"] = KeyAlgorithm(j["key_algorithm"])
    if j.get("hash_algorithm"):
        kw["hash_algorithm"] = HashAlgorithm(j["hash_algorithm"])
    if "key_usages" in j:
        kw["key_usages"] = tuple(j["key_usages"])
    if "extended_key_usages" in j:
        kw["extended_key_usages"] = tuple(j["extended_key_usages"])
    if "is_ca" in j:
        kw["is_ca"] = bool(j["is_ca"])
    if "certificate_policies" in j:
        kw["certificate_policies"] = tuple(j["certificate_policies"])
    if "not_after_behavior" in j:
        kw["not_after_behavior"] = str(j["not_after_behavior"])
    return ProfileDefaults(**kw)


class ProfileRepository(NamedRepository[Profile]):
    table = t.profiles
    what = "profile"

    def to_row(self, p: Profile) -> dict[str, Any]:
        return {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "ca_id": p.ca_id,
            "policy_id": p.policy_id,
            "defaults": defaults_to_json(p.defaults),
            "enrollment": {k: dict(v) for k, v in p.enrollment.items()},
            "approval_required": p.approval_required,
            "auto_renew": p.auto_renew,
            "renew_before_days": p.renew_before_days,
            "created_at": p.created_at,
        }

    def from_row(self, r: Mapping[str, Any]) -> Profile:
        return Profile(
            id=r["id"],
            name=r["name"],
            ca_id=r["ca_id"],
            policy_id=r["policy_id"],
            defaults=defaults_from_json(r["defaults"]),
            enrollment=r["enrollment"],
            approval_required=r["approval_required"],
            auto_renew=r["auto_renew"],
            renew_before_days=r["renew_before_days"],
            created_at=r["created_at"],
            description=r["description"],
        )

    async def list_for_policy(self, policy_id: str) -> list[Profile]:
        return await self._many(t.profiles.c.policy_id == policy_id)

    async def list_for_ca(self, ca_id: str) -> list[Profile]:
        return await self._many(t.profiles.c.ca_id == ca_id)

    async def _many(self, where: Any) -> list[Profile]:
        result = await self._conn.execute(select(t.profiles).where(where).order_by(t.profiles.c.name))
        return [self.from_row(r._mapping) for r in result]


class ApplicationRepository(NamedRepository[Application]):
    table = t.applications
    what = "application"

    def to_row(self, a: Application) -> dict[str, Any]:
        return {"id": a.id, "name": a.name, "description": a.description, "created_at": a.created_at}

    def from_row(self, r: Mapping[str, Any]) -> Application:
        return Application(id=r["id"], name=r["name"], description=r["description"], created_at=r["created_at"])

    async def list(self, ids: Collection[str] | None = None) -> list[Application]:  # type: ignore[override]
        """All applications, or only those in `ids` (an empty collection gives an empty list)."""
        query = select(t.applications).order_by(t.applications.c.name)
        if ids is not None:
            if not ids:
                return []
            query = query.where(t.applications.c.id.in_(list(ids)))
        return [self.from_row(r._mapping) for r in await self._conn.execute(query)]


def _endpoint(r: Mapping[str, Any]) -> Endpoint:
    return Endpoint(
        id=r["id"], application_id=r["application_id"], profile_id=r["profile_id"], created_at=r["created_at"]
    )


_ISSUANCE_CONTEXT = (
    select(t.endpoints, t.profiles, t.policies)
    .join_from(t.endpoints, t.profiles, t.profiles.c.id == t.endpoints.c.profile_id)
    .join(t.policies, t.policies.c.id == t.profiles.c.policy_id)
    .where(t.endpoints.c.id == bindparam("endpoint_id"))
    .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL)
)


class EndpointRepository(Repository):
    async def add(self, e: Endpoint) -> None:
        with conflicts("endpoint for this application and profile"):
            await self._conn.execute(
                insert(t.endpoints),
                {
                    "id": e.id,
                    "application_id": e.application_id,
                    "profile_id": e.profile_id,
                    "created_at": e.created_at,
                },
            )

    async def get(self, id: str) -> Endpoint | None:
        return await self._one(t.endpoints.c.id == id)

    async def find(self, application_id: str, profile_id: str) -> Endpoint | None:
        e = t.endpoints.c
        return await self._one((e.application_id == application_id) & (e.profile_id == profile_id))

    async def issuance_context(self, id: str) -> tuple[Endpoint, Profile, Policy] | None:
        """The endpoint with its profile and that profile's policy, in one query: issuance reads them every time."""
        row = (await self._conn.execute(_ISSUANCE_CONTEXT, {"endpoint_id": id})).first()
        if row is None:
            return None
        m = row._mapping
        part = lambda table: {c.name: m[f"{table.name}_{c.name}"] for c in table.c}  # noqa: E731
        profiles, policies = ProfileRepository(self._conn, self._dialect), PolicyRepository(self._conn, self._dialect)
        return _endpoint(part(t.endpoints)), profiles.from_row(part(t.profiles)), policies.from_row(part(t.policies))

    async def list_for_application(self, application_id: str) -> list[Endpoint]:
        return await self._many(t.endpoints.c.application_id == application_id)

    async def list_for_profile(self, profile_id: str) -> list[Endpoint]:
        return await self._many(t.endpoints.c.profile_id == profile_id)

    async def delete(self, id: str) -> bool:
        with conflicts("endpoint", in_use=True):
            result = await self._conn.execute(delete(t.endpoints).where(t.endpoints.c.id == id))
        return result.rowcount > 0

    async def _one(self, where: Any) -> Endpoint | None:
        row = (await self._conn.execute(select(t.endpoints).where(where))).first()
        return None if row is None else _endpoint(row._mapping)

    async def _many(self, where: Any) -> list[Endpoint]:
        query = select(t.endpoints).where(where).order_by(t.endpoints.c.created_at, t.endpoints.c.id)
        return [_endpoint(r._mapping) for r in await self._conn.execute(query)]
