"""Issuing over the API: numbers and text from the client are checked before the core sees them (issue 7, items
7, 9, 13, 15); each refusal is a 4xx problem and leaves the inventory as it was."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from api_helpers import Api, Pki, python_csr

ISSUE = "/endpoints/{}/certificates"
GOOD = {"subject": {"CN": "ok.example.com"}, "sans": ["DNS:ok.example.com"]}


async def _inventory(api: Api) -> tuple[int, int]:
    certs = (await api.ok("GET", "/certificates", params={"limit": "500"}))["items"]
    apps = (await api.ok("GET", "/applications"))["items"]
    return len(certs), len(apps)


BAD = [
    # (id, path template, raw JSON body, status)
    ("ttl 10^12", ISSUE, {**GOOD, "ttl": 10**12}, 400),
    ("ttl 10^12 days", ISSUE, {**GOOD, "ttl": "1000000000000d"}, 400),
    ("ttl of 20 digits", ISSUE, {**GOOD, "ttl": "99999999999999999999"}, 400),
    ("ttl beyond int64", ISSUE, '{"subject": {"CN": "a"}, "ttl": 100000000000000000000000}', 400),
    ("negative ttl", ISSUE, {**GOOD, "ttl": -5}, 400),
    ("not_before year 9999 west of UTC", ISSUE, {**GOOD, "not_before": "9999-12-31T23:00:00-05:00"}, 400),
    ("not_before year 1 east of UTC", ISSUE, {**GOOD, "not_before": "0001-01-01T00:30:00+01:00"}, 400),
    ("not_before year 9999", ISSUE, {**GOOD, "not_before": "9999-12-31T00:00:00Z"}, 400),
    ("not_after year 9999", ISSUE, {**GOOD, "not_after": "9999-12-31T00:00:00Z"}, 400),
    ("not_after past the CA", ISSUE, {**GOOD, "not_after": "2090-01-01T00:00:00Z"}, 422),
    ("not_before 30 days ahead", ISSUE, {**GOOD, "not_before": "+30d", "ttl": "1d"}, 422),
    ("lone surrogate in metadata value", ISSUE, '{"subject": {"CN": "ok.example.com"}, "metadata": {"k": "\\ud800"}}',
     400),
    ("lone surrogate in metadata key", ISSUE, '{"subject": {"CN": "ok.example.com"}, "metadata": {"\\udfff": "v"}}',
     400),
    ("lone surrogate in a SAN", ISSUE, '{"subject": {"CN": "a"}, "sans": ["DNS:\\ud800.example.com"]}', 400),
    ("lone surrogate in an application name", "/applications", '{"name": "team-\\ud800"}', 400),
    ("JSON nested 2000 deep", ISSUE, '{"metadata": ' + "[" * 2000 + "]" * 2000 + "}", 400),
    ("CN naming no SAN under tls_server", ISSUE, {"subject": {"CN": "a.example.com"}, "sans": ["DNS:b.example.com"]},
     422),
    ("invalid DNS SAN", ISSUE, {"subject": {"CN": "ok.example.com"}, "sans": ["DNS:ok.example.com", "DNS:-x.com"]},
     422),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
async def test_bad_numbers_and_text_are_4xx(api: Api, pki: Pki, gateway, case):
    _, path, body, status = case
    if isinstance(body, dict) and body.get("not_before") == "+30d":
        body = {**body, "not_before": (gateway.clock.now().replace(microsecond=0)
                                       + dt.timedelta(days=30)).isoformat()}
    raw = body if isinstance(body, str) else json.dumps(body)
    before = await _inventory(api)
    reply = await api.call("POST", path.format(pki.endpoint_id), raw=raw.encode(), content_type="application/json")
    assert reply.status == status, reply
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert await _inventory(api) == before


async def test_cn_and_sans_are_normalised_and_deduplicated(api: Api, pki: Pki):
    cert = await api.ok("POST", ISSUE.format(pki.endpoint_id), {
        "subject": {"CN": "UP.EXAMPLE.COM"},
        "sans": ["DNS:up.example.com", "DNS:up.example.com", "DNS:UP.EXAMPLE.COM"]}, status=201)
    assert cert["sans"] == ["DNS:up.example.com"]
    assert "CN=up.example.com" in cert["subject"]


async def test_csr_cn_in_capitals_is_issued_as_its_san(api: Api, pki: Pki):
    pem, _ = python_csr("UP.EXAMPLE.COM", dns=("up.example.com",))
    cert = await api.ok("POST", ISSUE.format(pki.endpoint_id), {"csr": pem}, status=201)
    assert cert["sans"] == ["DNS:up.example.com"] and "CN=up.example.com" in cert["subject"]


async def test_not_after_behavior_is_a_profile_setting(api: Api, pki: Pki):
    profile = await api.ok("PATCH", f"/profiles/{pki.profile_id}", {"defaults": {"not_after_behavior": "truncate"}})
    assert profile["defaults"]["not_after_behavior"] == "truncate"
    reply = await api.patch(f"/profiles/{pki.profile_id}", {"defaults": {"not_after_behavior": "permit"}})
    assert reply.status == 400, reply
    created = await api.ok("GET", f"/profiles/{pki.profile_id}")
    assert created["defaults"]["not_after_behavior"] == "truncate"
