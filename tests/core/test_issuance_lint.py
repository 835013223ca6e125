"""What the core issues under the TLS-server preset passes pkilint's RFC 5280 and CA/B Forum server-auth linters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from enrollment_gateway.core.issuance import IssuanceRequest
from enrollment_gateway.crypto.builder import CABF_DV_POLICY_OID
from enrollment_gateway.domain import EnrollmentMethod, ProfileDefaults
from enrollment_gateway.policy import preset, preset_defaults

VENV_BIN = Path(sys.executable).parent


def findings(tool: str, path: Path, *args: str) -> list[tuple[str, str]]:
    """(severity, code) of every ERROR or FATAL finding."""
    out = subprocess.run([str(VENV_BIN / tool), "lint", *args, "-f", "JSON", "-s", "ERROR", str(path)],
                         capture_output=True, text=True)
    assert out.stdout, out.stderr
    return [(d["severity"], d["code"]) for r in json.loads(out.stdout)["results"] for d in r["finding_descriptions"]]


async def test_tls_server_preset_issuance_is_lint_clean(world, tmp_path):
    # The world fixture stamps http://pki.example.com URLs: the BRs forbid internal names in CDP/AIA.
    defaults = ProfileDefaults(**preset_defaults("tls_server"), certificate_policies=(CABF_DV_POLICY_OID,))
    _, ep = await world.profile("tls", preset("tls_server").to_json(), defaults=defaults)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), critical=False)
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    outcome = await world.gateway.issuance.issue(
        IssuanceRequest(actor=world.admin, endpoint_id=ep, protocol=EnrollmentMethod.API, csr=csr))
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(outcome.certificate.certificate_pem)
    assert findings("lint_pkix_cert", leaf) == []
    assert findings("lint_cabf_serverauth_cert", leaf, "-t", "DV-FINAL-CERTIFICATE") == []
    chain = x509.load_pem_x509_certificates(outcome.certificate.chain_pem.encode())
    subprocess.run(["openssl", "version"], check=True, capture_output=True)
    (tmp_path / "root.pem").write_bytes(chain[-1].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "chain.pem").write_text(outcome.certificate.chain_pem)
    verify = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(tmp_path / "root.pem"),
                             "-untrusted", str(tmp_path / "chain.pem"), str(leaf)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
