"""Time CRL generation with an ECDSA P-256 CA: 100,000 and 1,000,000 entries. Run by hand:

    .venv/bin/python bench/crl_generation.py [COUNT ...]

Prints, for each size, the seconds spent building and signing (build_crl, what the CRL refresh task pays),
the seconds crl_pem adds, and the DER size. A third of the entries carry keyCompromise, a fifth an invalidityDate.
"""

from __future__ import annotations

import datetime as dt
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.crypto.signer import LocalSigner
from enrollment_gateway.domain import RevocationReason
from enrollment_gateway.revocation.crl import CRLEntry, build_crl, crl_pem


def _ca() -> tuple[LocalSigner, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CA")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return LocalSigner(key, KeyAlgorithm.ECDSA_P256), cert


def _entries(count: int, now: dt.datetime) -> list[CRLEntry]:
    # 20-octet-ish serials, as a CA issuing random 159-bit serials has
    return [
        CRLEntry(
            serial=(0x5A << 152) + i * 7919,
            revoked_at=now - dt.timedelta(seconds=i),
            reason=RevocationReason.KEY_COMPROMISE if i % 3 == 0 else None,
            invalidity_date=now - dt.timedelta(days=1) if i % 5 == 0 else None,
        )
        for i in range(count)
    ]


def main(counts: list[int]) -> None:
    signer, cert = _ca()
    now = dt.datetime.now(dt.timezone.utc)
    for count in counts:
        entries = _entries(count, now)
        started = time.perf_counter()
        der = build_crl(signer=signer, issuer=cert, entries=entries, number=1, this_update=now,
                        next_update=now + dt.timedelta(days=7))
        built = time.perf_counter()
        crl_pem(der)
        pem_done = time.perf_counter()
        print(f"{count:>9,} entries: build_crl {built - started:6.2f} s, crl_pem {pem_done - built:5.2f} s, "
              f"DER {len(der):>11,} octets ({len(der) / 2**20:.1f} MiB)", flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [100_000, 1_000_000])
