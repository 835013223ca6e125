"""Test helpers for tests/revocation: a throwaway ECDSA P-256 PKI made with cryptography, openssl and pkilint."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.crypto.signer import LocalSigner

# Real time, rounded: openssl checks validity and OCSP status times against the clock.
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
BIN = Path(sys.executable).parent


def _key_usage(**on: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{name: on.get(name, False) for name in names})


class TestPKI:
    """Root CA valid around NOW, and leaves it issues. Times are relative to NOW."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.signer = LocalSigner(self.key, KeyAlgorithm.ECDSA_P256)
        name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Example Test Root CA"),
        ])
        public = self.key.public_key()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=365)).not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def leaf(self, cn: str = "leaf.example.test", days: int = 90) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject).public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(self.key, hashes.SHA256())
        )


def write_pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def run(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command (openssl, a pkilint linter), capturing text output; bounded by a timeout."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, check=check)


def lint_findings(linter: str, *args: str | Path) -> str:
    """pkilint findings at ERROR or above (empty when clean); `linter` is e.g. "lint_crl"."""
    result = run(BIN / linter, "lint", "-s", "ERROR", *args)
    assert result.returncode in (0, 1), result.stderr  # pkilint exits 1 when it reports findings
    return result.stdout.strip()

