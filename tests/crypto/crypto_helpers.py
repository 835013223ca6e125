"""Helpers the crypto tests share (a module, not conftest, so tests can import it by name)."""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.crypto.builder import (
    CAUrls,
    build_certificate,
    build_intermediate_ca,
    build_root_ca,
    random_serial,
)
from enrollment_gateway.crypto.keys import generate_private_key
from enrollment_gateway.crypto.names import build_name
from enrollment_gateway.crypto.signer import LocalSigner

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
DATA = Path(__file__).resolve().parents[1] / "data"


class KeyPool:
    """key(alg, n) returns the n-th key of `alg`, generating it once per test session."""

    def __init__(self) -> None:
        self._keys: dict[tuple[KeyAlgorithm, int], object] = {}

    def key(self, alg: KeyAlgorithm, n: int = 0):
        if (alg, n) not in self._keys:
            self._keys[(alg, n)] = generate_private_key(alg)
        return self._keys[(alg, n)]


def write_pem(path: Path, *objs) -> Path:
    data = b""
    for obj in objs:
        if isinstance(obj, (x509.Certificate, x509.CertificateSigningRequest)):
            data += obj.public_bytes(serialization.Encoding.PEM)
        else:
            data += obj
    path.write_bytes(data)
    return path


def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), input=input, capture_output=True, timeout=60)


NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # openssl verify checks against the real clock
ROOT_URLS = CAUrls(
    crl_url="http://127.0.0.1/crl/root.crl",
    ocsp_url="http://127.0.0.1/ocsp/root",
    ca_issuers_url="http://127.0.0.1/ca/root.der",
)
INTER_URLS = CAUrls(
    crl_url="http://127.0.0.1/crl/issuing.crl",
    ocsp_url="http://127.0.0.1/ocsp/issuing",
    ca_issuers_url="http://127.0.0.1/ca/issuing.der",
)


@dataclass(frozen=True)
class Chain:
    root_signer: LocalSigner
    root: x509.Certificate
    inter_signer: LocalSigner
    inter: x509.Certificate
    leaf_key: object
    leaf: x509.Certificate


def make_chain(
    pool: KeyPool,
    alg: KeyAlgorithm,
    *,
    leaf_alg: KeyAlgorithm | None = None,
    subject: x509.Name | None = None,
    sans=(("DNS", "www.example.com"),),
    root_urls: CAUrls | None = None,
    inter_urls: CAUrls | None = INTER_URLS,
    inter_extra=(),
    leaf_extra=(),
    key_usages=("digital_signature", "key_encipherment"),
    now: dt.datetime | None = None,
) -> Chain:
    """root -> issuing CA -> TLS-server leaf, all keys of `alg` unless `leaf_alg` is given."""
    now = now or NOW
    root_signer = LocalSigner(pool.key(alg, 0), alg)
    root = build_root_ca(
        root_signer, build_name([("C", "US"), ("O", "Example"), ("CN", f"Example Root {alg.value}")]), 3650, now=now
    )
    inter_key = pool.key(alg, 1)
    inter = build_intermediate_ca(
        root_signer,
        root,
        inter_key.public_key(),
        build_name([("C", "US"), ("O", "Example"), ("CN", f"Example Issuing CA {alg.value}")]),
        1825,
        0,
        root_urls if root_urls is not None else ROOT_URLS,
        extended_key_usages=("server_auth", "client_auth"),
        extra_extensions=inter_extra,
        now=now,
    )
    inter_signer = LocalSigner(inter_key, alg)
    leaf_key = pool.key(leaf_alg or alg, 2)
    leaf = build_certificate(
        signer=inter_signer,
        issuer=inter,
        public_key=leaf_key.public_key(),
        subject=subject if subject is not None else build_name([("CN", "www.example.com")]),
        sans=sans,
        serial=random_serial(),
        not_before=now,
        not_after=now + dt.timedelta(days=90),
        key_usages=key_usages,
        extended_key_usages=("server_auth",),
        urls=inter_urls,
        extra_extensions=leaf_extra,
    )
    return Chain(root_signer, root, inter_signer, inter, leaf_key, leaf)
