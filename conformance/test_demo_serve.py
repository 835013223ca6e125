"""End to end: the real `serve --demo` process, issuance over HTTPS with the admin token, `openssl verify`."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from gateway_process import start_gateway

pytestmark = pytest.mark.slow


def _post(url: str, token: str, body: dict, ctx: ssl.SSLContext) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_demo_issues_over_https_and_openssl_verifies(tmp_path):
    gw = start_gateway(tmp_path)
    try:
        demo = gw.demo
        for key in ("api_url", "admin_token", "ca_bundle", "issue_url", "ocsp_url", "crl_url"):
            assert demo.get(key), key
        # A CSR made by the real openssl CLI.
        subprocess.run(
            ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(tmp_path / "k.pem"), "-subj", "/CN=www.example.test",
             "-addext", "subjectAltName=DNS:www.example.test,IP:127.0.0.1", "-out", str(tmp_path / "r.csr")],
            check=True, capture_output=True,
        )
        status, body = _post(demo["issue_url"], demo["admin_token"], {"csr": (tmp_path / "r.csr").read_text()},
                             gw.ssl_context())
        assert status == 201, body
        (tmp_path / "leaf.pem").write_text(body["certificate_pem"])
        (tmp_path / "chain.pem").write_text(body["chain_pem"])
        verify = subprocess.run(
            ["openssl", "verify", "-CAfile", demo["ca_bundle"], "-untrusted", str(tmp_path / "chain.pem"),
             str(tmp_path / "leaf.pem")], capture_output=True, text=True)
        assert verify.returncode == 0 and ": OK" in verify.stdout, verify.stdout + verify.stderr

        # A wrong token is refused with a problem document.
        status, problem = _post(demo["issue_url"], "egt_wrong", {"csr": "x"}, gw.ssl_context())
        assert status == 401 and problem["status"] == 401

        # The plain-HTTP listener does not serve the API (tokens never travel in clear).
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{gw.http_port}/api/v1/applications", timeout=5)
        assert err.value.code == 404
        first_token = demo["admin_token"]
    finally:
        rc = gw.stop()
    assert rc == 0, gw.output()  # SIGTERM is a graceful, clean exit
    assert first_token in gw.announced()  # printed once for the person starting the demo
    assert first_token not in gw.output()  # but the JSON logs never carry it
    assert demo["acme_eab_hmac_key"] not in gw.output()  # nor any other credential
    # A second start reuses what the first created (on the same ports: its CAs carry the first one's URLs).
    gw2 = start_gateway(tmp_path, ports=(gw.https_port, gw.http_port))
    try:
        assert gw2.demo["admin_token"] == first_token
        assert gw2.demo["root_ca_id"] == demo["root_ca_id"]
    finally:
        gw2.stop()
