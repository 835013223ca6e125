"""Background challenge validation (RFC 8555 §7.5.1, §8): tracked worker tasks, bounded attempts and concurrency.

A challenge POST claims the authorization in the database (pending → processing, with a lease) and queues it
here; `workers` tasks validate concurrently. A connection or DNS failure is retried up to `attempts` times, then
the result is written back, where any instance serving a poll reads it. If this instance stops mid-validation,
the lease runs out and another instance's `recover_orphans` takes the work over (at most MAX_TAKEOVERS times).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from enrollment_gateway.config import AcmeSettings
from enrollment_gateway.storage.repositories.acme import AcmeAuthorization, AcmeStore

from . import challenges, jws, problems

log = logging.getLogger("enrollment_gateway.acme.validation")

MAX_TAKEOVERS = 3  # leases claimed on one authorization before it is declared failed
_TRANSIENT = frozenset({"connection", "dns"})  # worth another attempt; a wrong answer is not


class Validator:
    def __init__(self, store: AcmeStore, clock, settings: AcmeSettings) -> None:
        self._store, self._clock, self._settings = store, clock, settings
        self.validation_settings = challenges.ValidationSettings(
            http01_port=settings.http01_port, tls_alpn01_port=settings.tls_alpn01_port,
            dns_resolvers=tuple(settings.dns_resolvers), timeout_seconds=settings.validation_timeout_seconds)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    @property
    def lease(self) -> dt.timedelta:
        """Long enough for every attempt of one validation, with their pauses."""
        attempts = max(1, self._settings.validation_attempts)
        return dt.timedelta(seconds=attempts * (self._settings.validation_timeout_seconds + 2) + 10)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(), name=f"acme-validator-{i}")
                       for i in range(max(1, self._settings.validation_workers))]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def submit(self, authz_id: str) -> None:
        self._queue.put_nowait(authz_id)

    async def recover_orphans(self) -> int:
        """Take over validations whose instance let the lease lapse; the takeover itself is atomic."""
        now = self._clock.now()
        taken = 0
        async with self._store.read() as repo:
            ids = await repo.orphaned_validations(now)
        for authz_id in ids:
            async with self._store.write() as repo:
                if await repo.renew_lease(authz_id, now, now + self.lease):
                    self.submit(authz_id)
                    taken += 1
        return taken

    async def _worker(self) -> None:
        while True:
            authz_id = await self._queue.get()
            try:
                await self.validate(authz_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad validation must not stop the worker; the lease lets it be retried
                log.exception("validation of authorization %s failed", authz_id)
            finally:
                self._queue.task_done()

    async def validate(self, authz_id: str) -> None:
        async with self._store.read() as repo:
            authz = await repo.authorization(authz_id)
            account = await repo.account(authz.account_id) if authz is not None else None
        if authz is None or account is None or authz.challenge_status != "processing":
            return
        if authz.attempts > MAX_TAKEOVERS:
            problem = problems.connection("validation was interrupted too often; giving up")
            await self._finish(authz, challenges.ValidationResult.failure(problem, []))
            return
        key_authorization = jws.key_authorization(authz.token, jws.stored_jwk(account.jwk))
        attempts = max(1, self._settings.validation_attempts)
        result = None
        for attempt in range(attempts):
            try:
                result = await self._run(authz, key_authorization)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or an input no validator expected: fail now, say so, do not retry
                result = self._crashed(authz, exc)
                break
            if result.ok or result.problem is None or result.problem.type not in _TRANSIENT:
                break
            if attempt + 1 < attempts:
                await asyncio.sleep(min(2.0, 0.5 * (attempt + 1)))
        assert result is not None
        await self._finish(authz, result)

    def _crashed(self, authz: AcmeAuthorization, exc: Exception) -> challenges.ValidationResult:
        """The truthful answer when a validator raised: the server failed, not the client's name or response.

        Without this the worker's catch-all left the challenge `processing` until its lease ran out and another
        instance retried it, MAX_TAKEOVERS times, ending in a misleading `connection` error. The exception's text
        stays in the log (it may hold internals); the client learns which validation failed and that it is final.
        """
        log.error("%s validation of %s (authorization %s) raised %s: %s", authz.challenge_type,
                  authz.identifier_value, authz.id, type(exc).__name__, exc)
        detail = (f"the {authz.challenge_type} validator failed on {authz.identifier_value!r} with an internal "
                  f"error; this challenge cannot succeed, create a new order")
        return challenges.ValidationResult.failure(problems.AcmeProblem("serverInternal", detail, 500), [])

    async def _run(self, authz: AcmeAuthorization, key_authorization: str) -> challenges.ValidationResult:
        s = self.validation_settings
        domain = authz.identifier_value
        match authz.challenge_type:
            case "http-01":
                return await challenges.validate_http01(domain, authz.token, key_authorization, s)
            case "dns-01":
                return await challenges.validate_dns01(domain, key_authorization, s)
            case "tls-alpn-01":
                return await challenges.validate_tls_alpn01(domain, key_authorization, s)
        return challenges.ValidationResult.failure(problems.malformed("unknown challenge type"), [])

    async def _finish(self, authz: AcmeAuthorization, result: challenges.ValidationResult) -> None:
        error = None
        if not result.ok and result.problem is not None:
            error = result.problem.to_json()
        async with self._store.write() as repo:
            await repo.finish_challenge(authz.id, valid=result.ok, at=self._clock.now(), error=error,
                                        records=[dict(r) for r in result.records])
