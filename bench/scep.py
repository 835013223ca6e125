"""SCEP PKCSReq enrolments per second: the gateway beside micromdm's `scepserver`, same load, same run (issue #9).

    .venv/bin/python bench/scep.py                 # starts `serve --demo` and `scepserver` in temp dirs
    .venv/bin/python bench/scep.py --n1 40 --n16 160

Requester keys are made ahead of time (RSA 2048), and so is every pkiMessage (AES-256 envelope, SHA-256 signer,
a fresh transactionID each): the clock runs only over HTTP POSTs of ready bytes, at concurrency 1 and 16, with one
aiohttp session. Each server gets requests built for it (enveloped to its own RA/CA certificate, with its own
challenge). Only SUCCESS answers count: scepserver races on its file depot under concurrency and answers some
requests with failures (and issues duplicate serials).

scepserver listens on every interface (its -port flag takes a port only), so the whole bench re-runs itself in a
private network namespace (`unshare --net`, loopback only) when it can; otherwise scepserver is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from asn1crypto import cms, core  # noqa: E402
from asn1crypto import x509 as asn1_x509  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7  # noqa: E402
from cryptography.x509.oid import AttributeOID, NameOID  # noqa: E402

from protocols.scep import envelope  # noqa: E402
from protocols.scep.pki_message import (MESSAGE_TYPE, PKI_STATUS, SENDER_NONCE, TRANSACTION_ID,  # noqa: E402
                                        PkiStatus)

IN_NAMESPACE = "EG_BENCH_SCEP_NETNS"


def _gateway_process_module():
    """conformance/gateway_process.py (conformance/ is a folder of tests, not a package)."""
    sys.path.insert(0, str(ROOT / "conformance"))
    import gateway_process

    return gateway_process


# --- requests, built before the clock starts --------------------------------------------------------------------


def make_keys(n: int) -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(n)]


def _attr(oid: str, value: core.Asn1Value) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": cms.CMSAttributeType(oid), "values": [core.Any.load(value.dump())]})


def pkcsreq(key: rsa.RSAPrivateKey, recipient: x509.Certificate, cn: str, challenge: str) -> bytes:
    """A PKCSReq as scepclient makes one, but AES-256 and SHA-256: self-signed signer, CSR with the challenge."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    csr = (x509.CertificateSigningRequestBuilder().subject_name(name)
           .add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge.encode()).sign(key, hashes.SHA256()))
    now = dt.datetime.now(dt.timezone.utc)
    signer = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
              .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    content = envelope.seal(csr.public_bytes(Encoding.DER), recipient, "aes256_cbc")
    digest = hashes.Hash(hashes.SHA256())
    digest.update(content)
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [digest.finalize()]}),
        _attr(MESSAGE_TYPE, core.PrintableString("19")),
        _attr(TRANSACTION_ID, core.PrintableString(hashlib.sha256(os.urandom(16)).hexdigest())),
        _attr(SENDER_NONCE, core.OctetString(os.urandom(16))),
    ])
    ac = asn1_x509.Certificate.load(signer.public_bytes(Encoding.DER))
    signed = cms.SignedData({
        "version": "v1", "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": "data", "content": content}, "certificates": [ac],
        "signer_infos": [{
            "version": "v1",
            "sid": {"issuer_and_serial_number": {"issuer": ac.issuer, "serial_number": ac.serial_number}},
            "digest_algorithm": {"algorithm": "sha256"}, "signed_attrs": attrs,
            "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
            "signature": key.sign(attrs.dump(), padding.PKCS1v15(), hashes.SHA256())}],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def status_of(reply: bytes) -> str | None:
    try:
        si = cms.ContentInfo.load(reply)["content"]["signer_infos"][0]
        for attr in si["signed_attrs"]:
            if attr["type"].dotted == PKI_STATUS:
                return attr["values"][0].parse(core.PrintableString).native
    except (ValueError, KeyError, TypeError):
        return None
    return None


async def recipient_of(session: aiohttp.ClientSession, url: str) -> x509.Certificate:
    """The certificate to envelope to: the one with keyEncipherment (the RA), or the only one."""
    async with session.get(url, params={"operation": "GetCACert"}) as resp:
        body = await resp.read()
        if resp.content_type == "application/x-x509-ca-cert":
            return x509.load_der_x509_certificate(body)
    certs = pkcs7.load_der_pkcs7_certificates(body)
    for cert in certs:
        try:
            if cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment:
                return cert
        except x509.ExtensionNotFound:
            continue
    return certs[0]


# --- the load -----------------------------------------------------------------------------------------------------


@dataclass
class Level:
    concurrency: int
    sent: int
    successes: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.successes / self.seconds if self.seconds else 0.0


async def run_level(session: aiohttp.ClientSession, url: str, bodies: list[bytes], concurrency: int) -> Level:
    queue = list(bodies)
    successes = 0

    async def worker() -> None:
        nonlocal successes
        while queue:
            body = queue.pop()
            async with session.post(url, params={"operation": "PKIOperation"}, data=body,
                                    headers={"Content-Type": "application/x-pki-message"}) as resp:
                reply = await resp.read()
            if resp.status == 200 and status_of(reply) == PkiStatus.SUCCESS.value:
                successes += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Level(concurrency, len(bodies), successes, time.perf_counter() - start)


async def bench_server(name: str, url: str, challenge: str, keys: list, sizes: dict[int, int]) -> dict[int, Level]:
    out = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        recipient = await recipient_of(session, url)
        for concurrency, n in sizes.items():
            bodies = [pkcsreq(keys[i % len(keys)], recipient, f"bench-{concurrency}-{i}", challenge)
                      for i in range(n)]
            await run_level(session, url, bodies[: max(2, concurrency)], concurrency)  # warm-up, not counted
            level = await run_level(session, url, bodies, concurrency)
            out[concurrency] = level
            print(f"  {name:<10} c={concurrency:<3} {level.successes}/{level.sent} SUCCESS in {level.seconds:.2f}s"
                  f" = {level.rate:.1f}/s", flush=True)
    return out


def start_scepserver(tmp: Path, port: int, challenge: str) -> subprocess.Popen:
    depot = tmp / "depot"
    subprocess.run(["scepserver", "ca", "-init", "-depot", str(depot), "-keySize", "2048"], check=True,
                   capture_output=True, timeout=120)
    log = open(tmp / "scepserver.log", "wb")
    proc = subprocess.Popen(["scepserver", "-depot", str(depot), "-port", str(port), "-challenge", challenge,
                             "-allowrenew", "0"], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    import urllib.request
    while time.monotonic() < deadline:  # bounded wait for the listener
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/scep?operation=GetCACaps", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("scepserver did not start")


async def main(args: argparse.Namespace) -> None:
    sizes = {1: args.n1, 16: args.n16}
    print(f"making {args.keys} RSA 2048 requester keys ...", flush=True)
    keys = make_keys(args.keys)
    gp = _gateway_process_module()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gw = gp.start_gateway(tmp / "gateway")
        try:
            demo = gw.demo
            print("PKCSReq enrolments/s (RSA 2048, AES-256, SHA-256), SUCCESS answers only", flush=True)
            ours = await bench_server("gateway", demo["scep_url"], demo["scep_challenge"], keys, sizes)
        finally:
            gw.stop()
        theirs = None
        if shutil.which("scepserver") and os.environ.get(IN_NAMESPACE):
            (tmp / "scep").mkdir()
            port = gp.free_port()
            proc = start_scepserver(tmp / "scep", port, "bench-secret")
            try:
                theirs = await bench_server("scepserver", f"http://127.0.0.1:{port}/scep", "bench-secret", keys,
                                            sizes)
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        else:
            print("  scepserver skipped (not installed, or no private network namespace for it)")
    summary = {}
    for c in sizes:
        row = {"gateway_per_s": round(ours[c].rate, 1)}
        if theirs:
            row["scepserver_per_s"] = round(theirs[c].rate, 1)
            row["ratio"] = round(ours[c].rate / theirs[c].rate, 2) if theirs[c].rate else None
        summary[f"c{c}"] = row
        print(f"c={c:<3} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    print(json.dumps(summary))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n1", type=int, default=40, help="requests at concurrency 1")
    p.add_argument("--n16", type=int, default=160, help="requests at concurrency 16")
    p.add_argument("--keys", type=int, default=16, help="requester keys made ahead (reused across requests)")
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if not os.environ.get(IN_NAMESPACE) and shutil.which("unshare") and shutil.which("scepserver"):
        # Re-run inside a private network namespace with only loopback up, so scepserver's all-interfaces
        # listener is reachable from nowhere else; the gateway binds 127.0.0.1 there too.
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
        if probe.returncode == 0:
            script = 'ip link set lo up && exec "$0" "$@"'
            os.execvpe("unshare", ["unshare", "--net", "sh", "-c", script, sys.executable, *sys.argv],
                       {**os.environ, IN_NAMESPACE: "1"})
    asyncio.run(main(arguments))
