"""SCEP against the real `serve --demo` process, driven by micromdm's `scepclient` (Debian package `scep`): enrol
with RSA 2048 and the demo's static challenge, renew by signing a RenewalReq with the issued certificate, and judge
every certificate with `openssl verify` against the demo root."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from gateway_process import start_gateway

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("scepclient") is None, reason="scepclient (Debian package scep) missing")]


def run(*args) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)


def ca_certs(url: str) -> list[x509.Certificate]:
    with urllib.request.urlopen(url + "?operation=GetCACert", timeout=30) as r:
        assert r.headers.get_content_type() == "application/x-x509-ca-ra-cert"
        return pkcs7.load_der_pkcs7_certificates(r.read())


def ra_fingerprint(certs: list[x509.Certificate]) -> str:
    """scepclient envelopes to every certificate GetCACert returned unless told which: the demo CA is ECDSA, so
    it is pointed at the RA (as NDES users point it with -ca-fingerprint)."""
    [ra] = [c for c in certs if c.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment]
    return ra.fingerprint(hashes.SHA256()).hex()


def verify(cert: Path, chain: Path, bundle: str) -> None:
    result = run("openssl", "verify", "-CAfile", bundle, "-untrusted", chain, cert)
    assert result.returncode == 0 and ": OK" in result.stdout, result.stdout + result.stderr


def test_scepclient_enrols_and_renews(tmp_path):
    gw = start_gateway(tmp_path)
    try:
        demo = gw.demo
        url = demo["scep_url"]
        certs = ca_certs(url)
        chain = tmp_path / "chain.pem"
        chain.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs if c.extensions.get_extension_for_class(
            x509.BasicConstraints).value.ca))
        device = tmp_path / "device"
        device.mkdir()
        key, cert = device / "key.pem", device / "client.pem"
        common = ["-server-url", url, "-private-key", key, "-ca-fingerprint", ra_fingerprint(certs)]

        enrol = run("scepclient", *common, "-cn", "router-17", "-challenge", demo["scep_challenge"],
                    "-keySize", "2048")
        assert enrol.returncode == 0, enrol.stdout + enrol.stderr
        first = x509.load_pem_x509_certificate(cert.read_bytes())
        assert first.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "router-17"
        assert first.public_key().key_size == 2048
        verify(cert, chain, demo["ca_bundle"])

        # With -certificate pointing at the issued certificate, scepclient sends a RenewalReq signed by it (no
        # challenge); the gateway answers with a new certificate for the same subject.
        renew = run("scepclient", *common, "-cn", "router-17", "-certificate", cert)
        assert renew.returncode == 0, renew.stdout + renew.stderr
        assert "RenewalReq" in renew.stderr or "pkiStatus=SUCCESS" in renew.stderr
        second = x509.load_pem_x509_certificate(cert.read_bytes())
        assert second.serial_number != first.serial_number and second.subject == first.subject
        verify(cert, chain, demo["ca_bundle"])

        # Also reachable over HTTPS (same paths).
        https_url = url.replace(f"http://127.0.0.1:{gw.http_port}", f"https://127.0.0.1:{gw.https_port}")
        with urllib.request.urlopen(https_url + "?operation=GetCACaps", context=gw.ssl_context(), timeout=30) as r:
            assert "SCEPStandard" in r.read().decode().split()

        # A wrong challenge is a FAILURE the client reports, not an HTTP error.
        other = tmp_path / "other"
        other.mkdir()
        wrong = run("scepclient", "-server-url", url, "-private-key", other / "key.pem", "-cn", "intruder",
                    "-challenge", "not-the-challenge", "-ca-fingerprint", ra_fingerprint(certs))
        assert wrong.returncode != 0 and "failInfo" in wrong.stdout + wrong.stderr
        assert not (other / "client.pem").exists()
    finally:
        gw.stop()
