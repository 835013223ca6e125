"""A lean async ACME client (RFC 8555) for the load driver: ES256 account, one-name orders, http-01, download.

Not the `acme` library on purpose: the driver must not be the bottleneck, so a request is one josepy ES256
signature over a hand-built flattened JWS, and nothing is decoded beyond the fields the flow reads. It speaks only
what a complete http-01 order needs, against any directory URL (Pebble or the gateway alike).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import josepy as jose
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

JOSE_JSON = "application/jose+json"
BAD_NONCE = "urn:ietf:params:acme:error:badNonce"
_NONCE_POOL_MAX = 512  # more than any level's concurrency; older nonces may expire first anyway


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AcmeError(Exception):
    """An ACME problem document (RFC 8555 §6.7) or a flow the driver cannot continue."""

    def __init__(self, detail: str, status: int | None = None, problem: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.problem = problem or {}

    @property
    def type(self) -> str:
        return str(self.problem.get("type", ""))


@dataclass(frozen=True)
class PollPolicy:
    """How long to wait between polls: Retry-After (RFC 8555 §7.5.1) up to `cap`, else `interval`."""

    interval: float = 0.05
    cap: float = 1.0
    max_polls: int = 400  # with `deadline`, keeps every polling loop bounded
    deadline: float = 60.0  # seconds for one whole order

    def delay(self, retry_after: str | None, now: dt.datetime | None = None) -> float:
        seconds = parse_retry_after(retry_after, now)
        if seconds is None:
            return self.interval
        return max(0.01, min(self.cap, seconds))


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds())


def make_csr(name: str) -> bytes:
    """DER CSR for `name` under a fresh ECDSA P-256 key (the key is thrown away: the bench never uses the cert)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


