"""The whole journey through the JSON API: CAs, policy, profile, application, issue, inspect, export, forget."""

from __future__ import annotations

import base64
import re

from api_helpers import Api, Pki, openssl, openssl_csr, verify_chain


async def test_full_flow(api: Api, tmp_path) -> None:
    root = await api.ok("POST", "/cas", {"type": "root", "name": "root", "subject": {"CN": "Flow Root", "O": "Flow"},
                                         "key_algorithm": "ECDSA_P384", "validity_days": 3650, "path_length": 1},
                        status=201)
    assert root["is_root"] and root["status"] == "active" and root["subject"] == "O=Flow,CN=Flow Root"
    issuing = await api.ok("POST", "/cas", {"type": "intermediate", "name": "issuing", "parent_id": root["id"],
                                            "subject": {"CN": "Flow Issuing"}, "key_algorithm": "ECDSA_P256"},
                           status=201)
    assert issuing["parent_id"] == root["id"] and issuing["path_length"] == 0
    assert {c["id"] for c in (await api.ok("GET", "/cas"))["items"]} == {root["id"], issuing["id"]}
    ca_pem = (await api.ok("GET", f"/cas/{root['id']}/certificate")).text
    assert ca_pem.startswith("-----BEGIN CERTIFICATE-----")

    presets = {p["name"] for p in (await api.ok("GET", "/policy-presets"))["items"]}
    assert {"tls_server", "tls_client", "code_signing", "device_identity"} <= presets
    policy = await api.ok("POST", "/policies", {"name": "tls", "preset": "tls_server"}, status=201)
    assert policy["rules"]["max_ttl"] == "397d"
    profile = await api.ok("POST", "/profiles", {
        "name": "web", "ca_id": issuing["id"], "policy_id": policy["id"], "preset": "tls_server",
        "defaults": {"ttl": "30d"}, "enrollment": {"api": {}, "acme": {}, "est": {}, "scep": {}},
        "auto_renew": True, "renew_before_days": 10}, status=201)
    assert profile["defaults"]["ttl"] == "30d" and profile["defaults"]["extended_key_usages"] == ["server_auth"]
    app = await api.ok("POST", "/applications", {"name": "shop", "description": "the web shop"}, status=201)
    endpoint = await api.ok("POST", f"/applications/{app['id']}/endpoints", {"profile_id": profile["id"]}, status=201)
    assert endpoint["urls"]["api"] == f"https://pki.example.com/api/v1/endpoints/{endpoint['id']}/certificates"
    assert endpoint["urls"]["acme_directory"].endswith(f"/acme/{endpoint['id']}/directory")
    assert {"est", "scep"} <= set(endpoint["urls"])

    # From a CSR made by openssl req.
    csr = openssl_csr(tmp_path, "www.shop.example", "DNS:www.shop.example,IP:10.0.0.7")
    issued = await api.ok("POST", f"/endpoints/{endpoint['id']}/certificates",
                          {"csr": csr, "ttl": "7d", "metadata": {"env": "prod", "team": "shop"}}, status=201)
    assert re.fullmatch(r"[0-9a-f]+", issued["serial"]) and issued["status"] == "active"
    assert issued["sans"] == ["DNS:www.shop.example", "IP:10.0.0.7"] and not issued["has_managed_key"]
    assert issued["not_after"].endswith("Z")
    result = verify_chain(tmp_path, issued["certificate_pem"], issued["chain_pem"], ca_pem)
    assert result.returncode == 0, result.stdout + result.stderr

    # From a key the gateway generates and keeps.
    managed = await api.ok("POST", f"/endpoints/{endpoint['id']}/certificates",
                           {"key_algorithm": "RSA_2048", "subject": {"CN": "api.shop.example"},
                            "sans": ["DNS:api.shop.example"], "metadata": {"env": "staging"}}, status=201)
    assert managed["has_managed_key"] and managed["key_algorithm"] == "RSA_2048"
    assert "private" not in str(managed).lower()

    # Details: X.509 description, fingerprints.
    details = await api.ok("GET", f"/certificates/{issued['id']}")
    assert details["x509"]["fingerprints"]["sha256"] == details["fingerprint_sha256"]
    assert len(details["x509"]["fingerprints"]["sha1"]) == 40
    assert details["x509"]["issuer"] == "CN=Flow Issuing" and details["x509"]["serial"] == issued["serial"]
    names = {e["name"] for e in details["x509"]["extensions"]}
    assert {"subjectAltName", "keyUsage", "extendedKeyUsage", "basicConstraints"} <= names
    assert details["renewal_chain"] == [issued["id"]]

    # A renewal names the certificate it replaces; both ends see the chain.
    renewed = await api.ok("POST", f"/endpoints/{endpoint['id']}/certificates",
                           {"csr": csr, "ttl": "7d", "replaces": issued["id"]}, status=201)
    assert renewed["replaces_id"] == issued["id"]
    chain = (await api.ok("GET", f"/certificates/{renewed['id']}"))["renewal_chain"]
    assert chain == [issued["id"], renewed["id"]]
    assert (await api.delete(f"/certificates/{renewed['id']}")).status == 204

    # Listing filters.
    async def ids(**params) -> set[str]:
        page = await api.ok("GET", "/certificates", params=params)
        return {c["id"] for c in page["items"]}

    both = {issued["id"], managed["id"]}
    assert await ids() == both
    assert await ids(status="active") == both
    assert await ids(status="revoked") == set()
    assert await ids(profile_id=profile["id"], application_id=app["id"]) == both
    assert await ids(q="www.shop") == {issued["id"]}
    assert await ids(metadata="env=prod") == {issued["id"]}
    assert await ids(expiring_within_days="8") == {issued["id"]}  # the 7-day one; the other has 30 days
    page = await api.ok("GET", "/certificates", params={"limit": "1"})
    assert len(page["items"]) == 1 and page["next_offset"] == 1
    page2 = await api.ok("GET", "/certificates", params={"limit": "1", "offset": "1"})
    assert {page["items"][0]["id"], page2["items"][0]["id"]} == both

    # Metadata edit.
    edited = await api.ok("PATCH", f"/certificates/{issued['id']}", {"metadata": {"env": "prod", "owner": "ann"}})
    assert edited["metadata"] == {"env": "prod", "owner": "ann"}
    assert await ids(metadata="owner=ann") == {issued["id"]}

    # PEM export: the chain always, the key only for managed certificates and only when asked.
    pem = (await api.ok("GET", f"/certificates/{managed['id']}/pem", params={"include_key": "true"})).text
    assert pem.count("BEGIN CERTIFICATE") == 3 and "PRIVATE KEY" in pem
    bare = (await api.ok("GET", f"/certificates/{managed['id']}/pem", params={"chain": "false"})).text
    assert bare.count("BEGIN CERTIFICATE") == 1 and "PRIVATE KEY" not in bare
    refused = await api.get(f"/certificates/{issued['id']}/pem", params={"include_key": "true"})
    assert refused.status == 409 and refused.headers["Content-Type"].startswith("application/problem+json")

    # PKCS#12 read back by openssl.
    p12 = await api.ok("POST", f"/certificates/{managed['id']}/pkcs12", {"password": "s3cret", "alias": "api-shop"})
    assert p12.headers["Content-Type"] == "application/x-pkcs12"
    (tmp_path / "bundle.p12").write_bytes(p12.body)
    out = openssl("pkcs12", "-in", str(tmp_path / "bundle.p12"), "-passin", "pass:s3cret", "-nodes")
    assert out.returncode == 0, out.stderr
    assert b"friendlyName: api-shop" in out.stdout and b"PRIVATE KEY" in out.stdout

    # Latest active bundle of the application and profile: the newest one.
    latest = await api.ok("GET", f"/applications/{app['id']}/profiles/{profile['id']}/latest")
    assert latest["id"] == managed["id"] and latest["chain_pem"].count("BEGIN CERTIFICATE") == 2

    # Exports are audited, with and without key.
    audit = await api.ok("GET", f"/applications/{app['id']}/audit", params={"action": "certificate.exported"})
    assert {e["details"]["with_key"] for e in audit["items"]} == {True, False}

    # Delete from inventory.
    assert (await api.delete(f"/certificates/{issued['id']}")).status == 204
    assert (await api.get(f"/certificates/{issued['id']}")).status == 404
    assert await ids() == {managed["id"]}


