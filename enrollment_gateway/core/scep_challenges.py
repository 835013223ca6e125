"""SCEP challenge passwords (RFC 8894 §2.3) per endpoint, chosen by the application's admins.

Three validators behind one small interface, so an Intune-style one can slot in later:
- static: one shared password, wrapped with the KEK at rest and compared in constant time;
- one_time: random passwords minted by an admin with an expiry (NDES-style), each redeemed once, atomically, on
  any instance (only their SHA-256 is stored: they are random, so the digest cannot be guessed back);
- webhook: the CSR and the challenge go to a configured URL that answers allow or deny, with a timeout; any
  error, timeout or unclear answer is a deny (fail closed).
No settings at all means no challenge is accepted: only renewals signed by a certificate we issued get through.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Protocol

from ..crypto.kek import KeyEncryptionKey
from ..domain import Actor, Role
from ..errors import malformed, not_found
from ..storage.repositories.scep import ScepRepository, ScepSettings
from .access import require_role
from .audit import Auditor
from .clock import Clock

MODES = ("static", "one_time", "webhook")
MAX_CHALLENGE = 255  # challengePassword is a DirectoryString of at most 255 characters (RFC 2985 §5.4.1)
ONE_TIME_TTL = dt.timedelta(hours=1)
MAX_ONE_TIME_TTL = dt.timedelta(days=30)
WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_MAX_ANSWER = 64 * 1024


def static_aad(endpoint_id: str) -> bytes:
    return f"scep-challenge:{endpoint_id}".encode()


def _digest(challenge: str) -> str:
    return hashlib.sha256(challenge.encode()).hexdigest()


@dataclass(frozen=True)
class ChallengeCheck:
    """What a validator sees: the endpoint, the password from the CSR, the CSR itself and who sent it."""

    endpoint_id: str
    challenge: str | None
    csr_der: bytes
    source: str | None


class ChallengeValidator(Protocol):
    async def validate(self, check: ChallengeCheck) -> bool: ...


@dataclass(frozen=True)
class MintedChallenge:
    challenge: str  # shown once
    expires_at: dt.datetime


class ScepChallenges:
    def __init__(self, db, kek: KeyEncryptionKey, clock: Clock, auditor: Auditor, *,
                 webhook_timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> None:
        self._db, self._kek, self._clock, self._audit = db, kek, clock, auditor
        self.webhook_timeout = webhook_timeout  # seconds; a slower answer is a deny
        self.changed: Callable[[str], None] = lambda endpoint_id: None  # told after an endpoint's settings change

    # --- administration (the application's admins) -------------------------------------------------------------

    async def _check_endpoint(self, tx, actor: Actor, application_id: str, endpoint_id: str) -> None:
        require_role(actor, application_id, Role.ADMIN)
        endpoint = await tx.endpoints.get(endpoint_id)
        if endpoint is None or endpoint.application_id != application_id:
            raise not_found("endpoint")

    async def settings(self, actor: Actor, application_id: str, endpoint_id: str) -> ScepSettings | None:
        async with self._db.transaction(readonly=True) as tx:
            await self._check_endpoint(tx, actor, application_id, endpoint_id)
            return await ScepRepository.of(tx).settings(endpoint_id)

    async def configure(self, actor: Actor, application_id: str, endpoint_id: str, *, mode: str,
                        static_challenge: str | None = None, webhook_url: str | None = None,
                        include_root: bool = False) -> ScepSettings:
        """Choose how this endpoint checks challenges; replaces the previous choice."""
        if mode not in MODES:
            raise malformed(f"challenge mode must be one of {', '.join(MODES)}")
        wrapped = None
        if mode == "static":
            if not static_challenge or len(static_challenge) > MAX_CHALLENGE or len(static_challenge) < 8:
                raise malformed(f"a static challenge has 8 to {MAX_CHALLENGE} characters")
            wrapped = self._kek.wrap(static_challenge.encode(), static_aad(endpoint_id))
        if mode == "webhook":
            if not webhook_url or not webhook_url.startswith(("https://", "http://")) or len(webhook_url) > 2048:
                raise malformed("a webhook needs an http(s) URL")
        settings = ScepSettings(endpoint_id, mode, wrapped, webhook_url if mode == "webhook" else None,
                                include_root, self._clock.now(), actor.id)
        async with self._db.transaction() as tx:
            await self._check_endpoint(tx, actor, application_id, endpoint_id)
            await ScepRepository.of(tx).put_settings(settings)
            await self._audit.record(tx, actor, "scep.settings.updated", "endpoint", endpoint_id,
                                     application_id=application_id, mode=mode, include_root=include_root)
        self.changed(endpoint_id)
        return settings

    async def mint(self, actor: Actor, application_id: str, endpoint_id: str,
                   ttl: dt.timedelta = ONE_TIME_TTL) -> MintedChallenge:
        """A one-time challenge for this endpoint (its mode must be one_time for it to be accepted)."""
        if not dt.timedelta(0) < ttl <= MAX_ONE_TIME_TTL:
            raise malformed("a one-time challenge lives between a second and 30 days")
        challenge = secrets.token_urlsafe(24)
        now = self._clock.now()
        async with self._db.transaction() as tx:
            await self._check_endpoint(tx, actor, application_id, endpoint_id)
            repo = ScepRepository.of(tx)
            await repo.add_challenge(_digest(challenge), endpoint_id, now + ttl, actor.id, now)
            await repo.prune_challenges(now - dt.timedelta(days=1))
            await self._audit.record(tx, actor, "scep.challenge.minted", "endpoint", endpoint_id,
                                     application_id=application_id, expires_at=(now + ttl).isoformat())
        return MintedChallenge(challenge, now + ttl)

    # --- checking (the SCEP front end, through ScepService) ------------------------------------------------------

    async def validate(self, check: ChallengeCheck, settings: ScepSettings | None) -> bool:
        """Does the endpoint's validator (per `settings`, as the caller read them) accept this challenge?
        One-time challenges are redeemed here."""
        if settings is None or check.challenge is None or len(check.challenge) > MAX_CHALLENGE:
            return False
        validator: ChallengeValidator
        if settings.challenge_mode == "static" and settings.static_challenge:
            validator = StaticChallenge(self._kek.unwrap(settings.static_challenge, static_aad(check.endpoint_id)))
        elif settings.challenge_mode == "one_time":
            validator = OneTimeChallenges(self._db, self._clock)
        elif settings.challenge_mode == "webhook" and settings.webhook_url:
            validator = WebhookChallenge(settings.webhook_url, self.webhook_timeout)
        else:
            return False
        return await validator.validate(check)

    async def unredeem(self, endpoint_id: str, challenge: str | None) -> None:
        """Give a one-time challenge back after the request it came with was refused for another reason."""
        if challenge:
            async with self._db.transaction() as tx:
                await ScepRepository.of(tx).unredeem_challenge(_digest(challenge), endpoint_id)


class StaticChallenge:
    def __init__(self, expected: bytes) -> None:
        self._expected = expected

    async def validate(self, check: ChallengeCheck) -> bool:
        return hmac.compare_digest((check.challenge or "").encode(), self._expected)


class OneTimeChallenges:
    def __init__(self, db, clock: Clock) -> None:
        self._db, self._clock = db, clock

    async def validate(self, check: ChallengeCheck) -> bool:
        async with self._db.transaction() as tx:
            return await ScepRepository.of(tx).redeem_challenge(_digest(check.challenge or ""), check.endpoint_id,
                                                                self._clock.now())


class WebhookChallenge:
    """POST {"endpoint_id", "challenge", "csr" (base64 DER), "source"}; allow only on 2xx with {"allow": true}."""

    def __init__(self, url: str, timeout: float) -> None:
        self._url, self._timeout = url, timeout

    async def validate(self, check: ChallengeCheck) -> bool:
        body = json.dumps({"endpoint_id": check.endpoint_id, "challenge": check.challenge,
                           "csr": base64.b64encode(check.csr_der).decode(), "source": check.source}).encode()
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._post, body), self._timeout + 1)
        except (asyncio.TimeoutError, OSError, ValueError):
            return False  # fail closed

    def _post(self, body: bytes) -> bool:
        request = urllib.request.Request(self._url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310 (admin-set URL)
                if not 200 <= answer.status < 300:
                    return False
                decoded = json.loads(answer.read(WEBHOOK_MAX_ANSWER + 1)[:WEBHOOK_MAX_ANSWER])
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return isinstance(decoded, dict) and decoded.get("allow") is True
