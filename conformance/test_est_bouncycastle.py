"""Bouncy Castle's EST client (Java, org.bouncycastle.est from Debian's libbcpkix-java), unmodified, against a real
`serve --demo` process: cacerts, csrattrs, simpleenroll with Basic, simplereenroll with the issued certificate as
TLS client certificate, serverkeygen. Every certificate it got passes `openssl verify`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway_process import start_gateway

pytestmark = pytest.mark.slow
CLIENT = Path(__file__).resolve().parent / "est_clients" / "BcEstClient.java"
CLASSPATH = ":".join(f"/usr/share/java/{jar}.jar" for jar in ("bcpkix", "bcprov", "bcutil"))


def run(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
    return result


def test_bouncycastle_est_client(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path)
    try:
        demo = gw.demo
        out = tmp_path / "bc"
        out.mkdir()
        # "localhost": the listener certificate names it, and BC checks the host name against it.
        result = run("java", "-cp", CLASSPATH, CLIENT, f"localhost:{gw.https_port}", demo["endpoints"]["device"]["id"],
                     demo["ca_bundle"], demo["est_username"], demo["est_password"], out)
        assert "csrattrs [2.5.4.3]" in result.stdout  # the demo device policy requires a commonName
    finally:
        gw.stop()
    bundle, cacerts = demo["ca_bundle"], out / "bc-cacerts.pem"
    assert cacerts.read_text().count("BEGIN CERTIFICATE") == 2
    for leaf in ("bc-enrolled.pem", "bc-reenrolled.pem", "bc-serverkeygen.pem"):
        verified = run("openssl", "verify", "-CAfile", bundle, "-untrusted", cacerts, out / leaf)
        assert verified.stdout.strip().endswith(": OK"), verified.stdout
    subject = lambda p: run("openssl", "x509", "-in", p, "-noout", "-subject").stdout  # noqa: E731
    assert subject(out / "bc-enrolled.pem") == subject(out / "bc-reenrolled.pem")
    key_of_cert = run("openssl", "x509", "-in", out / "bc-serverkeygen.pem", "-noout", "-pubkey").stdout
    assert key_of_cert == run("openssl", "pkey", "-inform", "DER", "-in", out / "bc-serverkeygen.p8", "-pubout").stdout