async def test_external_intermediate_and_import(api: Api, pki: Pki, tmp_path) -> None:
    """An intermediate under an offline root: CSR out, certificate in; then a CA imported from PKCS#12."""
    pending = await api.ok("POST", "/cas", {"type": "external_intermediate", "name": "offline",
                                            "subject": {"CN": "Offline Sub"}}, status=201)
    assert pending["status"] == "awaiting_certificate" and pending["certificate_pem"] is None
    csr = (await api.ok("GET", f"/cas/{pending['id']}/csr")).text
    (tmp_path / "sub.csr").write_text(csr)
    # The "offline root": a throwaway openssl CA.
    assert openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", str(tmp_path / "off.key"), "-out", str(tmp_path / "off.pem"), "-subj", "/CN=Offline Root",
                   "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign").returncode == 0
    (tmp_path / "ext.cnf").write_text("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n")
    signed = openssl("x509", "-req", "-in", str(tmp_path / "sub.csr"), "-CA", str(tmp_path / "off.pem"),
                     "-CAkey", str(tmp_path / "off.key"), "-days", "20", "-extfile", str(tmp_path / "ext.cnf"),
                     "-out", str(tmp_path / "sub.pem"))
    assert signed.returncode == 0, signed.stderr
    wrong = await api.post(f"/cas/{pending['id']}/certificate",
                           {"certificate_pem": (tmp_path / "off.pem").read_text()})
    assert wrong.status == 400 and "does not match" in wrong.json["detail"]
    done = await api.ok("POST", f"/cas/{pending['id']}/certificate",
                        {"certificate_pem": (tmp_path / "sub.pem").read_text(),
                         "chain_pem": (tmp_path / "off.pem").read_text()})
    assert done["status"] == "active" and done["subject"] == "CN=Offline Sub"

    disabled = await api.ok("PATCH", f"/cas/{done['id']}", {"status": "disabled"})
    assert disabled["status"] == "disabled"

    assert openssl("pkcs12", "-export", "-in", str(tmp_path / "off.pem"), "-inkey", str(tmp_path / "off.key"),
                   "-passout", "pass:pw", "-out", str(tmp_path / "off.p12")).returncode == 0
    imported = await api.ok("POST", "/cas", {"type": "import", "name": "imported", "password": "pw",
                                             "pkcs12": base64.b64encode((tmp_path / "off.p12").read_bytes()).decode()},
                            status=201)
    assert imported["subject"] == "CN=Offline Root" and imported["key_algorithm"] == "ECDSA_P256"