class Http01Responder:
    """In-process loopback http-01 server (RFC 8555 §8.3): the driver fills `tokens` before POSTing a challenge."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self.tokens: dict[str, str] = {}
        self.hits = 0
        self._runner: web.AppRunner | None = None

    async def _answer(self, request: web.Request) -> web.Response:
        key_authorization = self.tokens.get(request.match_info["token"])
        if key_authorization is None:
            return web.Response(status=404)
        self.hits += 1
        return web.Response(text=key_authorization, content_type="application/octet-stream")

    async def start(self) -> "Http01Responder":
        app = web.Application()
        app.router.add_get("/.well-known/acme-challenge/{token}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # port 0 → the real one
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class OrderResult:
    """One complete order: its wall time and where it went (phase → seconds)."""

    name: str
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)
    certificate_pem: str = ""


class AcmeClient:
    """One ES256 account against one directory; safe to share among many concurrent orders."""

    def __init__(self, session: aiohttp.ClientSession, directory_url: str, poll: PollPolicy = PollPolicy()):
        self.session = session
        self.directory_url = directory_url
        self.poll = poll
        self.key = ec.generate_private_key(ec.SECP256R1())
        jwk = jose.JWKEC(key=self.key)
        self.jwk_json = jwk.public_key().to_partial_json()
        self.thumbprint = b64(jwk.thumbprint())  # RFC 7638 SHA-256, for key authorizations (§8.1)
        self.directory: dict[str, Any] = {}
        self.kid: str | None = None
        self._nonces: list[str] = []
        self.bad_nonce_retries = 0

    # --- transport ---------------------------------------------------------------------------------------------

    async def open(self) -> None:
        async with self.session.get(self.directory_url) as resp:
            if resp.status != 200:
                raise AcmeError(f"directory answered {resp.status}", resp.status)
            self.directory = await resp.json(content_type=None)

    def _keep_nonce(self, headers: Any) -> None:
        nonce = headers.get("Replay-Nonce")
        if nonce and len(self._nonces) < _NONCE_POOL_MAX:
            self._nonces.append(nonce)

    async def _nonce(self) -> str:
        if self._nonces:
            return self._nonces.pop()
        async with self.session.head(self.directory["newNonce"]) as resp:
            nonce = resp.headers.get("Replay-Nonce")
        if not nonce:
            raise AcmeError("newNonce answered no Replay-Nonce", resp.status)
        return nonce

    def jws(self, url: str, payload: Any, nonce: str) -> bytes:
        """Flattened JWS (RFC 8555 §6.2); `payload` None is POST-as-GET (§6.3), i.e. an empty payload."""
        protected: dict[str, Any] = {"alg": "ES256", "nonce": nonce, "url": url}
        if self.kid:
            protected["kid"] = self.kid
        else:
            protected["jwk"] = self.jwk_json
        p64 = b64(json.dumps(protected, separators=(",", ":")).encode())
        body64 = "" if payload is None else b64(json.dumps(payload, separators=(",", ":")).encode())
        signature = jose.ES256.sign(self.key, f"{p64}.{body64}".encode())
        return json.dumps({"protected": p64, "payload": body64, "signature": b64(signature)}).encode()

    async def post(self, url: str, payload: Any = None, *, raw: bool = False) -> tuple[int, Any, Any]:
        """Signed POST; (status, headers, JSON body or text when `raw`). badNonce is retried, a bounded 3 times."""
        for attempt in range(4):
            body = self.jws(url, payload, await self._nonce())
            async with self.session.post(url, data=body, headers={"Content-Type": JOSE_JSON}) as resp:
                self._keep_nonce(resp.headers)
                text = await resp.text()
                status, headers = resp.status, resp.headers
            if status < 400:
                return status, headers, (text if raw else (json.loads(text) if text else {}))
            try:
                problem = json.loads(text)
            except ValueError:
                problem = {"detail": text[:300]}
            if problem.get("type") == BAD_NONCE and attempt < 3:
                self.bad_nonce_retries += 1
                continue
            raise AcmeError(f"{url} answered {status}: {problem.get('type', '')} {problem.get('detail', '')}",
                            status, problem)
        raise AssertionError("unreachable")  # the loop either returns or raises

    # --- account -----------------------------------------------------------------------------------------------

    def _eab(self, kid: str, hmac_key: str) -> dict[str, str]:
        """External Account Binding (RFC 8555 §7.3.4): the account JWK, MACed with the CA-issued key."""
        protected = b64(json.dumps({"alg": "HS256", "kid": kid, "url": self.directory["newAccount"]}).encode())
        payload = b64(json.dumps(self.jwk_json).encode())
        mac = hmac.new(b64decode(hmac_key), f"{protected}.{payload}".encode(), hashlib.sha256).digest()
        return {"protected": protected, "payload": payload, "signature": b64(mac)}

    async def register(self, eab_kid: str | None = None, eab_hmac_key: str | None = None) -> str:
        """newAccount (RFC 8555 §7.3); returns the account URL, used as `kid` from then on."""
        if not self.directory:
            await self.open()
        payload: dict[str, Any] = {"termsOfServiceAgreed": True}
        if eab_kid and eab_hmac_key:
            payload["externalAccountBinding"] = self._eab(eab_kid, eab_hmac_key)
        status, headers, _ = await self.post(self.directory["newAccount"], payload)
        location = headers.get("Location")
        if status not in (200, 201) or not location:
            raise AcmeError(f"newAccount answered {status} without Location", status)
        self.kid = location
        return location

    # --- one order ---------------------------------------------------------------------------------------------

    async def _poll(self, url: str, done: set[str], pending: set[str], deadline: float, what: str) -> dict:
        """POST-as-GET `url` until its status is in `done`; bounded by polls and the order's deadline."""
        for _ in range(self.poll.max_polls):
            _, headers, body = await self.post(url)
            status = body.get("status")
            if status in done:
                return body
            if status not in pending:
                raise AcmeError(f"{what} became {status}: {json.dumps(body.get('error') or body)[:300]}")
            if time.monotonic() > deadline:
                raise AcmeError(f"{what} still {status} at the order deadline")
            await asyncio.sleep(self.poll.delay(headers.get("Retry-After")))
        raise AcmeError(f"{what} still pending after {self.poll.max_polls} polls")

    async def issue(self, name: str, responder: Http01Responder) -> OrderResult:
        """newOrder → authorization → http-01 → poll → finalize → poll → download (RFC 8555 §7.4–§7.5.1)."""
        t0 = time.monotonic()
        deadline = t0 + self.poll.deadline
        phases: dict[str, float] = {}
        mark = t0

        def lap(phase: str) -> None:
            nonlocal mark
            now = time.monotonic()
            phases[phase] = now - mark
            mark = now

        status, headers, order = await self.post(self.directory["newOrder"],
                                                 {"identifiers": [{"type": "dns", "value": name}]})
        order_url = headers.get("Location")
        if status != 201 or not order_url:
            raise AcmeError(f"newOrder answered {status} (Location {order_url!r})", status)
        lap("new_order")
        tokens: list[str] = []
        try:
            for authz_url in order["authorizations"]:
                _, _, authz = await self.post(authz_url)
                if authz.get("status") == "valid":
                    continue  # reused (RFC 8555 §7.1.4 lets a server reuse a valid authorization)
                challenge = next((c for c in authz.get("challenges", []) if c.get("type") == "http-01"), None)
                if challenge is None:
                    raise AcmeError(f"{authz_url} offers no http-01 challenge")
                responder.tokens[challenge["token"]] = f"{challenge['token']}.{self.thumbprint}"
                tokens.append(challenge["token"])
                await self.post(challenge["url"], {})
                lap("authz_and_challenge")
                await self._poll(authz_url, {"valid"}, {"pending", "processing"}, deadline, "authorization")
                lap("validation")
        finally:
            for token in tokens:
                responder.tokens.pop(token, None)
        # The order moves to ready once its authorizations are valid; finalize straight away as certbot does,
        # and poll only if the server has not caught up (orderNotReady), bounded like every other loop.
        for _ in range(self.poll.max_polls):
            try:
                _, headers, order = await self.post(order["finalize"], {"csr": b64(make_csr(name))})
                break
            except AcmeError as exc:
                if not exc.type.endswith(":orderNotReady") or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(self.poll.interval)
        else:
            raise AcmeError("order never became ready")
        if order.get("status") != "valid":
            order = await self._poll(order_url, {"valid"}, {"ready", "processing"}, deadline, "order")
        lap("finalize")
        _, _, pem = await self.post(order["certificate"], raw=True)
        if "BEGIN CERTIFICATE" not in pem:
            raise AcmeError("certificate download was not PEM")
        lap("download")
        return OrderResult(name, time.monotonic() - t0, phases, pem)
