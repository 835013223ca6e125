"""Approval (pending, approve, reject, bypass) and what each application role may do."""

from __future__ import annotations

import pytest

from api_helpers import Api, Pki, new_member

ISSUE = {"subject": {"CN": "svc.example.com"}, "sans": ["DNS:svc.example.com"]}


@pytest.fixture
async def approval_pki(api: Api, pki: Pki) -> Pki:
    await api.ok("PATCH", f"/profiles/{pki.profile_id}", {"approval_required": True})
    return pki


async def test_pending_then_approved_by_app_admin(api: Api, approval_pki: Pki) -> None:
    pki = approval_pki
    operator = api.as_(await new_member(api, pki.app_id, "operator"))
    admin = api.as_(await new_member(api, pki.app_id, "admin"))
    reply = await operator.post(f"/endpoints/{pki.endpoint_id}/certificates", {**ISSUE, "metadata": {"ticket": "T-1"}})
    assert reply.status == 202, reply
    pending = reply.json
    assert pending["status"] == "pending" and pending["certificate_id"] is None
    assert reply.headers["Location"] == f"/api/v1/requests/{pending['id']}"
    listed = await admin.ok("GET", "/requests", params={"status": "pending", "application_id": pki.app_id})
    assert [r["id"] for r in listed["items"]] == [pending["id"]]
    assert (await admin.ok("GET", "/certificates"))["items"] == []

    assert (await operator.post(f"/requests/{pending['id']}/approve")).status == 403  # operators cannot approve
    approved = await admin.ok("POST", f"/requests/{pending['id']}/approve", status=201)
    assert approved["request"]["status"] == "issued" and approved["request"]["decided_by"]
    assert approved["certificate"]["metadata"] == {"ticket": "T-1"}
    assert approved["certificate"]["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    detail = await operator.ok("GET", f"/requests/{pending['id']}")
    assert detail["certificate_id"] == approved["certificate"]["id"]
    assert (await admin.post(f"/requests/{pending['id']}/approve")).status == 409  # no longer pending
    audit = await admin.ok("GET", f"/applications/{pki.app_id}/audit")
    actions = [e["action"] for e in audit["items"]]
    assert "request.submitted" in actions and "certificate.issued" in actions


async def test_rejected(api: Api, approval_pki: Pki) -> None:
    pki = approval_pki
    operator = api.as_(await new_member(api, pki.app_id, "operator"))
    pending = await operator.ok("POST", f"/endpoints/{pki.endpoint_id}/certificates", ISSUE, status=202)
    rejected = await api.ok("POST", f"/requests/{pending['id']}/reject", {"reason": "not on the change calendar"})
    assert rejected["status"] == "rejected" and rejected["reason"] == "not on the change calendar"
    assert (await api.post(f"/requests/{pending['id']}/approve")).status == 409
    audit = await api.ok("GET", "/audit", params={"action": "request.rejected"})
    assert [e["object_id"] for e in audit["items"]] == [pending["id"]]


async def test_machine_identity_with_bypass_issues_at_once(api: Api, approval_pki: Pki) -> None:
    created = await api.ok("POST", f"/applications/{approval_pki.app_id}/machine-identities",
                           {"name": "deployer", "role": "operator", "bypass_approval": True}, status=201)
    assert created["identity"]["bypass_approval"] and created["identity"]["kind"] == "machine"
    robot = api.as_(created["token"])
    issued = await robot.ok("POST", f"/endpoints/{approval_pki.endpoint_id}/certificates", ISSUE, status=201)
    assert issued["status"] == "active"


async def test_auditor_reads_but_cannot_act(api: Api, pki: Pki) -> None:
    cert = await api.ok("POST", f"/endpoints/{pki.endpoint_id}/certificates", ISSUE, status=201)
    auditor = api.as_(await new_member(api, pki.app_id, "auditor"))
    assert [c["id"] for c in (await auditor.ok("GET", "/certificates"))["items"]] == [cert["id"]]
    await auditor.ok("GET", f"/certificates/{cert['id']}")
    await auditor.ok("GET", f"/certificates/{cert['id']}/pem")
    await auditor.ok("GET", f"/applications/{pki.app_id}/audit")
    await auditor.ok("GET", f"/applications/{pki.app_id}/profiles/{pki.profile_id}/latest")
    for method, path, body in [
        ("POST", f"/endpoints/{pki.endpoint_id}/certificates", ISSUE),
        ("GET", f"/certificates/{cert['id']}/pem?include_key=true", None),
        ("POST", f"/certificates/{cert['id']}/pkcs12", {"password": "x"}),
        ("PATCH", f"/certificates/{cert['id']}", {"metadata": {}}),
        ("DELETE", f"/certificates/{cert['id']}", None),
        ("POST", f"/applications/{pki.app_id}/members", {"identity_id": "0" * 32, "role": "admin"}),
    ]:
        reply = await auditor.call(method, path, body)
        assert reply.status == 403, (method, path, reply)


async def test_operator_issues_but_does_not_administer(api: Api, approval_pki: Pki) -> None:
    pki = approval_pki
    await api.ok("PATCH", f"/profiles/{pki.profile_id}", {"approval_required": False})
    operator = api.as_(await new_member(api, pki.app_id, "operator"))
    cert = await operator.ok("POST", f"/endpoints/{pki.endpoint_id}/certificates", ISSUE, status=201)
    key_pem = (await operator.ok("GET", f"/certificates/{cert['id']}/pem", params={"include_key": "true"})).text
    assert "PRIVATE KEY" in key_pem  # exporting a managed key is an operator's act
    await operator.ok("PATCH", f"/certificates/{cert['id']}", {"metadata": {"a": "b"}})
    await api.ok("PATCH", f"/profiles/{pki.profile_id}", {"approval_required": True})
    pending = await operator.ok("POST", f"/endpoints/{pki.endpoint_id}/certificates", ISSUE, status=202)
    for method, path, body in [
        ("POST", f"/requests/{pending['id']}/approve", None),
        ("POST", f"/requests/{pending['id']}/reject", {"reason": "no"}),
        ("POST", f"/applications/{pki.app_id}/members", {"identity_id": "0" * 32, "role": "operator"}),
        ("POST", f"/applications/{pki.app_id}/machine-identities", {"name": "x"}),
        ("DELETE", f"/certificates/{cert['id']}", None),
        ("PATCH", f"/applications/{pki.app_id}", {"description": "x"}),
        ("POST", "/policies", {"name": "p", "preset": "tls_server"}),
        ("GET", "/cas", None),
        ("GET", "/identities", None),
    ]:
        reply = await operator.call(method, path, body)
        assert reply.status == 403, (method, path, reply)
