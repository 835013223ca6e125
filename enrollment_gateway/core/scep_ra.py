"""SCEP registration authority certificates (RFC 8894 §2.1.1.1): one RSA RA per SCEP endpoint, issued by the CA.

Per endpoint rather than per CA: the RA key decrypts every request, so a message meant for one endpoint (with its
challenge password) cannot be opened at another endpoint of the same CA, and an endpoint's RA can be rotated or
retired without touching the CA's other endpoints. RSA whatever the CA's key (SCEP key transport is RSA), with
keyUsage digitalSignature + keyEncipherment; renewed when less than a third of its life remains. Older RA
certificates keep opening envelopes until they expire, for clients that fetched GetCACert before the renewal.
The key is wrapped with the KEK like every other key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from ..crypto import builder, keys, names
from ..crypto.kek import KeyEncryptionKey
from ..domain import SYSTEM_ACTOR
from ..errors import ErrorKind, GatewayError, not_found
from ..storage.repositories.scep import RaCertificateRow, ScepRepository
from .audit import Auditor
from .authorities import Authorities, LoadedCA
from .clock import Clock

RA_KEY_BITS = 2048
RA_VALIDITY = dt.timedelta(days=365)
CACHE_SECONDS = 60.0  # another instance's RA renewal reaches this one within this long (or at once, see below)


@dataclass(frozen=True)
class RaCredential:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    ca: LoadedCA


def ra_aad(ra_id: str) -> bytes:
    return f"scep-ra-key:{ra_id}".encode()


class RegistrationAuthorities:
    """The RA credentials of each endpoint, made on first use.

    Cache: per process, per endpoint, for CACHE_SECONDS. `credentials(..., refresh=True)` re-reads at once (the
    protocol asks for that when an envelope names an RA certificate it does not know, e.g. one another instance
    just made), so a renewal elsewhere never costs a client more than one extra read.
    """

    def __init__(self, db, kek: KeyEncryptionKey, clock: Clock, authorities: Authorities, auditor: Auditor) -> None:
        self._db, self._kek, self._clock, self._cas, self._audit = db, kek, clock, authorities, auditor
        self._cache: dict[str, tuple[float, list[RaCredential]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def credentials(self, endpoint_id: str, ca_id: str, *, refresh: bool = False) -> list[RaCredential]:
        """The endpoint's usable RA credentials, the one to advertise first."""
        cached = self._cache.get(endpoint_id)
        if cached and not refresh and time.monotonic() - cached[0] < CACHE_SECONDS and self._fresh(cached[1]):
            return cached[1]
        lock = self._locks.setdefault(endpoint_id, asyncio.Lock())
        async with lock:
            creds = await self._load(endpoint_id, ca_id)
            if not creds or not self._fresh(creds):
                await self._issue(endpoint_id, ca_id)
                creds = await self._load(endpoint_id, ca_id)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[endpoint_id] = (time.monotonic(), creds)
            return creds

    def _fresh(self, creds: list[RaCredential]) -> bool:
        """Is the newest RA certificate far enough from its end (a third of its life left)?"""
        cert = creds[0].certificate
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        return cert.not_valid_after_utc - self._clock.now() > life / 3

    async def _load(self, endpoint_id: str, ca_id: str) -> list[RaCredential]:
        async with self._db.transaction(readonly=True) as tx:
            rows = await ScepRepository.of(tx).ra_certificates(endpoint_id, self._clock.now())
        out = []
        for row in rows:
            if row.ca_id != ca_id:
                continue  # the profile moved to another CA: its RA must be issued by the new one
            key = keys.load_private_key(self._kek.unwrap(row.key_blob, ra_aad(row.id)))
            out.append(RaCredential(x509.load_pem_x509_certificate(row.certificate_pem.encode()), key,
                                    await self._cas.load_any(ca_id)))
        return out

    async def _issue(self, endpoint_id: str, ca_id: str) -> None:
        try:
            ca = await self._cas.load(ca_id)
        except GatewayError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                raise not_found("endpoint's CA") from None
            raise
        now = self._clock.now()
        key = rsa.generate_private_key(public_exponent=65537, key_size=RA_KEY_BITS)
        not_after = min(now + RA_VALIDITY, ca.certificate.not_valid_after_utc)
        cert = builder.build_certificate(
            signer=ca.signer, issuer=ca.certificate, public_key=key.public_key(),
            subject=names.build_name([("CN", f"SCEP RA {endpoint_id}"), ("O", "Enrollment Gateway")]), sans=(),
            serial=builder.random_serial(), not_before=now - dt.timedelta(minutes=5), not_after=not_after,
            key_usages=("digital_signature", "key_encipherment"), extended_key_usages=(),
            urls=self._cas.urls_for(ca_id))
        row_id = uuid.uuid4().hex
        row = RaCertificateRow(row_id, endpoint_id, ca_id, cert.public_bytes(Encoding.PEM).decode(),
                               self._kek.wrap(keys.private_key_to_pem(key), ra_aad(row_id)),
                               cert.not_valid_after_utc, now)
        async with self._db.transaction() as tx:
            await ScepRepository.of(tx).add_ra_certificate(row)
            await self._audit.record(tx, SYSTEM_ACTOR, "scep.ra_certificate.issued", "endpoint", endpoint_id,
                                     serial=format(cert.serial_number, "x"), not_after=not_after.isoformat())
