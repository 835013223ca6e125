"""Scope: an admin of application A can neither see nor touch anything of application B, on every route."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from api_helpers import Api, Pki, make_profile, new_member

ISSUE = {"subject": {"CN": "b.example.com"}, "sans": ["DNS:b.example.com"]}


@dataclass
class Two:
    a_admin: Api
    pki: Pki
    app_b: str
    endpoint_b: str
    cert_b: str
    request_b: str
    member_b: str


@pytest.fixture
async def two(api: Api, pki: Pki) -> Two:
    app_b = await api.ok("POST", "/applications", {"name": "app-b"}, status=201)
    endpoint_b = await api.ok("POST", f"/applications/{app_b['id']}/endpoints", {"profile_id": pki.profile_id},
                              status=201)
    approval = await make_profile(api, "b-approval", pki.issuing_id, policy_id=pki.policy_id, approval_required=True)
    endpoint_b2 = await api.ok("POST", f"/applications/{app_b['id']}/endpoints", {"profile_id": approval["id"]},
                               status=201)
    cert_b = await api.ok("POST", f"/endpoints/{endpoint_b['id']}/certificates", ISSUE, status=201)
    request_b = await api.ok("POST", f"/endpoints/{endpoint_b2['id']}/certificates", ISSUE, status=202)
    member_b = await api.ok("POST", f"/applications/{app_b['id']}/machine-identities", {"name": "b-bot"}, status=201)
    # A's own objects, so A's listings are not trivially empty.
    await api.ok("POST", f"/endpoints/{pki.endpoint_id}/certificates",
                 {"subject": {"CN": "a.example.com"}, "sans": ["DNS:a.example.com"]}, status=201)
    a_admin = api.as_(await new_member(api, pki.app_id, "admin"))
    return Two(a_admin, pki, app_b["id"], endpoint_b["id"], cert_b["id"], request_b["id"],
               member_b["identity"]["id"])


ROUTES = [
    ("GET", "/applications/{app_b}", None),
    ("PATCH", "/applications/{app_b}", {"description": "mine now"}),
    ("DELETE", "/applications/{app_b}", None),
    ("GET", "/applications/{app_b}/endpoints", None),
    ("POST", "/applications/{app_b}/endpoints", {"profile_id": "{profile}"}),
    ("DELETE", "/applications/{app_b}/endpoints/{endpoint_b}", None),
    ("GET", "/applications/{app_b}/members", None),
    ("POST", "/applications/{app_b}/members", {"identity_id": "{member_b}", "role": "admin"}),
    ("DELETE", "/applications/{app_b}/members/{member_b}", None),
    ("POST", "/applications/{app_b}/machine-identities", {"name": "intruder"}),
    ("POST", "/identities/{member_b}/token", None),
    ("PATCH", "/identities/{member_b}", {"disabled": True}),
    ("GET", "/applications/{app_b}/audit", None),
    ("GET", "/audit?application_id={app_b}", None),
    ("GET", "/applications/{app_b}/profiles/{profile}/latest", None),
    ("POST", "/endpoints/{endpoint_b}/certificates", ISSUE),
    ("POST", "/endpoints/{endpoint_a}/certificates", {**ISSUE, "replaces": "{cert_b}"}),  # renewing B's certificate
    ("GET", "/certificates?application_id={app_b}", None),
    ("GET", "/certificates/{cert_b}", None),
    ("PATCH", "/certificates/{cert_b}", {"metadata": {"owner": "a"}}),
    ("DELETE", "/certificates/{cert_b}", None),
    ("GET", "/certificates/{cert_b}/pem", None),
    ("GET", "/certificates/{cert_b}/pem?include_key=true", None),
    ("POST", "/certificates/{cert_b}/pkcs12", {"password": "pw"}),
    ("GET", "/requests?application_id={app_b}", None),
    ("GET", "/requests/{request_b}", None),
    ("POST", "/requests/{request_b}/approve", None),
    ("POST", "/requests/{request_b}/reject", {"reason": "mine"}),
]


def _fill(value, two: Two):
    names = {"app_b": two.app_b, "endpoint_b": two.endpoint_b, "cert_b": two.cert_b, "request_b": two.request_b,
             "member_b": two.member_b, "profile": two.pki.profile_id, "endpoint_a": two.pki.endpoint_id}
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, two) for k, v in value.items()}
    return value


@pytest.mark.parametrize("method, path, body", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_other_application_is_not_found(api: Api, two: Two, method: str, path: str, body) -> None:
    before = await api.ok("GET", "/certificates")
    reply = await two.a_admin.call(method, _fill(path, two), _fill(body, two))
    assert reply.status == 404, reply
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    # Nothing of B changed, and the same route does exist for someone entitled to B.
    assert await api.ok("GET", "/certificates") == before
    assert (await api.ok("GET", f"/requests/{two.request_b}"))["status"] == "pending"
    if "replaces" not in (body or {}):  # renewing B's certificate from A is refused to everyone
        control = await api.call(method, _fill(path, two), _fill(body, two))
        assert control.status != 404, control


async def test_listings_never_show_the_other_application(api: Api, two: Two) -> None:
    a = two.a_admin
    b_ids = {two.app_b, two.endpoint_b, two.cert_b, two.request_b, two.member_b}

    async def seen(path: str) -> set[str]:
        items = (await a.ok("GET", path))["items"]
        return {str(v) for item in items for v in item.values() if isinstance(v, str)}

    assert {x["id"] for x in (await a.ok("GET", "/applications"))["items"]} == {two.pki.app_id}
    for path in ("/certificates", "/requests", "/audit", f"/applications/{two.pki.app_id}/audit",
                 f"/applications/{two.pki.app_id}/members", f"/applications/{two.pki.app_id}/endpoints"):
        assert not (await seen(path)) & b_ids, path
    assert len((await a.ok("GET", "/certificates"))["items"]) == 1
    for path in ("/cas", "/policies", "/profiles", "/identities"):
        assert (await a.get(path)).status == 403  # gateway-wide objects are for gateway administrators
