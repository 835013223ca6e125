"""The processes the ACME bench starts on loopback: pebble-challtestsrv (DNS only), Pebble, and the gateway.

Each is stopped by its own PID (SIGTERM, then SIGKILL), and every wait for readiness is bounded.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    """A child we started; `stop()` signals only this PID."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _spawn(name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> Process:
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                                env={**os.environ, **(env or {})})
    return Process(name, proc, log_path)


def _wait(process: Process, ready, timeout: float) -> Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.proc.returncode}:\n{process.output()}")
        if ready():
            return process
        time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{process.name} not ready in {timeout}s:\n{process.output()}")


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# --- TLS for Pebble's listener -------------------------------------------------------------------------------------


def write_tls_pair(workdir: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a 127.0.0.1/localhost leaf for Pebble's HTTPS listener; (ca, cert, key) paths.

    The Debian package ships no test/certs/ (no pebble.minica.pem), so we make our own and trust only it.
    """
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme bench pebble listener CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = workdir / "listener-ca.pem", workdir / "listener-cert.pem", workdir / "listener-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    return paths


# --- pebble-challtestsrv: DNS only ---------------------------------------------------------------------------------


def start_challtestsrv(workdir: Path, timeout: float = 15.0) -> tuple[Process, int]:
    """Mock DNS answering every A query with 127.0.0.1 and no AAAA, so validation always dials our responder."""
    dns_port, management_port = free_port(), free_port()
    process = _spawn("challtestsrv", [
        "pebble-challtestsrv", "-dns01", f"127.0.0.1:{dns_port}", "-management", f"127.0.0.1:{management_port}",
        "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
    ], workdir)
    return _wait(process, lambda: _tcp_open(management_port), timeout), dns_port


# --- Pebble --------------------------------------------------------------------------------------------------------


@dataclass
class Pebble:
    process: Process
    directory_url: str
    ca_bundle: Path  # trusts the listener only; Pebble's issuing roots are fetched from its management port


def start_pebble(workdir: Path, http01_port: int, dns_port: int, authz_reuse: int = 0,
                 timeout: float = 20.0) -> Pebble:
    """Pebble on loopback, http-01 dialled at `http01_port`, names resolved by the mock DNS at `dns_port`.

    PEBBLE_VA_NOSLEEP=1: no artificial validation delay. PEBBLE_WFE_NONCEREJECT=0: no random badNonce (the
    default rejects 5% of good nonces to exercise clients; here it would only add retries). PEBBLE_AUTHZREUSE:
    every order has a fresh name, so reuse could never apply; 0 states that explicitly.
    """
    ca, cert, key = write_tls_pair(workdir)
    listen, management, tls_port = free_port(), free_port(), free_port()
    config = {"pebble": {
        "listenAddress": f"127.0.0.1:{listen}", "managementListenAddress": f"127.0.0.1:{management}",
        "certificate": str(cert), "privateKey": str(key), "httpPort": http01_port, "tlsPort": tls_port,
        "ocspResponderURL": "", "externalAccountBindingRequired": False,
    }}
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps(config, indent=2))
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": str(authz_reuse)}
    process = _spawn("pebble", ["pebble", "-config", str(config_path), "-dnsserver", f"127.0.0.1:{dns_port}"],
                     workdir, env)
    directory = f"https://127.0.0.1:{listen}/dir"
    context = ssl.create_default_context(cafile=str(ca))

    def ready() -> bool:
        try:
            with urllib.request.urlopen(directory, timeout=1, context=context) as resp:
                return resp.status == 200
        except OSError:
            return False

    return Pebble(_wait(process, ready, timeout), directory, ca)


# --- the gateway ---------------------------------------------------------------------------------------------------


def _gateway_process_module():
    """conformance/gateway_process.py (conformance/ is a folder of tests, not a package)."""
    sys.path.insert(0, str(ROOT / "conformance"))
    import gateway_process

    return gateway_process


def start_gateway(workdir: Path, http01_port: int, dns_port: int):
    """`enrollment-gateway serve --demo` (SQLite), validating http-01 at our responder via the mock DNS."""
    return _gateway_process_module().start_gateway(
        workdir, EG_ACME__HTTP01_PORT=str(http01_port), EG_ACME__DNS_RESOLVERS=f"127.0.0.1:{dns_port}",
        # Pebble has no rate limits; every bench request comes from one loopback address, so lift ours likewise.
        EG_ACME__RATE_LIMIT_REQUESTS_PER_IP_PER_SECOND="1000000",
        EG_ACME__RATE_LIMIT_ORDERS_PER_ACCOUNT_PER_HOUR="1000000")


def gateway_acme(demo: dict) -> tuple[str | None, str | None, str | None]:
    """(directory URL, EAB kid, EAB HMAC key) from demo.json; the directory is None until the ACME server exists."""
    directory = demo.get("acme_directory")
    if not directory:  # tolerate it living beside the endpoint's other URLs
        directory = demo.get("endpoints", {}).get("tls-server", {}).get("acme_directory")
    return directory, demo.get("acme_eab_kid"), demo.get("acme_eab_hmac_key")
