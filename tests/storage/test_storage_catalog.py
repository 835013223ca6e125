"""CAs, keys, policies, profiles, applications, endpoints, identities and memberships, on both engines."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

import storage_builders as b
from enrollment_gateway.domain import CAStatus, IdentityKind, Membership, Role
from enrollment_gateway.errors import ErrorKind, GatewayError


async def test_cas(database):
    root = b.ca(name="root")
    sub = b.ca(name="sub", parent_id=root.id, chain_pem="ROOT PEM", hash_algorithm=None, path_length=None)
    async with database.transaction() as tx:
        await tx.cas.add(root, b"root-key")
        await tx.cas.add(sub, b"sub-key")
    async with database.transaction() as tx:
        assert await tx.cas.get(root.id) == root
        assert await tx.cas.get_by_name("sub") == sub
        assert await tx.cas.get("missing") is None
        assert await tx.cas.list() == [root, sub]
        assert await tx.cas.key_blob(sub.id) == b"sub-key"
        changed = replace(sub, status=CAStatus.DISABLED, certificate_pem=None, csr_pem="CSR", external_parent=True)
        await tx.cas.update(changed)
        assert await tx.cas.get(sub.id) == changed
        assert await tx.cas.key_blob(sub.id) == b"sub-key"
        await tx.cas.update(changed, key_blob=b"new-key")
        assert await tx.cas.key_blob(sub.id) == b"new-key"
        with pytest.raises(GatewayError) as info:
            await tx.cas.key_blob("missing")
        assert info.value.kind is ErrorKind.NOT_FOUND


async def test_keys(database):
    early, late = b.NOW, b.NOW + dt.timedelta(days=1)
    async with database.transaction() as tx:
        assert await tx.keys.latest("ca-1", "ocsp") is None
        await tx.keys.put("k1", "ca-1", "ocsp", b"one", early)
        await tx.keys.put("k2", "ca-1", "ocsp", b"two", late)
        await tx.keys.put("k3", "ca-1", "other", b"three", late + dt.timedelta(days=1))
        assert await tx.keys.get("k1") == b"one"
        assert await tx.keys.get("missing") is None
        assert await tx.keys.latest("ca-1", "ocsp") == ("k2", b"two")


async def test_policies_and_profiles(database):
    async with database.transaction() as tx:
        app, prof, authority = await b.seed(tx)
        self_signed = b.profile(prof.policy_id, None, name="zz-self-signed")
        await tx.profiles.add(self_signed)
    async with database.transaction() as tx:
        assert await tx.profiles.get(prof.id) == prof
        assert await tx.profiles.get_by_name(prof.name) == prof
        assert await tx.profiles.list() == [prof, self_signed]
        assert await tx.profiles.list_for_policy(prof.policy_id) == [prof, self_signed]
        assert await tx.profiles.list_for_ca(authority.id) == [prof]
        changed = replace(prof, approval_required=True, enrollment={}, defaults=replace(prof.defaults, is_ca=True))
        await tx.profiles.update(changed)
        assert await tx.profiles.get(prof.id) == changed
        pol = await tx.policies.get(prof.policy_id)
        await tx.policies.update(replace(pol, rules={"dns": []}, description="d"))
        assert (await tx.policies.get_by_name(pol.name)).rules == {"dns": []}


async def test_applications(database):
    apps = [b.application(name=n) for n in ("b", "a", "c")]
    async with database.transaction() as tx:
        for a in apps:
            await tx.applications.add(a)
    async with database.transaction() as tx:
        assert [a.name for a in await tx.applications.list()] == ["a", "b", "c"]
        assert [a.name for a in await tx.applications.list([apps[0].id, apps[2].id])] == ["b", "c"]
        assert await tx.applications.list([]) == []
        await tx.applications.update(replace(apps[0], description="renamed", name="bb"))
        assert (await tx.applications.get_by_name("bb")).description == "renamed"
        assert await tx.applications.delete(apps[1].id) is True
        assert await tx.applications.delete(apps[1].id) is False
        with pytest.raises(GatewayError) as info:
            await tx.applications.update(apps[1])
        assert info.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.parametrize("kind", ["cas", "policies", "profiles", "applications"])
async def test_names_are_unique_per_kind(database, kind):
    async with database.transaction() as tx:
        app, prof, authority = await b.seed(tx)
    existing = {"cas": authority, "policies": None, "profiles": prof, "applications": app}[kind]
    async with database.transaction() as tx:
        if kind == "policies":
            existing = await tx.policies.get(prof.policy_id)
    with pytest.raises(GatewayError) as info:
        async with database.transaction() as tx:
            clash = replace(existing, id=b.new_id())
            if kind == "cas":
                await tx.cas.add(clash, b"k")
            else:
                await getattr(tx, kind).add(clash)
    assert info.value.kind is ErrorKind.CONFLICT
    assert "already exists" in info.value.detail


async def test_renaming_onto_a_taken_name_conflicts(database):
    one, two = b.application(name="one"), b.application(name="two")
    async with database.transaction() as tx:
        await tx.applications.add(one)
        await tx.applications.add(two)
    with pytest.raises(GatewayError) as info:
        async with database.transaction() as tx:
            await tx.applications.update(replace(two, name="one"))
    assert info.value.kind is ErrorKind.CONFLICT


async def test_deleting_what_is_in_use_conflicts(database):
    async with database.transaction() as tx:
        app, prof, _ = await b.seed(tx)
        await tx.endpoints.add(b.endpoint(app.id, prof.id))
    with pytest.raises(GatewayError) as info:
        async with database.transaction() as tx:
            await tx.profiles.delete(prof.id)
    assert info.value.kind is ErrorKind.CONFLICT
    assert "in use" in info.value.detail


async def test_endpoints(database):
    async with database.transaction() as tx:
        app, prof, _ = await b.seed(tx)
        other_app = b.application()
        await tx.applications.add(other_app)
        e1, e2 = b.endpoint(app.id, prof.id), b.endpoint(other_app.id, prof.id)
        await tx.endpoints.add(e1)
        await tx.endpoints.add(e2)
    async with database.transaction() as tx:
        assert await tx.endpoints.get(e1.id) == e1
        assert await tx.endpoints.find(app.id, prof.id) == e1
        assert await tx.endpoints.find(app.id, "nope") is None
        assert await tx.endpoints.list_for_application(app.id) == [e1]
        assert {e.id for e in await tx.endpoints.list_for_profile(prof.id)} == {e1.id, e2.id}
        assert await tx.endpoints.delete(e2.id) is True
        assert await tx.endpoints.delete(e2.id) is False
    with pytest.raises(GatewayError) as info:
        async with database.transaction() as tx:
            await tx.endpoints.add(b.endpoint(app.id, prof.id))  # UNIQUE(application, profile)
    assert info.value.kind is ErrorKind.CONFLICT


async def test_identities(database):
    alice = b.identity(name="alice")
    robot = b.identity(name="robot", kind=IdentityKind.MACHINE, expires_at=b.NOW + dt.timedelta(days=1))
    async with database.transaction() as tx:
        await tx.identities.add(alice, "hash-a")
        await tx.identities.add(robot, "hash-r")
    async with database.transaction() as tx:
        assert await tx.identities.get(robot.id) == robot
        assert await tx.identities.by_token_hash("hash-a") == alice
        assert await tx.identities.by_token_hash("nope") is None
        assert await tx.identities.list() == [alice, robot]
        changed = replace(alice, superadmin=True, bypass_approval=True, disabled=True)
        await tx.identities.update(changed)
        assert await tx.identities.get(alice.id) == changed
        assert await tx.identities.set_token_hash(alice.id, "hash-a2") is True
        assert await tx.identities.by_token_hash("hash-a") is None
        assert await tx.identities.by_token_hash("hash-a2") == changed
        assert await tx.identities.set_token_hash("missing", "x") is False
    with pytest.raises(GatewayError) as info:
        async with database.transaction() as tx:
            await tx.identities.set_token_hash(robot.id, "hash-a2")
    assert info.value.kind is ErrorKind.CONFLICT


async def test_memberships(database):
    alice = b.identity()
    apps = [b.application(), b.application()]
    async with database.transaction() as tx:
        await tx.identities.add(alice, "h")
        for a in apps:
            await tx.applications.add(a)
        m0 = Membership(apps[0].id, alice.id, Role.ADMIN, b.NOW)
        m1 = Membership(apps[1].id, alice.id, Role.AUDITOR, b.NOW)
        await tx.memberships.add(m0)
        await tx.memberships.add(m1)
    async with database.transaction() as tx:
        assert await tx.memberships.list_for_application(apps[0].id) == [m0]
        assert await tx.memberships.roles_of(alice.id) == {apps[0].id: Role.ADMIN, apps[1].id: Role.AUDITOR}
        assert await tx.memberships.remove(apps[1].id, alice.id) is True
        assert await tx.memberships.remove(apps[1].id, alice.id) is False
        assert await tx.memberships.roles_of(alice.id) == {apps[0].id: Role.ADMIN}
    with pytest.raises(GatewayError) as info:
        async with database.transaction() as tx:
            await tx.memberships.add(replace(m0, role=Role.OPERATOR))
    assert info.value.kind is ErrorKind.CONFLICT
    async with database.transaction() as tx:  # memberships go with their application
        assert await tx.applications.delete(apps[0].id) is True
        assert await tx.memberships.roles_of(alice.id) == {}
