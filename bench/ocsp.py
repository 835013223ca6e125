"""OCSP responses per second, the gateway against `openssl ocsp` on the same certificates, then CRL build times.

    .venv/bin/python bench/ocsp.py [--seconds 10] [--connections 32] [--certs 40] [--no-crl]

Starts the real `enrollment-gateway serve --demo` on free loopback ports, issues --certs certificates through the
API and revokes half of them. Then, for POST and for GET, drives `wrk` (a Lua script cycling through one
pre-made request per certificate, no nonce, SHA-1 CertIDs as RFC 5019 clients send) against the gateway's OCSP
URL and against a fresh `openssl ocsp -index … -CA … -rsigner … -port` answering for the same CA and serials,
both signing with an EC P-256 responder key. Prints responses/s for each and the ratio gateway/openssl, then the
CRL generation times from bench/crl_generation.py (100,000 and 1,000,000 entries).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "conformance"))
sys.path.insert(0, str(ROOT / "bench"))

from gateway_process import free_port, start_gateway  # noqa: E402


def _api(url: str, token: str, body: dict, ctx: ssl.SSLContext) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return json.loads(r.read())


def _csr(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())


def _index_line(cert: x509.Certificate, revoked_at: dt.datetime | None) -> str:
    """One line of openssl's CA database (index.txt): status, expiry, revocation, serial, file, subject."""
    expiry = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    revocation = f"{revoked_at.strftime('%y%m%d%H%M%SZ')},keyCompromise" if revoked_at else ""
    subject = "/" + "/".join(f"{a.rfc4514_attribute_name}={a.value}" for a in cert.subject)
    return "\t".join(("R" if revoked_at else "V", expiry, revocation, format(cert.serial_number, "X"), "unknown",
                      subject)) + "\n"


def _responder(tmp: Path) -> tuple[Path, Path]:
    """An EC P-256 responder key and certificate for openssl (throughput only: nobody verifies its chain here)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench OCSP responder")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    (tmp / "rsigner.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "rkey.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    return tmp / "rsigner.pem", tmp / "rkey.pem"


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def _wrk_script(tmp: Path, name: str, method: str, path_prefix: str, requests: list[bytes]) -> Path:
    if method == "POST":
        items = ",\n".join(_lua_string(r) for r in requests)
        body = f"""
local bodies = {{ {items} }}
local headers = {{ ["Content-Type"] = "application/ocsp-request" }}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "{path_prefix}", headers, bodies[i])
end
"""
    else:
        paths = ",\n".join('"%s/%s"' % (path_prefix, base64.b64encode(r).decode().replace("/", "%2F")
                                        .replace("+", "%2B").replace("=", "%3D")) for r in requests)
        body = f"""
local paths = {{ {paths} }}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""
    body += """
local bad = 0
response = function(status, headers, body)
  if status ~= 200 or string.byte(body, 5) == nil then bad = bad + 1 end
end
"""
    path = tmp / f"{name}.lua"
    path.write_text(body)
    return path