async def test_crud_of_policies_profiles_applications_members(api: Api, pki: Pki) -> None:
    policy = await api.ok("PUT", f"/policies/{pki.policy_id}", {"description": "TLS servers", "rules": {
        "san": {"DNS": {"allow": ["*.example.com"]}}, "max_ttl": "90d"}})
    assert policy["rules"] == {"san": {"DNS": {"allow": ["*.example.com"]}}, "max_ttl": "90d"}
    assert (await api.delete(f"/policies/{pki.policy_id}")).status == 409  # used by a profile
    profile = await api.ok("PATCH", f"/profiles/{pki.profile_id}", {"approval_required": True,
                                                                     "defaults": {"ttl": 3600}})
    assert profile["approval_required"] and profile["defaults"]["ttl_seconds"] == 3600
    assert profile["defaults"]["extended_key_usages"] == ["server_auth"]  # untouched by the partial change
    assert (await api.ok("GET", f"/profiles/{pki.profile_id}"))["approval_required"]

    app = await api.ok("PATCH", f"/applications/{pki.app_id}", {"description": "changed"})
    assert app["description"] == "changed"
    endpoints = (await api.ok("GET", f"/applications/{pki.app_id}/endpoints"))["items"]
    assert [e["id"] for e in endpoints] == [pki.endpoint_id] and endpoints[0]["profile"]["approval_required"]

    user = await api.ok("POST", "/identities", {"name": "ann"}, status=201)
    assert user["token"].startswith("egt_") and "token_hash" not in str(user)
    member = await api.ok("POST", f"/applications/{pki.app_id}/members",
                          {"identity_id": user["identity"]["id"], "role": "auditor"}, status=201)
    assert member["role"] == "auditor"
    members = (await api.ok("GET", f"/applications/{pki.app_id}/members"))["items"]
    assert [(m["name"], m["role"]) for m in members] == [("ann", "auditor")]
    rotated = await api.ok("POST", f"/identities/{user['identity']['id']}/token")
    assert rotated["token"] != user["token"]
    assert (await api.as_(user["token"]).get("/applications")).status == 401
    assert [a["id"] for a in (await api.as_(rotated["token"]).ok("GET", "/applications"))["items"]] == [pki.app_id]
    assert (await api.delete(f"/applications/{pki.app_id}/members/{user['identity']['id']}")).status == 204
    assert (await api.ok("GET", f"/applications/{pki.app_id}/members"))["items"] == []
    identities = (await api.ok("GET", "/identities"))["items"]
    assert {"admin", "ann"} <= {i["name"] for i in identities}
    assert (await api.ok("PATCH", f"/identities/{user['identity']['id']}", {"disabled": True}))["disabled"]

    assert (await api.delete(f"/applications/{pki.app_id}")).status == 409  # profile still attached
    assert (await api.delete(f"/applications/{pki.app_id}/endpoints/{pki.endpoint_id}")).status == 204
    assert (await api.delete(f"/profiles/{pki.profile_id}")).status == 204
    assert (await api.delete(f"/policies/{pki.policy_id}")).status == 204
    assert (await api.delete(f"/applications/{pki.app_id}")).status == 204
    assert (await api.ok("GET", "/applications"))["items"] == []


