"""An in-process ACME world: a gateway with a CA and ACME endpoints, served by aiohttp's test client, and a small
josepy-signed client that can also send everything a misbehaving client sends."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import josepy
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PUBLIC = "https://pki.example.com"
JOSE = "application/jose+json"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def free_port() -> int:
    """Free for both TCP and UDP on 127.0.0.1 (challtestsrv's DNS needs both)."""
    for _ in range(50):
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            tcp.close()
            udp.close()
    raise RuntimeError("no free port")


@dataclass
class ChallTestSrv:
    """pebble-challtestsrv on loopback: DNS (every A → 127.0.0.1), TXT records, tls-alpn-01, and http-01."""

    dns: int
    management: int
    http01: int
    tlsalpn01: int
    process: subprocess.Popen | None = None

    def post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.management}{path}",
                                         data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200, path

    def start(self, *, http01: bool = True) -> "ChallTestSrv":
        self.process = subprocess.Popen(
            ["pebble-challtestsrv", "-http01", f"127.0.0.1:{self.http01}" if http01 else "", "-https01", "",
             "-dns01", f"127.0.0.1:{self.dns}", "-tlsalpn01", f"127.0.0.1:{self.tlsalpn01}",
             "-management", f"127.0.0.1:{self.management}",
             "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.management), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("pebble-challtestsrv did not start")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=5)


class Http01Server:
    """Answers http-01 from `tokens`; `mode` makes it misbehave (redirect elsewhere, or never answer)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.tokens: dict[str, str] = {}
        self.mode = "ok"
        self._runner: web.AppRunner | None = None

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "redirect":
            raise web.HTTPFound(f"http://{request.host.split(':')[0]}:1/elsewhere")
        if self.mode == "hang":
            await asyncio.sleep(30)
        value = self.tokens.get(request.match_info["token"])
        return web.Response(text=value) if value else web.Response(status=404)

    async def start(self) -> "Http01Server":
        app = web.Application()
        app.router.add_get("/.well-known/acme-challenge/{token}", self._answer)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(names: list[str], key=None, *, cn: str | None = None) -> bytes:
    key = key or ec_key()
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            import ipaddress

            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def type(self) -> str:
        return (self.json or {}).get("type", "").removeprefix("urn:ietf:params:acme:error:")


@dataclass
class Acme:
    """A client of one directory through the aiohttp test client; URLs map from PUBLIC to the test server."""

    http: TestClient
    directory_url: str
    key: Any = field(default_factory=ec_key)
    kid: str | None = None
    directory: dict = field(default_factory=dict)

    def path(self, url: str) -> str:
        assert url.startswith(PUBLIC), url
        return url[len(PUBLIC):]

    @property
    def jwk(self) -> josepy.JWK:
        return josepy.JWKEC(key=self.key) if isinstance(self.key, ec.EllipticCurvePrivateKey) else josepy.JWKRSA(
            key=self.key)

    @property
    def alg(self) -> str:
        return "ES256" if isinstance(self.key, ec.EllipticCurvePrivateKey) else "RS256"

    def thumbprint(self) -> str:
        return b64(self.jwk.thumbprint(hash_function=hashes.SHA256))

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint()}"

    async def open(self) -> "Acme":
        r = await self.http.get(self.path(self.directory_url))
        assert r.status == 200, await r.text()
        self.directory = await r.json()
        return self

    async def nonce(self) -> str:
        r = await self.http.head(self.path(self.directory["newNonce"]))
        return r.headers["Replay-Nonce"]

    def sign(self, url: str, payload: Any, nonce: str, *, key=None, kid: str | None | bool = None,
             extra: dict | None = None, alg: str | None = None, raw_payload: bytes | None = None) -> dict:
        key = key or self.key
        jwk_obj = (josepy.JWKEC(key=key) if isinstance(key, ec.EllipticCurvePrivateKey) else josepy.JWKRSA(key=key))
        protected: dict[str, Any] = {"alg": alg or ("ES256" if isinstance(key, ec.EllipticCurvePrivateKey)
                                                    else "RS256"), "nonce": nonce, "url": url}
        use_kid = self.kid if kid is None else (kid or None)
        if use_kid:
            protected["kid"] = use_kid
        else:
            protected["jwk"] = jwk_obj.public_key().to_partial_json()
        protected.update(extra or {})
        protected = {k: v for k, v in protected.items() if v is not None}
        p64 = b64(json.dumps(protected).encode())
        body = raw_payload if raw_payload is not None else (b"" if payload is None else json.dumps(payload).encode())
        s64 = b64(body)
        signing_input = f"{p64}.{s64}".encode()
        if protected["alg"] in ("ES256",):
            signature = josepy.ES256.sign(key, signing_input)
        elif protected["alg"] == "RS256":
            signature = josepy.RS256.sign(key, signing_input)
        else:
            signature = b"x"
        return {"protected": p64, "payload": s64, "signature": b64(signature)}

    async def post(self, url: str, payload: Any = None, *, nonce: str | None = None, content_type: str = JOSE,
                   body: bytes | None = None, **sign_args) -> Reply:
        if body is None:
            body = json.dumps(self.sign(url, payload, nonce or await self.nonce(), **sign_args)).encode()
        r = await self.http.post(self.path(url), data=body, headers={"Content-Type": content_type})
        return Reply(r.status, r.headers, await r.read())

    async def ok(self, url: str, payload: Any = None, status: int = 200, **kw) -> Reply:
        reply = await self.post(url, payload, **kw)
        assert reply.status == status, (reply.status, reply.body[:500])
        return reply

    def eab(self, kid: str, hmac_key: str, url: str | None = None) -> dict:
        protected = b64(json.dumps({"alg": "HS256", "kid": kid, "url": url or self.directory["newAccount"]}).encode())
        payload = b64(json.dumps(self.jwk.public_key().to_partial_json()).encode())
        mac_key = base64.urlsafe_b64decode(hmac_key + "=" * (-len(hmac_key) % 4))
        mac = hmac.new(mac_key, f"{protected}.{payload}".encode(), hashlib.sha256).digest()
        return {"protected": protected, "payload": payload, "signature": b64(mac)}

    async def register(self, **payload) -> Reply:
        reply = await self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True, **payload}, kid=False)
        if reply.status in (200, 201):
            self.kid = reply.headers["Location"]
        return reply

    async def new_order(self, *names: str, **extra) -> Reply:
        identifiers = [{"type": "ip" if _is_ip(n) else "dns", "value": n} for n in names]
        return await self.post(self.directory["newOrder"], {"identifiers": identifiers, **extra})

    async def poll(self, url: str, until: set[str], attempts: int = 100) -> dict:
        for _ in range(attempts):
            reply = await self.ok(url)
            if reply.json["status"] in until:
                return reply.json
            await asyncio.sleep(0.05)
        raise AssertionError(f"{url} never reached {until}: {reply.json}")

    async def authorize(self, order: dict, http01: Http01Server | None = None, cts: ChallTestSrv | None = None,
                        prefer: str = "http-01") -> None:
        for authz_url in order["authorizations"]:
            authz = (await self.ok(authz_url)).json
            if authz["status"] == "valid":
                continue
            chall = next(c for c in authz["challenges"] if c["type"] == prefer) if any(
                c["type"] == prefer for c in authz["challenges"]) else authz["challenges"][0]
            key_auth = self.key_authorization(chall["token"])
            if chall["type"] == "http-01":
                assert http01 is not None
                http01.tokens[chall["token"]] = key_auth
            elif chall["type"] == "dns-01":
                assert cts is not None
                digest = b64(hashlib.sha256(key_auth.encode()).digest())
                cts.post("/set-txt", {"host": f"_acme-challenge.{authz['identifier']['value']}.",
                                      "value": digest})
            reply = await self.ok(chall["url"], {})
            assert f'<{authz_url}>;rel="up"' in reply.headers.getall("Link"), reply.headers
            done = await self.poll(authz_url, {"valid", "invalid"})
            assert done["status"] == "valid", done

    async def issue(self, *names: str, http01=None, cts=None, prefer="http-01", key=None) -> tuple[dict, str, str]:
        """A whole order; returns (order, order URL, PEM chain)."""
        reply = await self.new_order(*names)
        assert reply.status == 201, reply.body
        order, order_url = reply.json, reply.headers["Location"]
        await self.authorize(order, http01, cts, prefer)
        await self.poll(order_url, {"ready"})
        fin = await self.ok(order["finalize"], {"csr": b64(make_csr(list(names), key))})
        assert fin.headers["Location"] == order_url
        order = await self.poll(order_url, {"valid"})
        pem = (await self.ok(order["certificate"])).body.decode()
        return order, order_url, pem


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def rsa_key(bits: int = 2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)
