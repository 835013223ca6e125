"""Policies and profiles: the rulebooks and the bundles (CA + policy + defaults) applications attach."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any, Mapping

from ..domain import Actor, EnrollmentMethod, Policy, Profile, ProfileDefaults
from ..errors import conflict, malformed, not_found
from ..policy import PolicyRules
from .access import require_superadmin
from .audit import Auditor
from .clock import Clock
from .issuance_rules import NOT_AFTER_BEHAVIORS


class Catalog:
    def __init__(self, db, clock: Clock, auditor: Auditor) -> None:
        self._db, self._clock, self._audit = db, clock, auditor

    # --- policies ------------------------------------------------------------------------------------------------

    async def create_policy(self, actor: Actor, *, name: str, rules: Mapping[str, Any], description: str = "") -> Policy:
        require_superadmin(actor)
        parsed = PolicyRules.from_json(rules)
        policy = Policy(id=uuid.uuid4().hex, name=name, rules=parsed.to_json(), created_at=self._clock.now(),
                        description=description)
        async with self._db.transaction() as tx:
            await tx.policies.add(policy)
            await self._audit.record(tx, actor, "policy.created", "policy", policy.id, name=name)
        return policy

    async def update_policy(self, actor: Actor, policy_id: str, *, rules: Mapping[str, Any] | None = None,
                            description: str | None = None, name: str | None = None) -> Policy:
        require_superadmin(actor)
        async with self._db.transaction() as tx:
            policy = await tx.policies.get(policy_id)
            if policy is None:
                raise not_found("policy")
            changes: dict[str, Any] = {}
            if rules is not None:
                changes["rules"] = PolicyRules.from_json(rules).to_json()
            if description is not None:
                changes["description"] = description
            if name is not None:
                changes["name"] = name
            updated = replace(policy, **changes)
            await tx.policies.update(updated)
            await self._audit.record(tx, actor, "policy.changed", "policy", policy_id, changed=sorted(changes))
        return updated

    async def delete_policy(self, actor: Actor, policy_id: str) -> None:
        require_superadmin(actor)
        async with self._db.transaction() as tx:
            if await tx.profiles.list_for_policy(policy_id):
                raise conflict("the policy is used by a profile")
            if not await tx.policies.delete(policy_id):
                raise not_found("policy")
            await self._audit.record(tx, actor, "policy.deleted", "policy", policy_id)

    async def get_policy(self, policy_id: str) -> Policy:
        async with self._db.transaction() as tx:
            policy = await tx.policies.get(policy_id)
        if policy is None:
            raise not_found("policy")
        return policy

    async def list_policies(self) -> list[Policy]:
        async with self._db.transaction() as tx:
            return await tx.policies.list()

    # --- profiles ------------------------------------------------------------------------------------------------

    async def create_profile(
        self,
        actor: Actor,
        *,
        name: str,
        ca_id: str | None,
        policy_id: str,
        defaults: ProfileDefaults,
        enrollment: Mapping[str, Mapping[str, Any]],
        approval_required: bool = False,
        auto_renew: bool = False,
        renew_before_days: int = 30,
        description: str = "",
    ) -> Profile:
        require_superadmin(actor)
        _check_enrollment(enrollment)
        _check_defaults(defaults)
        profile = Profile(
            id=uuid.uuid4().hex, name=name, ca_id=ca_id, policy_id=policy_id, defaults=defaults,
            enrollment={k: dict(v) for k, v in enrollment.items()}, approval_required=approval_required,
            auto_renew=auto_renew, renew_before_days=renew_before_days, created_at=self._clock.now(),
            description=description,
        )
        async with self._db.transaction() as tx:
            await self._check_refs(tx, profile)
            await tx.profiles.add(profile)
            await self._audit.record(tx, actor, "profile.created", "profile", profile.id, name=name)
        return profile

    async def update_profile(self, actor: Actor, profile_id: str, **changes: Any) -> Profile:
        require_superadmin(actor)
        allowed = {"name", "ca_id", "policy_id", "defaults", "enrollment", "approval_required", "auto_renew",
                   "renew_before_days", "description"}
        unknown = set(changes) - allowed
        if unknown:
            raise malformed(f"unknown profile fields: {', '.join(sorted(unknown))}")
        if "enrollment" in changes:
            _check_enrollment(changes["enrollment"])
        if "defaults" in changes:
            _check_defaults(changes["defaults"])
        async with self._db.transaction() as tx:
            profile = await tx.profiles.get(profile_id)
            if profile is None:
                raise not_found("profile")
            updated = replace(profile, **changes)
            await self._check_refs(tx, updated)
            await tx.profiles.update(updated)
            await self._audit.record(tx, actor, "profile.changed", "profile", profile_id, changed=sorted(changes))
        return updated

    async def delete_profile(self, actor: Actor, profile_id: str) -> None:
        require_superadmin(actor)
        async with self._db.transaction() as tx:
            if await tx.endpoints.list_for_profile(profile_id):
                raise conflict("the profile is attached to an application")
            if not await tx.profiles.delete(profile_id):
                raise not_found("profile")
            await self._audit.record(tx, actor, "profile.deleted", "profile", profile_id)

    async def get_profile(self, profile_id: str) -> Profile:
        async with self._db.transaction() as tx:
            profile = await tx.profiles.get(profile_id)
        if profile is None:
            raise not_found("profile")
        return profile

    async def list_profiles(self) -> list[Profile]:
        async with self._db.transaction() as tx:
            return await tx.profiles.list()

    @staticmethod
    async def _check_refs(tx, profile: Profile) -> None:
        if await tx.policies.get(profile.policy_id) is None:
            raise not_found("policy")
        if profile.ca_id is not None and await tx.cas.get(profile.ca_id) is None:
            raise not_found("certificate authority")


def _check_defaults(defaults: ProfileDefaults) -> None:
    if defaults.not_after_behavior not in NOT_AFTER_BEHAVIORS:
        raise malformed(f"defaults.not_after_behavior: expected one of {', '.join(NOT_AFTER_BEHAVIORS)}")


def _check_enrollment(enrollment: Mapping[str, Any]) -> None:
    known = {m.value for m in EnrollmentMethod}
    if not isinstance(enrollment, Mapping):
        raise malformed("enrollment must be an object of method -> settings")
    for method, settings in enrollment.items():
        if method not in known:
            raise malformed(f"enrollment.{method}: unknown method (known: {', '.join(sorted(known))})")
        if not isinstance(settings, Mapping):
            raise malformed(f"enrollment.{method}: settings must be an object")
