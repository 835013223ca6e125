"""A Python client generated from /api/v1/openapi.json by openapi-python-client issues and lists certificates
against a real gateway listening on a loopback port (issue 7, item 24).

The generator runs with --fail-on-warning: an array without `items` (renewal_chain, once) made it drop every
operation that returned a Certificate, silently. Vendor media types (PEM, PKCS#10, PKCS#12) are mapped to text and
bytes in the generator's config, as its documentation prescribes for types it does not know.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path

from api_helpers import Api, python_csr

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "eg_generated_client"
CONFIG = f"""\
project_name_override: eg-generated-client
package_name_override: {PACKAGE}
post_hooks: []
content_type_overrides:
  application/pkcs10: text/plain
  application/pem-certificate-chain: text/plain
  application/x-pem-file: text/plain
  application/x-pkcs12: application/octet-stream
"""


async def _generate(document: dict, tmp_path: Path):
    (tmp_path / "openapi.json").write_text(json.dumps(document))
    (tmp_path / "config.yaml").write_text(CONFIG)
    proc = await asyncio.create_subprocess_exec(
        str(GENERATOR), "generate", "--path", str(tmp_path / "openapi.json"), "--config",
        str(tmp_path / "config.yaml"), "--meta", "none", "--output-path", str(tmp_path / PACKAGE),
        "--fail-on-warning", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode == 0, out.decode()[-6000:]
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))


async def test_generated_client_issues_and_lists_certificates(api: Api, tmp_path) -> None:
    document = (await api.as_(None).get("/openapi.json")).json
    pkg = await _generate(document, tmp_path)
    try:
        await _drive(pkg, api, tmp_path)
    finally:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


async def _drive(pkg, api: Api, tmp_path: Path) -> None:
    m = importlib.import_module(f"{PACKAGE}.models")
    ops = {name: importlib.import_module(f"{PACKAGE}.api.{tag}.{name}") for tag, name in (
        ("cas", "post_cas"), ("policies", "post_policies"), ("profiles", "post_profiles"),
        ("applications", "post_applications"), ("applications", "post_applications_id_endpoints"),
        ("certificates", "post_endpoints_endpoint_id_certificates"), ("certificates", "get_certificates"),
        ("certificates", "get_certificates_id"), ("certificates", "get_certificates_id_pem"),
        ("meta", "get_openapi_json"),
    )}
    base_url = str(api.client.make_url("/api/v1"))  # the aiohttp test server: a real socket on 127.0.0.1
    client = pkg.AuthenticatedClient(base_url=base_url, token=api.token, raise_on_unexpected_status=True)
    async with client:
        async def call(name: str, expected: int, **kw):
            reply = await ops[name].asyncio_detailed(client=client, **kw)
            assert reply.status_code == expected, (name, reply.status_code, reply.content[:500])
            return reply.parsed

        root = await call("post_cas", 201, body=m.CACreate(
            type_=m.CACreateType.ROOT, name="gen-root", subject=m.CACreateSubjectType0.from_dict({"CN": "Gen Root"}),
            key_algorithm=m.CACreateKeyAlgorithm.ECDSA_P256, path_length=1))
        assert isinstance(root, m.CA) and root.is_root and root.status == m.CAStatus.ACTIVE
        issuing = await call("post_cas", 201, body=m.CACreate(
            type_=m.CACreateType.INTERMEDIATE, name="gen-issuing", parent_id=root.id,
            subject=[["CN", "Gen Issuing"], ["O", "Gen"]], key_algorithm=m.CACreateKeyAlgorithm.ECDSA_P256))
        policy = await call("post_policies", 201, body=m.PolicyCreate(name="gen-policy", preset="tls_server"))
        # The rules come back typed, not as a bare dict.
        assert isinstance(policy.rules, m.PolicyRules) and policy.rules.max_ttl == "397d"
        assert isinstance(policy.rules.san.dns, m.FieldRule)
        profile = await call("post_profiles", 201, body=m.ProfileCreate(
            name="gen-profile", policy_id=policy.id, ca_id=issuing.id, preset="tls_server",
            enrollment=m.Enrollment(api=m.ApiEnrollmentSettings(), acme=m.AcmeEnrollmentSettings(eab_required=True)),
            defaults=m.ProfileDefaultsWrite(ttl="30d")))
        assert profile.enrollment.acme.eab_required is True and profile.defaults.ttl == "30d"
        app = await call("post_applications", 201, body=m.ApplicationCreate(name="gen-app"))
        endpoint = await call("post_applications_id_endpoints", 201, id=app.id,
                              body=m.Attach(profile_id=profile.id))
        assert endpoint.urls.api.endswith(f"/endpoints/{endpoint.id}/certificates")
        assert endpoint.urls.acme_directory and not endpoint.urls.est  # est is not enabled: no URL

        # Issue from a server-generated key, then from a CSR.
        managed = await call("post_endpoints_endpoint_id_certificates", 201, endpoint_id=endpoint.id,
                             body=m.IssueRequest(
                                 key_algorithm=m.IssueRequestKeyAlgorithm.ECDSA_P256,
                                 subject=m.IssueRequestSubjectType0.from_dict({"CN": "gen.example.com"}),
                                 sans=["DNS:gen.example.com"], ttl="7d",
                                 metadata=m.IssueRequestMetadata.from_dict({"team": "gen"})))
        assert isinstance(managed, m.Certificate) and managed.has_managed_key
        assert managed.certificate_pem.startswith("-----BEGIN CERTIFICATE-----")
        csr, _ = python_csr("csr.example.com", dns=("csr.example.com",))
        from_csr = await call("post_endpoints_endpoint_id_certificates", 201, endpoint_id=endpoint.id,
                              body=m.IssueRequest(csr=csr, ttl=86400, replaces=managed.id))
        assert from_csr.sans == ["DNS:csr.example.com"] and from_csr.replaces_id == managed.id

        # A refusal parses as the documented problem, with its violations.
        refused = await call("post_endpoints_endpoint_id_certificates", 422, endpoint_id=endpoint.id,
                             body=m.IssueRequest(key_algorithm=m.IssueRequestKeyAlgorithm.ECDSA_P256,
                                                 subject=m.IssueRequestSubjectType0.from_dict({"CN": "x.example"}),
                                                 sans=["DNS:x.example", "email:a@x.example"]))
        assert isinstance(refused, m.Problem) and refused.status == 422 and refused.violations
        malformed = await call("post_endpoints_endpoint_id_certificates", 400, endpoint_id=endpoint.id,
                               body=m.IssueRequest(sans=["nonsense"]))
        assert isinstance(malformed, m.Problem) and "nonsense" in malformed.detail

        # List with filters; details carry the renewal chain as typed ids.
        page = await call("get_certificates", 200, metadata=["team=gen"], status=m.GetCertificatesStatus.ACTIVE)
        assert isinstance(page, m.CertificatePage) and [c.id for c in page.items] == [managed.id]
        page = await call("get_certificates", 200, application_id=app.id, limit=1)
        assert len(page.items) == 1 and page.next_offset == 1
        details = await call("get_certificates_id", 200, id=from_csr.id)
        assert details.renewal_chain == [managed.id, from_csr.id]
        assert details.x509.fingerprints.sha256 == details.fingerprint_sha256
        pem = await call("get_certificates_id_pem", 200, id=from_csr.id)
        assert pem.startswith("-----BEGIN CERTIFICATE-----")
        assert (await call("get_openapi_json", 200)).additional_properties["openapi"] == "3.1.0"
