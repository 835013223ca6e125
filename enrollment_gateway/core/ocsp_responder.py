"""The OCSP responder (RFC 6960, RFC 5019 lightweight profile): CertID in, signed status out, mostly from memory.

Issuers are matched by name and key hash (SHA-1, SHA-256, SHA-384, SHA-512) against every CA the gateway holds; an
issuer we do not hold gets `unauthorized`, a serial the CA never issued `unknown` (never `good`).

Caches, what invalidates each, and how fast:
- Answers (`_by_cert_id`, and `_by_request` keyed by the request's own octets, so a repeated request costs a dict
  lookup and no parsing, signing or database work). Without a nonce the answer depends only on (CA, serial,
  CertID hash). Invalidated by a per-CA epoch: a revocation, release or CA revocation on this instance bumps it
  before the call returns (core/revocation.py awaits it); one on another instance bumps the CA's revocation
  generation in the shared database in the same transaction, and every instance reads all generations in one
  query before answering once SYNC_SECONDS (a quarter second) have passed since its last read began; the
  revocation call returns only after that long, so no instance answers from a stale entry after it. Entries are
  also re-signed `ocsp_refresh_before_hours` before nextUpdate.
- `unknown` is never cached, here or by HTTP caches (no-store): the serial may be issued a moment later.
- Issuer index (`_by_hashes`, CertID hashes -> CA id): a CA's hashes never change; a CA created anywhere is
  found by re-reading the CA list on a miss, at most every SYNC_SECONDS (a flood of foreign issuers stays four
  queries a second), so a new CA is answered for within a quarter second on every instance (`unauthorized`
  before that, never `unknown`).
- Child CA serials (`_child_serials`, CA id -> serial): a CA certificate never changes, so entries are never
  stale; the list of a CA's children is re-read from the database for every serial not found as a leaf, so an
  intermediate created on any instance is `good`, never `unknown`, from its creation on.
- Delegated responder certificates (`_responders`): rotated `ocsp_responder_rotate_before_days` before expiry;
  every instance reads the newest stored one before minting its own.

A request listing several CertIDs is refused as a whole with malformedRequest: cryptography's builder makes one
SingleResponse, RFC 5019 §2.1.1 has clients send one CertID, and answering only the first would leave the others
silently unanswered (RFC 6960 §4.2.2.3 wants one SingleResponse per certificate or none).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from email.utils import format_datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from ..config import RevocationSettings
from ..crypto import keys
from ..crypto.kek import KeyEncryptionKey
from ..crypto.signer import LocalSigner, Signer
from ..algorithms import KeyAlgorithm
from ..domain import RevocationReason
from ..errors import ErrorKind, GatewayError
from ..revocation.ocsp import (CertID, OCSPRequestError, build_responder_certificate, build_response,
                               error_response, parse_ocsp_request, responder_needs_rotation)
from ..storage.repositories.revocation import RevocationRepository
from .clock import Clock
from .revocation import SHARED_STATE_SECONDS, Issuer, Issuers

log = logging.getLogger("enrollment_gateway.ocsp")

MAX_REQUEST_OCTETS = 10_000
MAX_CERT_IDS = 50
SYNC_SECONDS = SHARED_STATE_SECONDS  # how often the shared revocation generations are read (see _notify there)
_RAW_CACHE_MAX = 200_000  # request octets -> answer; cleared when full (a flood of distinct requests)
PURPOSE = "ocsp-responder"
ERRORS = {status: error_response(status) for status in ocsp.OCSPResponseStatus
          if status is not ocsp.OCSPResponseStatus.SUCCESSFUL}


@dataclass(frozen=True)
class OCSPAnswer:
    """What the HTTP layer sends: the DER body, and for cacheable answers the RFC 5019 §6.2 header values."""

    body: bytes
    cacheable: bool = False
    next_update_ts: float = 0.0  # POSIX seconds; max-age counts down to it
    etag: str = ""
    last_modified: str = ""
    expires: str = ""


def _error(status: ocsp.OCSPResponseStatus) -> OCSPAnswer:
    return OCSPAnswer(ERRORS[status])


UNAUTHORIZED = _error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
TRY_LATER = _error(ocsp.OCSPResponseStatus.TRY_LATER)
MALFORMED = _error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
INTERNAL = _error(ocsp.OCSPResponseStatus.INTERNAL_ERROR)


@dataclass(frozen=True)
class _Entry:
    answer: OCSPAnswer
    ca_id: str
    epoch: int
    refresh_at: dt.datetime


@dataclass(frozen=True)
class _Responder:
    signer: Signer
    certificate: x509.Certificate
    is_issuer: bool


class OCSPResponder:
    def __init__(self, db, clock: Clock, kek: KeyEncryptionKey, issuers: Issuers,
                 settings: RevocationSettings) -> None:
        self._db, self._clock, self._kek, self._issuers, self._settings = db, clock, kek, issuers, settings
        self._by_hashes: dict[tuple[str, bytes, bytes], str] = {}  # (hash, name hash, key hash) -> CA id
        self._known: set[str] = set()
        self._indexed_at = -1e9
        self._responders: dict[str, _Responder] = {}
        self._child_serials: dict[str, int] = {}  # child CA id -> its certificate's serial
        self._epochs: dict[str, int] = {}
        self._generations: dict[str, int] | None = None
        self._synced_at = -1e9
        self._sync_lock = asyncio.Lock()
        self._locks: dict[str, asyncio.Lock] = {}
        self._by_request: dict[tuple[str | None, bytes], _Entry] = {}
        self._by_cert_id: dict[tuple[str, int, str], _Entry] = {}

    # --- invalidation ------------------------------------------------------------------------------------------------

    def revoked(self, ca_id: str) -> None:
        """A revocation listener: every cached answer of `ca_id` is stale from now on."""
        self._epochs[ca_id] = self._epochs.get(ca_id, 0) + 1

    async def _sync(self) -> None:
        async with self._sync_lock:
            if time.monotonic() - self._synced_at < SYNC_SECONDS:
                return  # another request synced while this one waited
            started = time.monotonic()  # before the read: the read sees every commit made before this
            async with self._db.transaction(readonly=True) as tx:
                current = await RevocationRepository.of(tx).generations()
            previous, self._generations = self._generations, current
            if previous is not None:
                for ca_id in set(current) | set(previous):
                    if current.get(ca_id) != previous.get(ca_id):
                        self.revoked(ca_id)
            self._synced_at = started

    # --- answering -----------------------------------------------------------------------------------------------

    async def respond(self, ca_id: str | None, request_der: bytes) -> OCSPAnswer:
        """The answer to one DER OCSPRequest sent to `ca_id`'s URL (None: the URL named no CA). Never raises."""
        try:
            if time.monotonic() - self._synced_at >= SYNC_SECONDS:
                await self._sync()
            entry = self._by_request.get((ca_id, request_der))
            if entry is not None and self._fresh(entry):
                return entry.answer
            return await self._respond_slow(ca_id, request_der)
        except asyncio.CancelledError:
            raise
        except GatewayError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                return UNAUTHORIZED  # the CA went away between the index and the answer
            log.error("ocsp request failed: %s", err.detail)
            return TRY_LATER  # this CA alone cannot answer now (Issuers.get logged why); the others still do
        except Exception:
            log.exception("ocsp request failed")
            return INTERNAL

    def _fresh(self, entry: _Entry) -> bool:
        return entry.epoch == self._epochs.get(entry.ca_id, 0) and self._clock.now() < entry.refresh_at

    async def _respond_slow(self, ca_id: str | None, request_der: bytes) -> OCSPAnswer:
        try:
            parsed = parse_ocsp_request(request_der, MAX_REQUEST_OCTETS, MAX_CERT_IDS)
        except OCSPRequestError as err:
            return _error(err.status)
        if len(parsed.cert_ids) != 1:
            return MALFORMED  # see the module docstring: one SingleResponse per CertID, or none
        if ca_id is not None and not await self._holds(ca_id):
            return UNAUTHORIZED
        cert_id = parsed.cert_ids[0]
        issuer_id = await self._issuer_for(cert_id)
        if issuer_id is None:
            return UNAUTHORIZED
        if parsed.nonce is not None:
            # RFC 8954: the nonce is echoed, so this answer is made for this request alone.
            issuer = await self._issuers.get(issuer_id)
            answer, _ = await self._build(issuer, cert_id, parsed.nonce)
            return answer
        key = (issuer_id, cert_id.serial, cert_id.hash_algorithm)
        entry = self._by_cert_id.get(key)
        if entry is None or not self._fresh(entry):
            entry = await self._build_entry(issuer_id, cert_id)
            if entry is None:
                return (await self._build(await self._issuers.get(issuer_id), cert_id, None))[0]
            self._by_cert_id[key] = entry
        if len(self._by_request) >= _RAW_CACHE_MAX:
            self._by_request.clear()
        self._by_request[(ca_id, request_der)] = entry
        return entry.answer

    async def _build_entry(self, issuer_id: str, cert_id: CertID) -> _Entry | None:
        """A cacheable answer, or None when the status is unknown (not cached)."""
        epoch = self._epochs.get(issuer_id, 0)  # taken before the status read: a revocation meanwhile wins
        issuer = await self._issuers.get(issuer_id)
        answer, status = await self._build(issuer, cert_id, None)
        if status == "unknown":
            return None
        refresh_at = (dt.datetime.fromtimestamp(answer.next_update_ts, dt.timezone.utc)
                      - dt.timedelta(hours=self._settings.ocsp_refresh_before_hours))
        return _Entry(answer, issuer_id, epoch, refresh_at)

    async def _build(self, issuer: Issuer, cert_id: CertID, nonce: bytes | None) -> tuple[OCSPAnswer, str]:
        status, revoked_at, reason = await self._status(issuer, cert_id.serial)
        responder = await self._responder(issuer)
        now = self._clock.now().replace(microsecond=0)
        next_update = now + dt.timedelta(hours=self._settings.ocsp_validity_hours)
        # A response must not outlive the certificate that signed it.
        next_update = min(next_update, responder.certificate.not_valid_after_utc)
        body = build_response(
            responder_signer=responder.signer, responder_cert=responder.certificate,
            issuer_cert=issuer.certificate, cert_id=cert_id, status=status, revoked_at=revoked_at, reason=reason,
            this_update=now, next_update=next_update, nonce=nonce, responder_is_issuer=responder.is_issuer,
        )
        answer = OCSPAnswer(
            # `unknown` may turn `good` the next moment (a certificate being issued): no cache may keep it.
            body=body, cacheable=nonce is None and status != "unknown", next_update_ts=next_update.timestamp(),
            etag='"%s"' % hashlib.sha256(body).hexdigest()[:32],
            last_modified=format_datetime(now, usegmt=True), expires=format_datetime(next_update, usegmt=True),
        )
        return answer, status

    async def _status(self, issuer: Issuer, serial: int):
        ca_id = issuer.ca.id
        async with self._db.transaction(readonly=True) as tx:
            repo = RevocationRepository.of(tx)
            # The revocation entries first: they outlive the inventory row (repositories/revocation.py).
            entry = await repo.revocation(ca_id, serial)
            if entry is not None:
                return "revoked", entry.revoked_at, RevocationReason(entry.reason)
            cert = await tx.certificates.get_by_serial(ca_id, serial)
            if cert is not None:
                if cert.revoked_at is None:
                    return "good", None, None
                reason = RevocationReason(cert.revocation_reason) if cert.revocation_reason else None
                return "revoked", cert.revoked_at, reason
            if await repo.was_issued(ca_id, serial):
                return "good", None, None  # signed, never revoked, deleted from the inventory since
            # Not a leaf: perhaps an intermediate this CA signed (those live in the CA table).
            revoked_ca = await repo.ca_revocation_by_serial(ca_id, serial)
        if revoked_ca is not None:
            return "revoked", revoked_ca.revoked_at, RevocationReason(revoked_ca.reason)
        if serial in await self._children(ca_id):
            return "good", None, None
        return "unknown", None, None

    async def _children(self, ca_id: str) -> set[int]:
        """Serials of the CA certificates `ca_id` signed, as the database says now (see the module docstring):
        the list is read every time, only the parsing of each child's certificate is kept."""
        async with self._db.transaction(readonly=True) as tx:
            cas = await tx.cas.list()
        serials = set()
        for ca in cas:
            if ca.parent_id != ca_id or not ca.certificate_pem:
                continue
            serial = self._child_serials.get(ca.id)
            if serial is None:
                serial = self._child_serials[ca.id] = x509.load_pem_x509_certificate(
                    ca.certificate_pem.encode()).serial_number
            serials.add(serial)
        return serials

    # --- issuers -------------------------------------------------------------------------------------------------

    async def _holds(self, ca_id: str) -> bool:
        if ca_id not in self._known:
            await self._index()
        return ca_id in self._known

    async def _issuer_for(self, cert_id: CertID) -> str | None:
        key = (cert_id.hash_algorithm, cert_id.issuer_name_hash, cert_id.issuer_key_hash)
        found = self._by_hashes.get(key)
        if found is None:
            await self._index()
            found = self._by_hashes.get(key)
        return found

    async def _index(self) -> None:
        # At most every SYNC_SECONDS, so a flood of requests for foreign issuers cannot become a flood of queries.
        if time.monotonic() - self._indexed_at < SYNC_SECONDS:
            return
        self._indexed_at = time.monotonic()
        by_hashes = await self._issuers.by_hashes()
        self._by_hashes, self._known = by_hashes, set(by_hashes.values())

    # --- responder certificates ----------------------------------------------------------------------------------

    async def _responder(self, issuer: Issuer) -> _Responder:
        if self._settings.ocsp_signed_by_ca:
            return _Responder(issuer.signer, issuer.certificate, True)
        ca_id = issuer.ca.id
        current = self._responders.get(ca_id)
        if current is not None and not self._needs_rotation(current.certificate):
            return current
        async with self._locks.setdefault(ca_id, asyncio.Lock()):
            current = self._responders.get(ca_id)
            if current is None or self._needs_rotation(current.certificate):
                current = await self._load_or_rotate(issuer)
                self._responders[ca_id] = current
        return current

    def _needs_rotation(self, cert: x509.Certificate) -> bool:
        before = dt.timedelta(days=self._settings.ocsp_responder_rotate_before_days)
        return responder_needs_rotation(cert, self._clock.now(), before)

    async def _load_or_rotate(self, issuer: Issuer) -> _Responder:
        """The CA's newest stored responder (another instance may have made it), or a new one if it is due."""
        ca_id = issuer.ca.id
        async with self._db.transaction(readonly=True) as tx:
            latest = await tx.keys.latest(ca_id, PURPOSE)
        if latest is not None:
            key_id, blob = latest
            stored = json.loads(self._kek.unwrap(blob, _aad(ca_id, key_id)))
            cert = x509.load_pem_x509_certificate(stored["certificate"].encode())
            if not self._needs_rotation(cert):
                key = keys.load_private_key(stored["key"].encode())
                return _Responder(LocalSigner(key, KeyAlgorithm.ECDSA_P256), cert, False)
        # EC P-256: small, fast signatures, whatever the CA's own algorithm; the response hash follows the key.
        key = keys.generate_private_key(KeyAlgorithm.ECDSA_P256)
        cert = build_responder_certificate(
            ca_signer=issuer.signer, ca_cert=issuer.certificate, responder_public_key=key.public_key(),
            validity=dt.timedelta(days=self._settings.ocsp_responder_validity_days), now=self._clock.now())
        key_id = uuid.uuid4().hex
        payload = json.dumps({"key": keys.private_key_to_pem(key).decode(),
                              "certificate": cert.public_bytes(serialization.Encoding.PEM).decode()})
        async with self._db.transaction() as tx:
            await tx.keys.put(key_id, ca_id, PURPOSE, self._kek.wrap(payload.encode(), _aad(ca_id, key_id)),
                              self._clock.now())
        log.info("ocsp responder certificate issued", extra={"event": {
            "ca_id": ca_id, "serial": format(cert.serial_number, "x"), "not_after": cert.not_valid_after_utc}})
        return _Responder(LocalSigner(key, KeyAlgorithm.ECDSA_P256), cert, False)

    async def responder_certificate(self, ca_id: str) -> x509.Certificate:
        """The certificate that signs `ca_id`'s OCSP responses now (the CA's own when ocsp_signed_by_ca)."""
        return (await self._responder(await self._issuers.get(ca_id))).certificate


def _aad(ca_id: str, key_id: str) -> bytes:
    return f"{PURPOSE}:{ca_id}:{key_id}".encode()
