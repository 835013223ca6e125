"""CRL publication: one full CRL per CA (RFC 5280 §5), built after revocations and on a schedule, served from memory.

Numbers come from the shared `counters` table (`crl:<ca id>`), so they grow across restarts and across instances
sharing one PostgreSQL (§5.2.3). A revocation returns only once a CRL listing it is stored and served here
(`revoked`, awaited by core/revocation.py); concurrent revocations share one rebuild, since each waits for the
per-CA lock and is done if a CRL that read its rows after it committed was built meanwhile. The background task
rebuilds every CA's CRL `crl_refresh_before_hours` before its nextUpdate, and retries a failed rebuild after
`crl_coalesce_seconds`.

Cache (`_cache`, CA id -> the CRL served): replaced here by every publication before `revoked` returns. An
instance serving a CRL asks the database whether another instance stored a newer one once
FRESHNESS_CHECK_SECONDS (a quarter second) have passed since its last such read began; the revocation call
returns only after that long, so every instance serves the new CRL from then on.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
import time
from dataclasses import dataclass, field
from email.utils import format_datetime

from ..config import RevocationSettings
from ..domain import RevocationReason
from ..errors import ErrorKind, GatewayError
from ..revocation.crl import RevokedRow, build_crl, select_entries
from ..storage.repositories.revocation import RevocationRepository
from .clock import Clock
from .revocation import SHARED_STATE_SECONDS, Issuers

log = logging.getLogger("enrollment_gateway.crl")

FRESHNESS_CHECK_SECONDS = SHARED_STATE_SECONDS  # how stale an instance's idea of "the latest CRL" may get
SCHEDULE_CHECK_SECONDS = 60.0  # how often the background task looks for CRLs nearing nextUpdate
# Entries of certificates that expired before the previous CRL are dropped (§3.3); the margin keeps ones whose
# revocation committed just after that CRL read its rows, so the inference in select_entries stays safe.
_EXPIRY_MARGIN = dt.timedelta(hours=1)


@dataclass
class PublishedCRL:
    """One CRL as served: DER, PEM on first use, and the HTTP validators derived from it."""

    ca_id: str
    number: int
    der: bytes
    this_update: dt.datetime
    next_update: dt.datetime
    etag: str = ""
    last_modified: str = ""
    _pem: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.etag = '"%x-%s"' % (self.number, hashlib.sha256(self.der).hexdigest()[:16])
        self.last_modified = format_datetime(self.this_update.astimezone(dt.timezone.utc), usegmt=True)

    @property
    def pem(self) -> bytes:
        """RFC 7468 §5 "X509 CRL", 64-column base64, computed once."""
        if self._pem is None:
            b64 = base64.b64encode(self.der)
            lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
            self._pem = b"-----BEGIN X509 CRL-----\n" + b"\n".join(lines) + b"\n-----END X509 CRL-----\n"
        return self._pem


class CRLPublisher:
    def __init__(self, db, clock: Clock, issuers: Issuers, settings: RevocationSettings) -> None:
        self._db, self._clock, self._issuers, self._settings = db, clock, issuers, settings
        self._cache: dict[str, PublishedCRL] = {}
        self._checked: dict[str, float] = {}  # ca id -> monotonic time of the last freshness check
        self._pending: dict[str, float] = {}  # ca id -> monotonic deadline of a rebuild still owed (a retry)
        self._read_at: dict[str, float] = {}  # ca id -> monotonic time the newest CRL built here read its rows
        self._locks: dict[str, asyncio.Lock] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    # --- what the HTTP handler calls -----------------------------------------------------------------------------

    async def current(self, ca_id: str) -> PublishedCRL:
        """The CRL to serve for `ca_id`; NOT_FOUND for a CA we do not hold, UNAVAILABLE when it cannot be built now
        (that CA alone: the others are served). Usually no I/O at all."""
        try:
            return await self._current(ca_id)
        except (GatewayError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("crl for %s unavailable", ca_id)
            raise GatewayError(ErrorKind.UNAVAILABLE, "the CRL cannot be built now") from None

    async def _current(self, ca_id: str) -> PublishedCRL:
        cached = self._cache.get(ca_id)
        now = time.monotonic()
        due = self._pending.get(ca_id)
        if cached is not None and due is None and now - self._checked.get(ca_id, 0.0) < FRESHNESS_CHECK_SECONDS:
            return cached
        if due is not None and due <= now:
            return await self.publish(ca_id)  # the background task has not got to it yet (or is not running)
        return await self._refresh_from_db(ca_id)

    async def revoked(self, ca_id: str) -> None:
        """A revocation listener, called after the revocation committed: return once a CRL built from rows read
        after that commit is stored and served. If building fails, the failure is logged and a retry scheduled
        (the revocation itself stands, and OCSP already shows it)."""
        committed = time.monotonic()
        lock = self._locks.setdefault(ca_id, asyncio.Lock())
        try:
            async with lock:
                if self._read_at.get(ca_id, float("-inf")) > committed:
                    return  # another revocation's rebuild read the rows after this one committed
                await self._publish_locked(ca_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            detail = exc.detail if isinstance(exc, GatewayError) else exc.__class__.__name__
            log.error("crl publication after a revocation failed for %s: %s; retrying", ca_id, detail)
            self._pending.setdefault(ca_id, time.monotonic() + self._settings.crl_coalesce_seconds)
            if self._wake is not None:
                self._wake.set()

    # --- building ------------------------------------------------------------------------------------------------

    async def publish(self, ca_id: str) -> PublishedCRL:
        """Build, sign, store and cache a new CRL for `ca_id` now."""
        async with self._locks.setdefault(ca_id, asyncio.Lock()):
            return await self._publish_locked(ca_id)

    async def _publish_locked(self, ca_id: str) -> PublishedCRL:
        self._pending.pop(ca_id, None)
        issuer = await self._issuers.get(ca_id)
        read_at = time.monotonic()
        this_update = self._clock.now().replace(microsecond=0)
        next_update = this_update + dt.timedelta(hours=self._settings.crl_validity_hours)
        async with self._db.transaction(readonly=True) as tx:
            repo = RevocationRepository.of(tx)
            head = await repo.latest_crl_head(ca_id)
            previous = head.this_update if head else None
            since = (previous - _EXPIRY_MARGIN) if previous else dt.datetime.min.replace(tzinfo=dt.timezone.utc)
            rows = await repo.revoked_for_issuer(ca_id, since)
            rows += await repo.revoked_cas_for_issuer(ca_id, since)
        revoked = [RevokedRow(r.serial, r.revoked_at, r.not_after, RevocationReason(r.reason), r.invalidity_date)
                   for r in rows]
        entries = select_entries(revoked, previous_this_update=previous)
        # Building a large CRL takes seconds of CPU (0.45 s per 100,000 entries): off the event loop.
        async with self._db.transaction() as tx:
            number = await tx.counters.next_value(f"crl:{ca_id}")
        der = await asyncio.to_thread(build_crl, signer=issuer.signer, issuer=issuer.certificate,
                                      entries=entries, number=number, this_update=this_update,
                                      next_update=next_update)
        async with self._db.transaction() as tx:
            await tx.crls.put(ca_id, number, der, this_update, next_update)
        published = PublishedCRL(ca_id, number, der, this_update, next_update)
        self._cache[ca_id] = published
        self._checked[ca_id] = read_at
        self._read_at[ca_id] = read_at
        log.info("crl published", extra={"event": {"ca_id": ca_id, "number": number, "entries": len(entries),
                                                    "octets": len(der)}})
        return published

    async def _refresh_from_db(self, ca_id: str) -> PublishedCRL:
        lock = self._locks.setdefault(ca_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(ca_id)
            if cached is not None and time.monotonic() - self._checked.get(ca_id, 0.0) < FRESHNESS_CHECK_SECONDS:
                return cached  # another request refreshed it while this one waited
            started = time.monotonic()  # before the read: the read sees every commit made before this
            async with self._db.transaction(readonly=True) as tx:
                number = await RevocationRepository.of(tx).latest_crl_number(ca_id)
                stored = None
                if number is not None and (cached is None or number > cached.number):
                    stored = await tx.crls.latest(ca_id)
            self._checked[ca_id] = started
            if stored is not None:
                cached = PublishedCRL(ca_id, stored.number, stored.der, stored.this_update, stored.next_update)
                self._cache[ca_id] = cached
        if cached is None or self._needs_refresh(cached):
            return await self.publish(ca_id)  # raises NOT_FOUND for a CA we do not hold
        return cached

    def _needs_refresh(self, crl: PublishedCRL) -> bool:
        before = dt.timedelta(hours=self._settings.crl_refresh_before_hours)
        return self._clock.now() >= crl.next_update - before

    # --- the background task (started and stopped by the HTTP layer's cleanup_ctx) ------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="crl-publisher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        assert self._wake is not None
        next_schedule = 0.0
        while True:
            now = time.monotonic()
            if now >= next_schedule:
                await self._guard(self._scheduled())
                next_schedule = time.monotonic() + SCHEDULE_CHECK_SECONDS
            for ca_id, due in sorted(self._pending.items(), key=lambda item: item[1]):
                if due <= time.monotonic():
                    await self._guard(self.publish(ca_id))
            deadline = min([next_schedule, *self._pending.values()])
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                pass

    async def _scheduled(self) -> None:
        """Rebuild every CA's CRL that is missing or within the refresh window of its nextUpdate."""
        before = dt.timedelta(hours=self._settings.crl_refresh_before_hours)
        for ca_id in await self._issuers.ids():
            async with self._db.transaction(readonly=True) as tx:
                head = await RevocationRepository.of(tx).latest_crl_head(ca_id)
            if head is None or self._clock.now() >= head.next_update - before:
                await self._guard(self.publish(ca_id))

    @staticmethod
    async def _guard(work) -> None:
        # One CA's failure (a database hiccup, an unusable key) must not stop the others or the task.
        try:
            await work
        except asyncio.CancelledError:
            raise
        except GatewayError as err:
            if err.kind is not ErrorKind.NOT_FOUND:
                log.error("crl publication failed: %s", err)
        except Exception:
            log.exception("crl publication failed")
