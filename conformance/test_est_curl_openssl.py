"""EST against a real `serve --demo` process with curl and openssl only, the way RFC 7030's appendix and vendor
guides drive it: cacerts to PEM, `openssl req`, simpleenroll with Basic, simplereenroll with the new certificate as
TLS client certificate, enrolment with a client certificate from a separate manufacturer CA set as the endpoint's
anchor (through the admin API, with curl), serverkeygen, csrattrs; every certificate passes `openssl verify`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gateway_process import start_gateway

pytestmark = pytest.mark.slow


def run(*args, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, timeout=60, input=input)
    if check:
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result


def curl(*args) -> subprocess.CompletedProcess:
    """curl that fails on an HTTP error and keeps the headers apart (-D)."""
    return run("curl", "-sS", "--fail-with-body", *args)


def b64_to_pem(tmp: Path, b64: Path, out: Path) -> None:
    """A base64 certs-only answer -> PEM certificates, as every EST how-to does it."""
    run("openssl", "base64", "-d", "-in", b64, "-out", tmp / "p7.der")
    run("openssl", "pkcs7", "-inform", "DER", "-in", tmp / "p7.der", "-print_certs", "-out", out)


def new_csr(tmp: Path, name: str, cn: str, dns: str | None = None) -> Path:
    """An EC key and CSR from `openssl req`, the CSR as base64 DER (RFC 7030 §4.2.1)."""
    extra = ["-addext", f"subjectAltName=DNS:{dns}"] if dns else []
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", tmp / f"{name}.key", "-subj", f"/CN={cn}", *extra, "-outform", "DER", "-out", tmp / f"{name}.der")
    run("openssl", "base64", "-in", tmp / f"{name}.der", "-out", tmp / f"{name}.b64")
    return tmp / f"{name}.b64"


def verify(tmp: Path, bundle: str, cacerts: Path, leaf: Path) -> None:
    result = run("openssl", "verify", "-CAfile", bundle, "-untrusted", cacerts, leaf)
    assert result.stdout.strip().endswith(b": OK"), result.stdout


def test_est_with_curl_and_openssl(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path)
    try:
        demo = gw.demo
        est, bundle, auth = demo["est_url"], demo["ca_bundle"], f"{demo['est_username']}:{demo['est_password']}"
        tls = ["--cacert", bundle]
        pkcs10 = ["-H", "Content-Type: application/pkcs10"]

        # cacerts, without authentication, turned into PEM
        headers = tmp_path / "cacerts.h"
        curl(*tls, "-D", headers, "-o", tmp_path / "cacerts.b64", f"{est}/cacerts")
        assert "content-type: application/pkcs7-mime; smime-type=certs-only" in headers.read_text().lower()
        b64_to_pem(tmp_path, tmp_path / "cacerts.b64", tmp_path / "cacerts.pem")
        assert (tmp_path / "cacerts.pem").read_text().count("BEGIN CERTIFICATE") == 2

        # simpleenroll with HTTP Basic (curl sends it only after the 401 challenge with --anyauth)
        body = new_csr(tmp_path, "dev", "device-001", "device-001.example.test")
        curl(*tls, "--anyauth", "-u", auth, *pkcs10, "--data-binary", f"@{body}", "-o", tmp_path / "dev.p7",
             f"{est}/simpleenroll")
        b64_to_pem(tmp_path, tmp_path / "dev.p7", tmp_path / "dev.pem")
        verify(tmp_path, bundle, tmp_path / "cacerts.pem", tmp_path / "dev.pem")

        # simplereenroll: the new certificate as TLS client certificate, a new key, the same identity
        body = new_csr(tmp_path, "dev2", "device-001", "device-001.example.test")
        curl(*tls, "--cert", tmp_path / "dev.pem", "--key", tmp_path / "dev.key", *pkcs10,
             "--data-binary", f"@{body}", "-o", tmp_path / "dev2.p7", f"{est}/simplereenroll")
        b64_to_pem(tmp_path, tmp_path / "dev2.p7", tmp_path / "dev2.pem")
        verify(tmp_path, bundle, tmp_path / "cacerts.pem", tmp_path / "dev2.pem")
        new_key = run("openssl", "x509", "-in", tmp_path / "dev2.pem", "-noout", "-pubkey").stdout
        assert new_key == run("openssl", "pkey", "-in", tmp_path / "dev2.key", "-pubout").stdout

        # a manufacturer CA (openssl req -x509) set as the endpoint's anchor through the admin API, with curl
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", tmp_path / "mfr.key", "-subj", "/CN=Manufacturer CA", "-days", "30",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", tmp_path / "mfr.pem")
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", tmp_path / "idevid.key", "-subj", "/CN=SN-4711", "-out", tmp_path / "idevid.csr")
        (tmp_path / "idevid.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
        run("openssl", "x509", "-req", "-in", tmp_path / "idevid.csr", "-CA", tmp_path / "mfr.pem",
            "-CAkey", tmp_path / "mfr.key", "-days", "10", "-extfile", tmp_path / "idevid.ext",
            "-out", tmp_path / "idevid.pem")
        endpoint = demo["endpoints"]["device"]["id"]
        settings_url = f"{demo['api_url']}/applications/{demo['application_id']}/endpoints/{endpoint}/est"
        patch = json.dumps({"anchors_pem": (tmp_path / "mfr.pem").read_text()})
        curl(*tls, "-X", "PATCH", "-H", f"Authorization: Bearer {demo['admin_token']}",
             "-H", "Content-Type: application/json", "--data", patch, "-o", tmp_path / "settings.json", settings_url)
        body = new_csr(tmp_path, "ldevid", "SN-4711")
        curl(*tls, "--cert", tmp_path / "idevid.pem", "--key", tmp_path / "idevid.key", *pkcs10,
             "--data-binary", f"@{body}", "-o", tmp_path / "ldevid.p7", f"{est}/simpleenroll")
        b64_to_pem(tmp_path, tmp_path / "ldevid.p7", tmp_path / "ldevid.pem")
        verify(tmp_path, bundle, tmp_path / "cacerts.pem", tmp_path / "ldevid.pem")

        # the same IDevID from a CA nobody configured: refused with a reason, not a TLS alert
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", tmp_path / "rogue.key", "-subj", "/CN=SN-4711", "-days", "3", "-out", tmp_path / "rogue.pem")
        refused = run("curl", "-sS", *tls, "--cert", tmp_path / "rogue.pem", "--key", tmp_path / "rogue.key",
                      *pkcs10, "--data-binary", f"@{body}", "-w", "%{http_code}", f"{est}/simpleenroll")
        assert refused.stdout.endswith(b"401") and b"trust anchors" in refused.stdout, refused.stdout

        # serverkeygen: multipart/mixed with the PKCS#8 key and the certificate
        body = new_csr(tmp_path, "skg", "device-002")
        out = tmp_path / "skg.mime"
        curl(*tls, "-u", auth, *pkcs10, "--data-binary", f"@{body}", "-D", tmp_path / "skg.h", "-o", out,
             f"{est}/serverkeygen")
        content_type = next(line for line in (tmp_path / "skg.h").read_text().splitlines()
                            if line.lower().startswith("content-type:"))
        boundary = content_type.split("boundary=")[1].strip()
        parts = out.read_bytes().decode().split(f"--{boundary}")[1:-1]
        key_part = next(p for p in parts if "application/pkcs8" in p)
        cert_part = next(p for p in parts if "smime-type=certs-only" in p)
        (tmp_path / "skg-key.b64").write_text(key_part.split("\r\n\r\n", 1)[1])
        (tmp_path / "skg-cert.b64").write_text(cert_part.split("\r\n\r\n", 1)[1])
        run("openssl", "base64", "-d", "-in", tmp_path / "skg-key.b64", "-out", tmp_path / "skg-key.der")
        run("openssl", "pkey", "-inform", "DER", "-in", tmp_path / "skg-key.der", "-out", tmp_path / "skg.key")
        b64_to_pem(tmp_path, tmp_path / "skg-cert.b64", tmp_path / "skg.pem")
        verify(tmp_path, bundle, tmp_path / "cacerts.pem", tmp_path / "skg.pem")
        assert run("openssl", "x509", "-in", tmp_path / "skg.pem", "-noout", "-pubkey").stdout == \
            run("openssl", "pkey", "-in", tmp_path / "skg.key", "-pubout").stdout

        # csrattrs: a CsrAttrs SEQUENCE openssl can parse, naming commonName (the demo policy requires a CN)
        curl(*tls, "-o", tmp_path / "attrs.b64", f"{est}/csrattrs")
        run("openssl", "base64", "-d", "-in", tmp_path / "attrs.b64", "-out", tmp_path / "attrs.der")
        parsed = run("openssl", "asn1parse", "-inform", "DER", "-in", tmp_path / "attrs.der").stdout.decode()
        assert "commonName" in parsed, parsed

        # TLS 1.2 is offered beside 1.3 (proof-of-possession needs tls-unique), and API clients are unaffected
        curl(*tls, "--tls-max", "1.2", "-o", tmp_path / "cacerts12.b64", f"{est}/cacerts")
        curl(*tls, "-o", "/dev/null", f"{demo['api_url']}/openapi.json")
    finally:
        gw.stop()
