"""Anti-replay nonces (RFC 8555 §6.5, §7.2): MACed when issued, redeemed once in the shared database.

A nonce is base64url(issued-at ‖ 12 random bytes ‖ HMAC-SHA256(secret, both)[:16]). Issuing one therefore writes
nothing; redeeming checks the MAC and age, then inserts it into `acme_nonces`, whose primary key makes a second
redemption fail on every instance sharing the database (the equivalent of DELETE … RETURNING on an issued-nonce
table, with one write per request instead of two). The secret lives in the `keys` table, wrapped with the KEK,
so every instance issues nonces every other instance accepts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import struct

from aiohttp import web

from enrollment_gateway.storage.repositories.acme import AcmeRepository, AcmeStore

from . import problems
from .jws import b64url_decode, b64url_encode

SECRET_KEY_ID = "acme-nonce-secret"  # one row in `keys`, shared by every instance
_MAC_BYTES = 16


async def load_secret(gateway) -> bytes:
    """The nonce MAC secret: read, or created by whichever instance starts first."""
    aad = SECRET_KEY_ID.encode()
    async with gateway.db.transaction() as tx:
        blob = await tx.keys.get(SECRET_KEY_ID)
        if blob is None:
            secret = secrets.token_bytes(32)
            await tx.keys.put(SECRET_KEY_ID, "acme", "acme-nonce", gateway.kek.wrap(secret, aad), gateway.clock.now())
            return secret
    return gateway.kek.unwrap(blob, aad)


class NonceService:
    def __init__(self, secret: bytes, store: AcmeStore, clock, lifetime_seconds: int) -> None:
        self._secret, self._store, self._clock, self._lifetime = secret, store, clock, lifetime_seconds

    def _mac(self, head: bytes) -> bytes:
        return hmac.new(self._secret, head, hashlib.sha256).digest()[:_MAC_BYTES]

    def new(self) -> str:
        head = struct.pack(">Q", int(self._clock.now().timestamp())) + secrets.token_bytes(12)
        return b64url_encode(head + self._mac(head))

    def expiry(self, nonce: str) -> dt.datetime | None:
        """When `nonce` expires, if it is one of ours and still fresh; None otherwise."""
        try:
            raw = b64url_decode(nonce)
        except ValueError:
            return None
        if len(raw) != 20 + _MAC_BYTES or not hmac.compare_digest(self._mac(raw[:20]), raw[20:]):
            return None
        issued = dt.datetime.fromtimestamp(struct.unpack(">Q", raw[:8])[0], dt.timezone.utc)
        expires = issued + dt.timedelta(seconds=self._lifetime)
        now = self._clock.now()
        return expires if issued <= now + dt.timedelta(seconds=5) and now < expires else None

    async def redeem(self, nonce: str, repo: AcmeRepository | None = None) -> None:
        """Accept `nonce` once; badNonce (HTTP 400, the text acme.sh matches) for unknown, expired or reused.

        With `repo`, the redemption joins that (write) transaction, and holds only if it commits.
        """
        expires = self.expiry(nonce)
        if expires is None:
            raise problems.bad_nonce()
        if repo is not None:
            fresh = await repo.redeem_nonce(nonce, expires)
        else:
            async with self._store.write() as own:
                fresh = await own.redeem_nonce(nonce, expires)
        if not fresh:
            raise problems.bad_nonce()

    async def prune(self) -> int:
        async with self._store.write() as repo:
            return await repo.prune_nonces(self._clock.now())


async def new_nonce(request: web.Request) -> web.Response:
    """RFC 8555 §7.2: HEAD answers 200, GET 204; the middleware adds Replay-Nonce, no-store and the index link."""
    from .wire import context

    await context(request)  # 404 for an unknown endpoint, like every other resource
    return web.Response(status=200 if request.method == "HEAD" else 204)
