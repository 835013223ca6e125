"""The OpenAPI document describes every route the API serves, and is a valid OpenAPI 3.1 document."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from openapi_spec_validator import validate

from enrollment_gateway.errors import GatewayError
from enrollment_gateway.policy import PRESETS
from enrollment_gateway.policy.model import PolicyRules
from protocols.api import API_PREFIX, create_api_app

from api_helpers import MAX_BODY, Api, Pki, check_against_document, make_app, make_profile, schema_validator


def _routes(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        if route.method == "HEAD":  # aiohttp adds HEAD beside every GET
            continue
        path = route.resource.canonical
        out.add((route.method.lower(), path.removeprefix(API_PREFIX)))
    return out


async def test_document_is_public_valid_and_complete(api: Api, gateway) -> None:
    reply = await api.as_(None).get("/openapi.json")
    assert reply.status == 200
    document = reply.json
    validate(document)
    described = {(method, path) for path, ops in document["paths"].items() for method in ops}
    served = _routes(create_api_app(gateway))
    assert served, "the router has no routes?"
    assert served - described == set(), "routes missing from openapi.json"
    assert described - served == set(), "openapi.json describes routes that do not exist"


async def test_every_operation_documents_problems_and_ids(api: Api) -> None:
    document = (await api.ok("GET", "/openapi.json"))
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["responses"]["default"]["content"]["application/problem+json"], (method, path)
            placeholders = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert placeholders == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}, (method, path)


# --- item 24: a complete document ----------------------------------------------------------------------------------


async def test_real_responses_match_the_document(api: Api, pki: Pki) -> None:
    """Success and problem answers of most operations, validated against the schemas the document gives them."""
    document = (await api.ok("GET", "/openapi.json"))
    issue = f"/endpoints/{pki.endpoint_id}/certificates"
    managed = await api.ok("POST", issue, {"subject": {"CN": "m.example.com"}, "sans": ["DNS:m.example.com"],
                                           "metadata": {"a": "b"}}, status=201)
    renewed = await api.ok("POST", issue, {"subject": {"CN": "m.example.com"}, "sans": ["DNS:m.example.com"],
                                           "replaces": managed["id"]}, status=201)
    approval = await make_profile(api, "approval", pki.issuing_id, policy_id=pki.policy_id, approval_required=True)
    _, approval_endpoint = await make_app(api, "approvals", approval["id"])
    pending = await api.ok("POST", f"/endpoints/{approval_endpoint}/certificates",
                           {"subject": {"CN": "p.example.com"}, "sans": ["DNS:p.example.com"]}, status=202)
    pending2 = await api.ok("POST", f"/endpoints/{approval_endpoint}/certificates",
                            {"subject": {"CN": "q.example.com"}, "sans": ["DNS:q.example.com"]}, status=202)
    identity = await api.ok("POST", "/identities", {"name": "someone"}, status=201)
    calls = [
        ("GET", "/openapi.json", None), ("GET", "/cas", None), ("GET", f"/cas/{pki.issuing_id}", None),
        ("GET", f"/cas/{pki.issuing_id}/certificate?chain=true", None), ("GET", f"/cas/{pki.root_id}/csr", None),
        ("PATCH", f"/cas/{pki.root_id}", {"status": "active"}),
        ("GET", "/policies", None), ("GET", f"/policies/{pki.policy_id}", None), ("GET", "/policy-presets", None),
        ("PUT", f"/policies/{pki.policy_id}", {"description": "changed"}),
        ("POST", "/policies", {"name": "strict", "rules": {"subject": {"CN": {"require": []}, "*": {"allow": []}},
                                                          "san": {"DNS": {"allow": ["*.example.com"]}},
                                                          "key_algorithms": ["ECDSA_P256"], "max_ttl": "30d"}}),
        ("GET", "/profiles", None), ("GET", f"/profiles/{pki.profile_id}", None),
        ("PATCH", f"/profiles/{pki.profile_id}", {"enrollment": {"api": {}, "acme": {"eab_required": True}}}),
        ("GET", "/applications", None), ("GET", f"/applications/{pki.app_id}", None),
        ("PATCH", f"/applications/{pki.app_id}", {"description": "d"}),
        ("GET", f"/applications/{pki.app_id}/endpoints", None),
        ("POST", f"/applications/{pki.app_id}/endpoints/{pki.endpoint_id}/acme-eab-keys", {"reusable": True}),
        ("GET", f"/applications/{pki.app_id}/endpoints/{pki.endpoint_id}/acme-eab-keys", None),
        ("POST", f"/applications/{pki.app_id}/members", {"identity_id": identity["identity"]["id"], "role": "auditor"}),
        ("GET", f"/applications/{pki.app_id}/members", None),
        ("POST", f"/applications/{pki.app_id}/machine-identities", {"name": "bot"}),
        ("GET", f"/applications/{pki.app_id}/audit?limit=5", None),
        ("GET", f"/applications/{pki.app_id}/profiles/{pki.profile_id}/latest", None),
        ("GET", "/identities", None), ("PATCH", f"/identities/{identity['identity']['id']}", {"disabled": True}),
        ("POST", f"/identities/{identity['identity']['id']}/token", None),
        ("GET", "/certificates?limit=1", None), ("GET", f"/certificates/{renewed['id']}", None),
        ("PATCH", f"/certificates/{managed['id']}", {"metadata": {"x": "y"}}),
        ("GET", f"/certificates/{managed['id']}/pem?include_key=true", None),
        ("POST", f"/certificates/{managed['id']}/pkcs12", {"password": "pw"}),
        ("POST", f"/certificates/{managed['id']}/revoke", {"reason": "certificate_hold"}),
        ("POST", f"/certificates/{managed['id']}/release-hold", None),
        ("POST", f"/cas/{pki.issuing_id}/revoke-serial", {"serial": managed["serial"], "reason": "superseded"}),
        ("POST", f"/certificates/{managed['id']}/revoke", None),  # 409: already revoked
        ("GET", "/requests", None), ("GET", f"/requests/{pending['id']}", None),
        ("POST", f"/requests/{pending['id']}/approve", None),
        ("POST", f"/requests/{pending2['id']}/reject", {"reason": "no"}),
        ("POST", f"/requests/{pending2['id']}/approve", None),  # 409: not pending
        ("GET", "/audit?limit=5", None),
        ("DELETE", f"/certificates/{renewed['id']}", None),
        # Problems: 400, 401, 404, 413, 415, 422.
        ("POST", issue, {"subject": {"CN": "a"}, "sans": "DNS:a"}),
        ("POST", issue, {"subject": {"CN": "evil.org"}, "sans": ["DNS:evil.org", "email:a@evil.org"]}),
        ("GET", "/certificates/0123456789abcdef0123456789abcdef", None),
        ("POST", "/applications", {"name": "x" * (MAX_BODY + 1)}),
        ("GET", "/certificates?limit=0", None),
    ]
    for method, path, body in calls:
        reply = await api.call(method, path, body)
        assert reply.status < 500, (method, path, reply)
        check_against_document(document, method, path, reply)
    for reply in (await api.as_(None).get("/cas"), await api.call("POST", "/applications", raw=b"x",
                                                                   content_type="text/plain")):
        check_against_document(document, "GET" if reply.status == 401 else "POST",
                               "/cas" if reply.status == 401 else "/applications", reply)


async def test_policy_rules_schema_is_what_the_parser_accepts(api: Api) -> None:
    document = (await api.ok("GET", "/openapi.json"))
    rules = document["components"]["schemas"]["PolicyRules"]
    # The parser names the keys it accepts when it meets one it does not: the document must list the same.
    with pytest.raises(GatewayError) as refused:
        PolicyRules.from_json({"no-such-key": 1})
    accepted = refused.value.detail.split("expected one of ")[1].rstrip(")").split(", ")
    assert set(rules["properties"]) == set(accepted)
    assert rules["additionalProperties"] is False
    for name in ("subject", "san"):
        inner = rules["properties"][name]
        assert inner["additionalProperties"] is False and inner["properties"], name
    validator = schema_validator(document, {"$ref": "#/components/schemas/PolicyRules"})
    for name, preset in PRESETS.items():  # every preset is a document the schema describes
        assert not list(validator.iter_errors(preset.to_json())), name
    assert list(validator.iter_errors({"san": {"DNS": {"allow": "x"}}}))  # and it is not a bare object


async def test_enrollment_settings_are_described_and_enforced(api: Api, pki: Pki) -> None:
    document = (await api.ok("GET", "/openapi.json"))
    schemas = document["components"]["schemas"]
    assert set(schemas["Enrollment"]["properties"]) == {"api", "acme", "est", "scep"}
    assert schemas["AcmeEnrollmentSettings"]["properties"]["eab_required"]["type"] == "boolean"
    for method in ("Api", "Acme", "Est", "Scep"):
        assert schemas[f"{method}EnrollmentSettings"]["additionalProperties"] is False
    for enrollment in ({"acme": {"eab_requird": True}}, {"acme": {"eab_required": "yes"}}, {"ftp": {}},
                       {"api": {"enabled": 1}}):
        reply = await api.patch(f"/profiles/{pki.profile_id}", {"enrollment": enrollment})
        assert reply.status == 400, (enrollment, reply)
        assert "enrollment." in reply.json["detail"]


async def test_required_request_fields_are_required(api: Api, pki: Pki) -> None:
    """Every body schema's `required` fields: an empty object is refused naming one of them."""
    document = (await api.ok("GET", "/openapi.json"))
    ids = {"id": pki.issuing_id, "endpoint_id": pki.endpoint_id}
    checked = 0
    for template, ops in document["paths"].items():
        for method, op in ops.items():
            if "requestBody" not in op:
                continue
            schema = document["components"]["schemas"][op["requestBody"]["content"]["application/json"]["schema"]
                                                       ["$ref"].rsplit("/", 1)[1]]
            path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
            if template.startswith("/applications/{id}"):
                path = path.replace(pki.issuing_id, pki.app_id)
            if template.startswith("/identities/{id}") or template.startswith("/certificates/{id}"):
                continue  # their required fields are checked by the same code path above; no id at hand
            reply = await api.call(method.upper(), path, {})
            if schema.get("required"):
                assert reply.status == 400, (method, template, reply)
                assert any(f"'{name}'" in reply.json["detail"] or name in reply.json["detail"]
                           for name in schema["required"]), (method, template, reply.json["detail"])
                checked += 1
    assert checked >= 8


async def test_every_operation_documents_its_4xx(api: Api) -> None:
    document = (await api.ok("GET", "/openapi.json"))
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            codes = {int(c) for c in op["responses"] if c != "default" and int(c) >= 400}
            if path != "/openapi.json":
                assert {401, 403} <= codes, (method, path)
            if "{" in path:
                assert 404 in codes, (method, path)
            if "requestBody" in op:
                assert {400, 413, 415} <= codes, (method, path)
            for code in codes:
                schema = op["responses"][str(code)]["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}
    # No array anywhere without items: the generator drops whatever holds one.
    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "array" or (isinstance(node.get("type"), list) and "array" in node["type"]):
                assert "items" in node, where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")
    walk(document, "#")
