"""Revocation end to end against the real `serve --demo` process, judged by real tools: `openssl verify -crl_check`
(with a downloaded CRL and with -crl_download through the CDP), `openssl ocsp` against the AIA URL, and pkilint."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gateway_process import start_gateway

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def run(*args) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)


def api(url: str, token: str, body: dict, ctx: ssl.SSLContext) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return json.loads(r.read())


def issue(tmp: Path, name: str, demo: dict, ctx) -> dict:
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", tmp / f"{name}.key", "-subj", f"/CN={name}.example.test",
        "-addext", f"subjectAltName=DNS:{name}.example.test", "-out", tmp / f"{name}.csr")
    cert = api(demo["issue_url"], demo["admin_token"], {"csr": (tmp / f"{name}.csr").read_text()}, ctx)
    (tmp / f"{name}.pem").write_text(cert["certificate_pem"])
    return cert


def lint(linter: str, *args) -> str:
    result = run(BIN / linter, "lint", "-s", "ERROR", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.strip()


def test_crl_and_ocsp_with_openssl_and_pkilint(tmp_path):
    gw = start_gateway(tmp_path)
    try:
        demo, ctx = gw.demo, gw.ssl_context()
        good, bad = issue(tmp_path, "good", demo, ctx), issue(tmp_path, "bad", demo, ctx)
        chain, bundle = tmp_path / "chain.pem", demo["ca_bundle"]
        chain.write_text(good["chain_pem"])
        (tmp_path / "issuer.pem").write_text(good["chain_pem"].split("-----END CERTIFICATE-----")[0]
                                             + "-----END CERTIFICATE-----\n")
        revoked = api(f"{demo['api_url']}/certificates/{bad['id']}/revoke", demo["admin_token"],
                      {"reason": "keyCompromise"}, ctx)
        assert revoked["status"] == "revoked"

        # The CRL at the CDP lists it within a few seconds.
        deadline = time.monotonic() + 15
        while True:
            with urllib.request.urlopen(demo["crl_url"], timeout=10) as r:
                assert r.headers["Content-Type"] == "application/pkix-crl"
                (tmp_path / "crl.der").write_bytes(r.read())
            text = run("openssl", "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-noout", "-text").stdout
            if bad["serial"].upper().lstrip("0") in text.replace(":", "").upper():
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.3)
        run("openssl", "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-out", tmp_path / "crl.pem")
        assert lint("lint_crl", "-t", "CRL", "-p", "PKIX", tmp_path / "crl.der") == ""

        def verify(leaf: str, *extra) -> subprocess.CompletedProcess[str]:
            return run("openssl", "verify", "-crl_check", "-CAfile", bundle, "-untrusted", chain, *extra,
                       tmp_path / f"{leaf}.pem")

        ok = verify("good", "-CRLfile", tmp_path / "crl.pem")
        assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
        refused = verify("bad", "-CRLfile", tmp_path / "crl.pem")
        assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
        ok = verify("good", "-crl_download")
        assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
        refused = verify("bad", "-crl_download")
        assert "certificate revoked" in refused.stdout + refused.stderr

        # OCSP at the AIA URL: good, revoked, and a serial the CA never issued.
        def ocsp(*target, name: str) -> str:
            result = run("openssl", "ocsp", "-issuer", tmp_path / "issuer.pem", *target, "-url", demo["ocsp_url"],
                         "-CAfile", bundle, "-verify_other", chain, "-respout", tmp_path / f"{name}.resp")
            assert "Response verify OK" in result.stderr + result.stdout, result.stderr + result.stdout
            assert lint("lint_ocsp_response", tmp_path / f"{name}.resp") == ""
            return result.stdout

        assert ": good" in ocsp("-cert", tmp_path / "good.pem", name="good")
        out = ocsp("-cert", tmp_path / "bad.pem", name="bad")
        assert ": revoked" in out and "keyCompromise" in out, out
        assert ": unknown" in ocsp("-serial", "0x1234567890abcdef", name="unknown")
        # SHA-256 CertIDs are answered too.
        assert ": good" in ocsp("-sha256", "-cert", tmp_path / "good.pem", name="good256")
    finally:
        gw.stop()