def _wrk(url: str, script: Path, seconds: int, connections: int, before_load=None) -> tuple[float, str]:
    """Requests/s and wrk's error line. `before_load(proc)` runs once wrk has started (see _openssl_run)."""
    proc = subprocess.Popen(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = before_load() if before_load is not None else None
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    finally:
        if started is not None:
            _stop(started)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    return (float(match.group(1)) if match else 0.0), (errors.group(0) if errors else "")


def _openssl_command(tmp: Path, port: int, rsigner: Path, rkey: Path) -> list[str]:
    return ["openssl", "ocsp", "-index", str(tmp / "index.txt"), "-CA", str(tmp / "issuer.pem"), "-rsigner",
            str(rsigner), "-rkey", str(rkey), "-port", str(port), "-ndays", "1", "-nrequest", "100000000"]


def _openssl_start(tmp: Path, port: int, rsigner: Path, rkey: Path) -> subprocess.Popen:
    proc = subprocess.Popen(_openssl_command(tmp, port, rsigner, rkey), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tmp)
    time.sleep(0.5)  # no connect probe: it would wedge the responder (see _openssl_behind_probe)
    return proc


def _openssl_behind_probe(tmp: Path, rsigner: Path, rkey: Path):
    """(port, before_load) for measuring a fresh `openssl ocsp` with wrk.

    wrk opens one connection and closes it without a request before it starts, and `openssl ocsp` (3.0) then
    waits on that connection forever. So a placeholder listener takes wrk's probe, and the responder is started
    on the same port right after; wrk's first connects meanwhile fail and are retried (wrk reports them as
    connect errors, and they cost the responder nothing).
    """
    import socket

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def before_load() -> subprocess.Popen:
        listener.settimeout(10)
        probe, _ = listener.accept()
        probe.close()
        listener.close()
        return subprocess.Popen(_openssl_command(tmp, port, rsigner, rkey), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=tmp)

    return port, before_load


def _check_answers(url: str, requests: list[bytes], expected: list[ocsp.OCSPCertStatus]) -> None:
    """Both responders must say what the index says before their speed means anything."""
    for request, status in zip(requests, expected):
        req = urllib.request.Request(url, data=request, headers={"Content-Type": "application/ocsp-request"})
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = ocsp.load_der_ocsp_response(r.read())
        assert answer.certificate_status is status, (url, answer.certificate_status, status)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--certs", type=int, default=40)
    parser.add_argument("--no-crl", action="store_true", help="skip the CRL generation timings")
    parser.add_argument("--log-level", default="INFO", help="the gateway's; INFO writes one line per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ocsp-") as name:
        tmp = Path(name)
        gw = start_gateway(tmp, EG_LOGGING__LEVEL=args.log_level)
        try:
            demo = gw.demo
            ctx = gw.ssl_context()
            certs, statuses, index = [], [], []
            issuer = None
            for i in range(args.certs):
                issued = _api(demo["issue_url"], demo["admin_token"], {"csr": _csr(f"b{i}.example.test")}, ctx)
                cert = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())
                issuer = issuer or x509.load_pem_x509_certificates(issued["chain_pem"].encode())[0]
                revoked_at = None
                if i % 2:
                    done = _api(f"{demo['api_url']}/certificates/{issued['id']}/revoke", demo["admin_token"],
                                {"reason": "keyCompromise"}, ctx)
                    revoked_at = dt.datetime.fromisoformat(done["revoked_at"].replace("Z", "+00:00"))
                certs.append(cert)
                statuses.append(ocsp.OCSPCertStatus.REVOKED if revoked_at else ocsp.OCSPCertStatus.GOOD)
                index.append(_index_line(cert, revoked_at))
            (tmp / "issuer.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
            (tmp / "index.txt").write_text("".join(index))
            (tmp / "index.txt.attr").write_text("unique_subject = no\n")
            rsigner, rkey = _responder(tmp)
            requests = [ocsp.OCSPRequestBuilder().add_certificate(c, issuer, hashes.SHA1()).build()
                        .public_bytes(serialization.Encoding.DER) for c in certs]
            gateway_url = demo["ocsp_url"]
            gateway_path = "/" + gateway_url.split("/", 3)[3]
            _check_answers(gateway_url, requests, statuses)
            print(f"{args.certs} certificates ({args.certs // 2} revoked), wrk -t2 -c{args.connections} "
                  f"-d{args.seconds}s, EC P-256 responder keys", flush=True)
            results = {}
            for method in ("POST", "GET"):
                script_gw = _wrk_script(tmp, f"gw-{method}", method, gateway_path, requests)
                gw_rate, gw_err = _wrk(gateway_url.rsplit("/ocsp/", 1)[0], script_gw, args.seconds, args.connections)
                if method == "POST":  # the same answers from openssl as from the gateway, on a throwaway one
                    proc = _openssl_start(tmp, free_port_ := free_port(), rsigner, rkey)
                    try:
                        _check_answers(f"http://127.0.0.1:{free_port_}/", requests, statuses)
                    finally:
                        _stop(proc)
                port, before_load = _openssl_behind_probe(tmp, rsigner, rkey)
                script_os = _wrk_script(tmp, f"os-{method}", method, "/" if method == "POST" else "", requests)
                os_rate, os_err = _wrk(f"http://127.0.0.1:{port}", script_os, args.seconds, args.connections,
                                       before_load)
                results[method] = (gw_rate, os_rate)
                ratio = gw_rate / os_rate if os_rate else float("inf")
                print(f"OCSP {method:<4}: gateway {gw_rate:>9,.0f}/s   openssl ocsp {os_rate:>9,.0f}/s   "
                      f"ratio {ratio:5.2f}   {gw_err} {('openssl: ' + os_err) if os_err else ''}", flush=True)
        finally:
            gw.stop()
    if not args.no_crl:
        from crl_generation import main as crl_main

        print("CRL generation (build_crl, ECDSA P-256 CA):", flush=True)
        crl_main([100_000, 1_000_000])


if __name__ == "__main__":
    main()
