"""Issuance keeps each endpoint's profile and policy in memory; a change must still take effect at once.

The cache has no in-process invalidation on purpose: a change made through another instance is caught the same
way, by re-reading the rows in the transaction that records the decision. So changing the rows through this
instance's catalog tests exactly what another instance's change would do.
"""

from __future__ import annotations

import pytest

from enrollment_gateway.core.issuance import Issued
from enrollment_gateway.errors import ErrorKind, GatewayError

from test_issuance import counts, issue, make_csr

ALLOW_EXAMPLE = {"san": {"DNS": {"allow": ["*.example.com"]}}}
ALLOW_NOTHING = {"san": {"DNS": {"allow": []}}}


async def _endpoint(world, rules):
    _, ep = await world.profile("cached", rules)
    policy = next(p for p in await world.gateway.catalog.list_policies() if p.name == "cached-policy")
    return ep, policy


async def test_a_tightened_policy_refuses_the_next_request(world):
    ep, policy = await _endpoint(world, ALLOW_EXAMPLE)
    assert isinstance(await world.gateway.issuance.issue(issue(world, ep, csr=make_csr())), Issued)  # now cached
    await world.gateway.catalog.update_policy(world.admin, policy.id, rules=ALLOW_NOTHING)
    before = await counts(world)
    with pytest.raises(GatewayError) as err:
        await world.gateway.issuance.issue(issue(world, ep, csr=make_csr()))
    assert err.value.kind is ErrorKind.REJECTED_IDENTIFIER
    assert await counts(world) == before  # nothing issued on the outdated policy


async def test_a_relaxed_policy_is_not_refused_on_the_cached_one(world):
    ep, policy = await _endpoint(world, ALLOW_NOTHING)
    with pytest.raises(GatewayError):  # refused, and the context is now cached
        await world.gateway.issuance.issue(issue(world, ep, csr=make_csr()))
    await world.gateway.catalog.update_policy(world.admin, policy.id, rules=ALLOW_EXAMPLE)
    assert isinstance(await world.gateway.issuance.issue(issue(world, ep, csr=make_csr())), Issued)


async def test_a_detached_profile_is_no_longer_an_endpoint(world):
    app_id, ep = await world.profile("detached", ALLOW_EXAMPLE)
    assert isinstance(await world.gateway.issuance.issue(issue(world, ep, csr=make_csr())), Issued)
    await world.gateway.applications.detach_profile(world.admin, app_id, ep)
    with pytest.raises(GatewayError) as err:
        await world.gateway.issuance.issue(issue(world, ep, csr=make_csr()))
    assert err.value.kind is ErrorKind.NOT_FOUND