async def test_audit_filters(api: Api, pki: Pki) -> None:
    """By application, actor, action and time range; the refused and the successful both recorded."""
    everything = (await api.ok("GET", "/audit", params={"limit": "500"}))["items"]
    assert {"ca.created", "policy.created", "profile.created", "application.created", "profile.attached",
            "token.created"} <= {e["action"] for e in everything}
    admin_id = next(e["actor"] for e in everything if e["action"] == "ca.created")
    mine = (await api.ok("GET", "/audit", params={"actor": admin_id, "limit": "500"}))["items"]
    assert mine and all(e["actor"] == admin_id for e in mine)
    app_events = (await api.ok("GET", "/audit", params={"application_id": pki.app_id}))["items"]
    assert app_events and all(e["application_id"] == pki.app_id for e in app_events)
    oldest = min(e["at"] for e in everything)
    newest = max(e["at"] for e in everything)
    assert (await api.ok("GET", "/audit", params={"until": oldest}))["items"] == []  # until is exclusive
    assert len((await api.ok("GET", "/audit", params={"since": oldest, "limit": "500"}))["items"]) == len(everything)
    assert (await api.ok("GET", "/audit", params={"since": "2999-01-01T00:00:00Z"}))["items"] == []
    assert newest.endswith("Z")
    assert (await api.get("/audit", params={"since": "yesterday"})).status == 400
