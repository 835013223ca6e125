"""EST simpleenroll throughput beside the JSON API's issuance rate, measured in the same run (issue 8).

    .venv/bin/python bench/est.py                       # starts `serve --demo` (SQLite) in a temp dir

Against the demo's device endpoint (both front ends issue under the same profile, policy and CA), with
pre-generated ECDSA P-256 CSRs, at concurrency 1 and 16:
- api:        POST /api/v1/endpoints/<device>/certificates, bearer token, kept-alive connections;
- est-basic:  simpleenroll with HTTP Basic over kept-alive connections;
- est-cert:   simpleenroll with a TLS client certificate (one the gateway issued) over kept-alive connections;
- est-cert-new: the same, with a new TLS connection (full handshake with client certificate) per enrolment.
Prints enrolments/s and p50/p99 per level, the server's and the client's CPU, and EST kept-alive / API.
The client shares the machine with the server, so every figure is a lower bound for a server on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "conformance"))

import aiohttp  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs7  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

import gateway_process  # noqa: E402
from issue_api import _own_cpu, _pct, _proc_cpu  # noqa: E402


def make_csrs(n: int) -> list[bytes]:
    """n distinct ECDSA P-256 CSRs for device-N, as DER."""
    out = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench-device-{i}")]))
               .sign(key, hashes.SHA256()))
        out.append(csr.public_bytes(serialization.Encoding.DER))
    return out


class Load:
    """One kind of request, sent `concurrency` at a time for `seconds` (bounded by `max_requests`)."""

    def __init__(self, name: str, url: str, bodies: list[bytes], headers: dict[str, str], ssl_ctx: ssl.SSLContext,
                 *, new_connections: bool, expect: int) -> None:
        self.name, self.url, self.bodies, self.headers, self.ssl = name, url, bodies, headers, ssl_ctx
        self.new_connections, self.expect = new_connections, expect

    async def drive(self, session, concurrency: int, seconds: float, max_requests: int):
        latencies: list[float] = []
        next_index = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            nonlocal next_index
            while next_index < max_requests and time.perf_counter() < deadline:
                body = self.bodies[next_index % len(self.bodies)]
                next_index += 1
                t0 = time.perf_counter()
                async with session.post(self.url, data=body, headers=self.headers) as resp:
                    payload = await resp.read()
                    if resp.status != self.expect:
                        raise RuntimeError(f"{self.name} answered {resp.status}: {payload[:300]!r}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(latencies), time.perf_counter() - started, latencies

    async def run(self, concurrency: int, seconds: float, server_pid: int) -> float:
        reuse = {"force_close": True} if self.new_connections else {"keepalive_timeout": 60}
        connector = aiohttp.TCPConnector(limit=concurrency, ssl=self.ssl, **reuse)
        async with aiohttp.ClientSession(connector=connector) as session:
            await self.drive(session, concurrency, 1.5, concurrency * 3)  # warm-up (and, kept alive, handshakes)
            cpu_server, cpu_client = _proc_cpu(server_pid), _own_cpu()
            count, elapsed, lat = await self.drive(session, concurrency, seconds, 1_000_000)
            cpu_server, cpu_client = _proc_cpu(server_pid) - cpu_server, _own_cpu() - cpu_client
        rate = count / elapsed
        print(f"  {self.name:13} c={concurrency:<3} {rate:7.0f} enrolments/s   p50 {_pct(lat, 0.5):7.1f} ms   "
              f"p99 {_pct(lat, 0.99):7.1f} ms   n={count:<5} cpu: server {cpu_server / elapsed:4.2f} cores "
              f"({cpu_server / max(count, 1) * 1e6:5.0f} us/enrolment), client {cpu_client / elapsed:4.2f} cores",
              flush=True)
        return rate


def _client_certificate(demo: dict, tmp: Path, ctx: ssl.SSLContext) -> ssl.SSLContext:
    """Enrol once with Basic and return a context presenting the issued certificate."""
    import urllib.request

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-client")])).sign(key, hashes.SHA256()))
    basic = base64.b64encode(f"{demo['est_username']}:{demo['est_password']}".encode()).decode()
    request = urllib.request.Request(f"{demo['est_url']}/simpleenroll",
                                     data=base64.b64encode(csr.public_bytes(serialization.Encoding.DER)),
                                     headers={"Content-Type": "application/pkcs10", "Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(request, context=ctx, timeout=30) as r:
        (cert,) = pkcs7.load_der_pkcs7_certificates(base64.b64decode(r.read()))
    (tmp / "client.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "client.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    with_cert = ssl.create_default_context(cafile=demo["ca_bundle"])
    with_cert.load_cert_chain(tmp / "client.pem", tmp / "client.key")
    return with_cert


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,16")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per level")
    parser.add_argument("--csrs", type=int, default=2000)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    print(f"generating {args.csrs} ECDSA P-256 CSRs ...", flush=True)
    ders = make_csrs(args.csrs)
    with tempfile.TemporaryDirectory(prefix="eg-bench-est-") as tmp_name:
        tmp = Path(tmp_name)
        gw = gateway_process.start_gateway(tmp)
        try:
            demo = gw.demo
            device = demo["endpoints"]["device"]
            ctx = ssl.create_default_context(cafile=demo["ca_bundle"])
            cert_ctx = _client_certificate(demo, tmp, ctx)
            basic = base64.b64encode(f"{demo['est_username']}:{demo['est_password']}".encode()).decode()
            b64 = [base64.b64encode(d) for d in ders]
            pem = [json.dumps({"csr": base64.b64encode(d).decode()}).encode() for d in ders]
            est = {"Content-Type": "application/pkcs10"}
            loads = [
                Load("api", device["api"], pem, {"Authorization": f"Bearer {demo['admin_token']}",
                                                 "Content-Type": "application/json"}, ctx,
                     new_connections=False, expect=201),
                Load("est-basic", f"{demo['est_url']}/simpleenroll", b64,
                     {**est, "Authorization": f"Basic {basic}"}, ctx, new_connections=False, expect=200),
                Load("est-cert", f"{demo['est_url']}/simpleenroll", b64, est, cert_ctx, new_connections=False,
                     expect=200),
                Load("est-cert-new", f"{demo['est_url']}/simpleenroll", b64, est, cert_ctx, new_connections=True,
                     expect=200),
            ]
            print(f"serve --demo (SQLite) pid {gw.proc.pid}; {args.seconds:.0f}s per level, device endpoint:",
                  flush=True)
            results = {}
            for load in loads:
                for level in levels:
                    results[(load.name, level)] = asyncio.run(load.run(level, args.seconds, gw.proc.pid))
        finally:
            gw.stop()
    for level in levels:
        api = results[("api", level)]
        for name in ("est-basic", "est-cert"):
            print(f"  c={level:<3} {name} kept-alive / api: {results[(name, level)] / api:.2f} (target >= 0.80)")
    print(json.dumps({f"{name}_c{c}": round(v) for (name, c), v in results.items()}))


if __name__ == "__main__":
    main()
