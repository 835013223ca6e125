"""The demo's profiles issue what they claim (issue 7, item 11).

The README's first certificate, made as the README makes it, through the demo `tls-server` profile: RFC 5280
clean, and under pkilint's CA/B server-auth linter nothing is wrong but that it is a private certificate (a `.test`
name, and the reserved BR policy OID it rightly does not claim).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from enrollment_gateway.config import load_config
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.core.issuance import IssuanceRequest, Issued
from enrollment_gateway.policy import claims_cabf_tls
from enrollment_gateway.domain import EnrollmentMethod
from enrollment_gateway.errors import GatewayError
from enrollment_gateway.server.demo import ensure_demo

VENV_BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(not (VENV_BIN / "lint_cabf_serverauth_cert").exists(), reason="pkilint missing")

# What a private certificate is, to the BR linter: a name outside the public DNS, and no reserved policy OID.
NO_POLICY = "cabf.serverauth.subscriber.certificate_policies_extension_absent"
PRIVATE_ONLY = {"cabf.internal_domain_name", NO_POLICY}


def lint(tool: str, path: Path, *args: str) -> list[tuple[str, str]]:
    out = subprocess.run([str(VENV_BIN / tool), "lint", *args, "-f", "JSON", "-s", "ERROR", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout, out.stderr
    return [(d["code"], r["node_path"]) for r in json.loads(out.stdout)["results"] for d in r["finding_descriptions"]]


@pytest.fixture
async def demo(sqlite_database, tmp_path):
    config = load_config(None, environ={
        "EG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.com",  # as a deployment would; loopback URLs are BR-internal
        "EG_SERVER__PUBLIC_HTTPS_URL": "https://pki.example.com",
    })
    (tmp_path / "data").mkdir()
    gateway = await Gateway.open(config, database=sqlite_database)
    state = await ensure_demo(gateway)
    yield gateway, state


def readme_csr(tmp_path: Path, cn: str) -> bytes:
    """The README's command, verbatim but for the name."""
    made = subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         str(tmp_path / "www.key"), "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}"],
        capture_output=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return made.stdout


async def test_demo_profiles_claim_no_br_oid(demo):
    gateway, _ = demo
    for profile in await gateway.catalog.list_profiles():
        assert not claims_cabf_tls(profile.defaults.certificate_policies), profile.name


@pytest.mark.parametrize("cn", ["www.example.test", "www.example.com"])
async def test_readme_first_certificate_lints_as_a_private_tls_server(demo, tmp_path, cn):
    gateway, state = demo
    admin = await gateway.applications.authenticate(state["admin_token"])
    outcome = await gateway.issuance.issue(IssuanceRequest(
        actor=admin, endpoint_id=state["endpoints"]["tls-server"]["id"], protocol=EnrollmentMethod.API,
        csr=readme_csr(tmp_path, cn), ttl_seconds=30 * 86400, metadata={"team": "web"}))
    assert isinstance(outcome, Issued)
    leaf = tmp_path / "www.pem"
    leaf.write_text(outcome.certificate.certificate_pem)
    assert lint("lint_pkix_cert", leaf) == []
    found = lint("lint_cabf_serverauth_cert", leaf, "-t", "DV-FINAL-CERTIFICATE")
    assert {code for code, _ in found} <= PRIVATE_ONLY, found
    if cn.endswith(".com"):  # a public name: only the policy OID it does not claim
        assert {code for code, _ in found} == {NO_POLICY}, found


@pytest.mark.parametrize("subject", [
    [("CN", "www.example.test"), ("O", "Demo")],  # O/OU: not for a DV-shaped server certificate
    [("CN", "other.example.test")],  # a CN naming no SAN (BR §7.1.2.7.2)
])
async def test_demo_tls_server_refuses_what_a_tls_server_certificate_must_not_carry(demo, subject):
    gateway, state = demo
    admin = await gateway.applications.authenticate(state["admin_token"])
    with pytest.raises(GatewayError):
        await gateway.issuance.issue(IssuanceRequest(
            actor=admin, endpoint_id=state["endpoints"]["tls-server"]["id"], protocol=EnrollmentMethod.API,
            subject=subject, sans=[("DNS", "www.example.test")]))
