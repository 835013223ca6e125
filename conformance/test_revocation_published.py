"""Issue 7 items 3 and 6 against a real `serve --demo` process with the access log off: a revoke call returns only
once the CRL at the CDP and the OCSP responder show it (judged at once by `openssl verify -crl_check -crl_download`
and `openssl ocsp`, with the old CRL fetched and cached just before), and no CRL is served with a lifetime that
would let a cache keep it after it is superseded."""

from __future__ import annotations

import urllib.request

import pytest

from gateway_process import start_gateway
from test_revocation_tools import api, issue, run

pytestmark = pytest.mark.slow


def test_revoke_returns_once_crl_and_ocsp_show_it(tmp_path):
    gw = start_gateway(tmp_path, EG_LOGGING__ACCESS_LOG="false")
    try:
        demo, ctx = gw.demo, gw.ssl_context()
        chain, bundle = tmp_path / "chain.pem", demo["ca_bundle"]
        for round_ in range(3):  # each time with a warm CRL (the one before the revocation) in the server
            name = f"leaf{round_}"
            leaf = issue(tmp_path, name, demo, ctx)
            chain.write_text(leaf["chain_pem"])
            (tmp_path / "issuer.pem").write_text(leaf["chain_pem"].split("-----END CERTIFICATE-----")[0]
                                                 + "-----END CERTIFICATE-----\n")
            with urllib.request.urlopen(demo["crl_url"], timeout=10) as r:
                assert r.status == 200
                cache_control = r.headers["Cache-Control"]
            # Never "keep it for hours": a cache must revalidate (a 304 while current).
            assert "no-cache" in cache_control and "max-age" not in cache_control, cache_control
            ok = run("openssl", "verify", "-crl_check", "-crl_download", "-CAfile", bundle, "-untrusted", chain,
                     tmp_path / f"{name}.pem")
            assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr

            revoked = api(f"{demo['api_url']}/certificates/{leaf['id']}/revoke", demo["admin_token"],
                          {"reason": "keyCompromise"}, ctx)
            assert revoked["status"] == "revoked"

            # At once, no waiting: the README's own step, then OCSP at the AIA URL.
            refused = run("openssl", "verify", "-crl_check", "-crl_download", "-CAfile", bundle, "-untrusted",
                          chain, tmp_path / f"{name}.pem")
            assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr, \
                refused.stdout + refused.stderr
            status = run("openssl", "ocsp", "-issuer", tmp_path / "issuer.pem", "-cert", tmp_path / f"{name}.pem",
                         "-url", demo["ocsp_url"], "-CAfile", bundle, "-verify_other", chain)
            assert ": revoked" in status.stdout, status.stdout + status.stderr
        assert '"status": 500' not in gw.output()
    finally:
        gw.stop()
