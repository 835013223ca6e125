"""Bad input: each gets a clear 4xx problem document, leaves the database unchanged, and is audited if refused."""

from __future__ import annotations

import base64
import datetime as dt
import os

import pytest

from enrollment_gateway.domain import SYSTEM_ACTOR, IdentityKind

from api_helpers import MAX_BODY, Api, Pki, broken_signature_csr, python_csr, rsa1024_csr

GOOD = {"subject": {"CN": "ok.example.com"}, "sans": ["DNS:ok.example.com"]}
ISSUE = "/endpoints/{endpoint}/certificates"

CASES = [
    # (id, method, path, json body or raw bytes, content type, status, audited action)
    ("malformed PEM", "POST", ISSUE,
     {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot*base64\n-----END CERTIFICATE REQUEST-----\n"},
     None, 422, "request.refused"),
    ("DER garbage", "POST", ISSUE, {"csr": base64.b64encode(b"\x30\x82\x01\x00" + os.urandom(256)).decode()},
     None, 422, "request.refused"),
    ("broken CSR signature", "POST", ISSUE, {"csr": broken_signature_csr("x.example.com")}, None, 422,
     "request.refused"),
    ("RSA-1024 CSR", "POST", ISSUE, {"csr": rsa1024_csr("weak.example.com")}, None, 422, "request.refused"),
    ("CSR and key algorithm both", "POST", ISSUE, {"csr": python_csr("a.example.com", dns=("a.example.com",))[0],
                                                   "key_algorithm": "ECDSA_P256"}, None, 400, "request.refused"),
    ("unknown endpoint", "POST", "/endpoints/0123456789abcdef/certificates", GOOD, None, 404, None),
    ("unknown profile", "POST", "/applications/{app}/endpoints", {"profile_id": "f" * 32}, None, 404, None),
    ("unknown key algorithm", "POST", ISSUE, {**GOOD, "key_algorithm": "RSA_1024"}, None, 400, None),
    ("invalid JSON", "POST", ISSUE, b'{"subject": ', "application/json", 400, None),
    ("JSON array", "POST", ISSUE, b'[{"subject": {"CN": "x"}}]', "application/json", 400, None),
    ("NaN is not JSON", "POST", ISSUE, b'{"ttl": NaN}', "application/json", 400, None),
    ("wrong field type", "POST", ISSUE, {"subject": {"CN": "a"}, "sans": "DNS:a"}, None, 400, None),
    ("unknown field", "POST", ISSUE, {**GOOD, "tll": "9d"}, None, 400, None),
    ("bad SAN syntax", "POST", ISSUE, {"subject": {"CN": "a"}, "sans": ["dns-a.example.com"]}, None, 400, None),
    ("not JSON content type", "POST", ISSUE, b"subject=x", "application/x-www-form-urlencoded", 415, None),
    ("oversized body", "POST", ISSUE, {"csr": "A" * (MAX_BODY + 1)}, None, 413, None),
    ("bad ttl", "POST", ISSUE, {**GOOD, "ttl": "ninety days"}, None, 400, None),
    ("negative limit", "GET", "/certificates?limit=-1", None, None, 400, None),
    ("bad status filter", "GET", "/certificates?status=lost", None, None, 400, None),
    ("unknown query parameter", "GET", "/certificates?stauts=active", None, None, 400, None),
    ("path traversal", "GET", "/certificates/..%2F..%2Fetc%2Fpasswd", None, None, 404, None),
    ("dot-dot id", "GET", "/certificates/%2e%2e", None, None, 404, None),
    ("traversal in pem route", "GET", "/certificates/a%2F..%2Fb/pem", None, None, 404, None),
    ("PKCS#12 without password", "POST", "/certificates/{cert}/pkcs12", {"alias": "x"}, None, 400, None),
    ("PKCS#12 empty password", "POST", "/certificates/{cert}/pkcs12", {"password": ""}, None, 400, None),
    ("unknown preset", "POST", "/policies", {"name": "p", "preset": "nope"}, None, 400, None),
    ("bad policy rules", "POST", "/policies", {"name": "p", "rules": {"san": {"DNS": {"allow": "x"}}}}, None, 400,
     None),
    ("bad CA type", "POST", "/cas", {"name": "c", "type": "sub"}, None, 400, None),
    ("bad subject attribute", "POST", "/cas", {"name": "c", "type": "root", "subject": {"XX": "y"}}, None, 400, None),
]


async def _counts(api: Api) -> tuple[int, int, int]:
    certs = (await api.ok("GET", "/certificates", params={"limit": "500"}))["items"]
    requests = (await api.ok("GET", "/requests", params={"limit": "500"}))["items"]
    cas = (await api.ok("GET", "/cas"))["items"]
    return len(certs), len(requests), len(cas)


async def _audit(api: Api, action: str) -> int:
    return len((await api.ok("GET", "/audit", params={"action": action, "limit": "500"}))["items"])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_bad_input(api: Api, pki: Pki, case) -> None:
    _, method, path, body, content_type, status, audited = case
    cert = await api.ok("POST", f"/endpoints/{pki.endpoint_id}/certificates", GOOD, status=201)
    path = path.format(endpoint=pki.endpoint_id, app=pki.app_id, cert=cert["id"])
    before = await _counts(api)
    audited_before = await _audit(api, audited) if audited else 0
    if isinstance(body, bytes):
        reply = await api.call(method, path, raw=body, content_type=content_type)
    else:
        reply = await api.call(method, path, body, content_type=content_type)
    assert reply.status == status, reply
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    problem = reply.json
    assert problem["status"] == status and problem["detail"] and problem["title"]
    assert await _counts(api) == before
    if audited:
        assert await _audit(api, audited) == audited_before + 1


async def test_field_errors_name_the_field(api: Api, pki: Pki) -> None:
    reply = await api.post(f"/endpoints/{pki.endpoint_id}/certificates", {"subject": {"CN": "a"}, "sans": "DNS:a"})
    assert "'sans'" in reply.json["detail"]
    reply = await api.post("/profiles", {"name": "p", "policy_id": pki.policy_id, "defaults": {"key_usages": ["x"]}})
    assert reply.status == 400 and "'defaults.key_usages'" in reply.json["detail"]


async def test_policy_violation_lists_every_violation(api: Api, pki: Pki) -> None:
    policy = await api.ok("POST", "/policies", {"name": "strict", "rules": {
        "san": {"DNS": {"allow": ["*.example.com"]}}, "key_algorithms": ["ECDSA_P256"], "max_ttl": "30d"}},
        status=201)
    await api.ok("PATCH", f"/profiles/{pki.profile_id}", {"policy_id": policy["id"]})
    before = await _counts(api)
    reply = await api.post(f"/endpoints/{pki.endpoint_id}/certificates",
                           {"subject": {"CN": "www.example.com"}, "sans": ["DNS:www.example.com", "DNS:evil.org"],
                            "key_algorithm": "RSA_2048", "ttl": "400d"})
    assert reply.status == 422, reply
    messages = [v["message"] for v in reply.json["violations"]]
    assert len(messages) == 3, messages
    assert any("evil.org" in m for m in messages)
    assert any("TTL" in m and "400d" in m for m in messages)
    assert any("RSA_2048" in m for m in messages)
    evil = [v for v in reply.json["violations"] if "evil.org" in v["message"]][0]
    assert evil["identifier"] == {"type": "DNS", "value": "evil.org"}
    assert await _counts(api) == before
    refused = (await api.ok("GET", "/audit", params={"action": "request.refused"}))["items"]
    assert len(refused[-1]["details"]["violations"]) == 3 or len(refused[0]["details"]["violations"]) == 3


@pytest.mark.parametrize("header", [
    "Bearer egt_wrong",  # unknown token
    "Bearer ",  # empty
    "Basic YWRtaW46YWRtaW4=",  # another scheme
    None,  # no header at all
    "expired",  # a real token past its expiry (made below)
])
async def test_bad_tokens_are_401_and_audited(api: Api, gateway, header) -> None:
    if header == "expired":
        issued = await gateway.applications.create_identity(
            SYSTEM_ACTOR, name="old", kind=IdentityKind.USER, superadmin=True,
            expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1))
        header = f"Bearer {issued.token}"
    failed_before = await _audit(api, "auth.failed")
    headers = {"Authorization": header} if header is not None else {}
    reply = await api.as_(None).get("/applications", headers=headers)
    assert reply.status == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert await _audit(api, "auth.failed") == failed_before + 1
