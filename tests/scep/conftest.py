"""Fixtures for the SCEP server tests: a gateway with SCEP endpoints behind aiohttp's test client."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.config import load_config
from enrollment_gateway.core.bootstrap import create_admin
from enrollment_gateway.core.clock import FixedClock
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.domain import Actor, ProfileDefaults
from enrollment_gateway.server.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scep_helpers as h  # noqa: E402
from scep_helpers import CHALLENGE  # noqa: E402

RULES = {"subject": {"CN": {"require": []}}, "key_algorithms": ["RSA_2048", "RSA_3072", "RSA_4096"],
         "max_ttl": "400d"}


@dataclass
class World:
    gateway: Gateway
    admin: Actor
    app_id: str
    endpoints: dict[str, str]  # static, approval, one_time, other_app
    http: object  # TestClient
    ca_id: str = ""  # the issuing CA

    def url(self, name: str = "static", suffix: str = "/pkiclient.exe") -> str:
        return f"/scep/{self.endpoints[name]}{suffix}"

    async def ra(self, name: str = "static") -> tuple[x509.Certificate, list[x509.Certificate]]:
        """GetCACert: the RA certificate (keyEncipherment) and everything returned."""
        resp = await self.http.get(self.url(name), params={"operation": "GetCACert"})
        assert resp.status == 200, await resp.text()
        certs = pkcs7.load_der_pkcs7_certificates(await resp.read())
        ra = [c for c in certs if c.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment]
        assert len(ra) == 1
        return ra[0], certs

    async def operation(self, body: bytes, name: str = "static", *, get: bool = False):
        if get:
            import base64
            return await self.http.get(self.url(name), params={"operation": "PKIOperation",
                                                               "message": base64.b64encode(body).decode()})
        return await self.http.post(self.url(name), params={"operation": "PKIOperation"}, data=body,
                                    headers={"Content-Type": "application/x-pki-message"})

    async def enrol(self, key=None, cn: str = "device-1", challenge: str | None = CHALLENGE, name: str = "static",
                    cipher: str = "aes256", oaep: bool = False, digest: str = "sha256", tid: str | None = None,
                    signer: tuple | None = None, message_type: int = 19, nonce: bytes | None = None) -> h.Reply:
        key = key or h.rsa_key()
        ra, _ = await self.ra(name)
        csr = h.make_csr(key, cn, challenge)
        env = h.openssl_envelope(csr, ra, cipher, oaep)
        cert, signing_key = signer or (h.self_signed(key, cn), key)
        msg = h.pki_message(env, cert, signing_key, message_type, tid or f"tid-{id(env)}", nonce, digest)
        resp = await self.operation(msg, name)
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/x-pki-message"
        reply = h.read_reply(await resp.read())
        reply.requester = cert
        return reply


async def make_world(database, tmp_path, aiohttp_client) -> World:
    env = {"EG_STORAGE__DATA_DIR": str(tmp_path / "data"), "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.com",
           "EG_SERVER__PUBLIC_HTTPS_URL": "https://pki.example.com"}
    clock = FixedClock(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    gateway = await Gateway.open(load_config(None, environ=env), database=database, clock=clock)
    admin = await gateway.applications.authenticate((await create_admin(gateway)).token)
    root = await gateway.authorities.create_root(admin, name="root", subject=[("CN", "SCEP Test Root")],
                                                 key_algorithm=KeyAlgorithm.ECDSA_P256, path_length=1)
    issuing = await gateway.authorities.create_intermediate(admin, name="issuing", parent_id=root.id,
                                                            subject=[("CN", "SCEP Test Issuing")],
                                                            key_algorithm=KeyAlgorithm.ECDSA_P256)
    policy = await gateway.catalog.create_policy(admin, name="scep-policy", rules=RULES)
    app = await gateway.applications.create(admin, name="scep-app")
    other_app = await gateway.applications.create(admin, name="other-app")
    challenges = gateway.scep.challenges
    endpoints = {}
    for name, approval, mode, app_id in (("static", False, "static", app.id), ("approval", True, "static", app.id),
                                         ("one_time", False, "one_time", app.id),
                                         ("other_app", False, "static", other_app.id)):
        profile = await gateway.catalog.create_profile(
            admin, name=name, ca_id=issuing.id, policy_id=policy.id,
            defaults=ProfileDefaults(ttl_seconds=30 * 86400, key_usages=("digital_signature", "key_encipherment"),
                                     extended_key_usages=("client_auth",)),
            enrollment={"scep": {}, "api": {}}, approval_required=approval, renew_before_days=10)
        endpoint = (await gateway.applications.attach_profile(admin, app_id, profile.id)).id
        await challenges.configure(admin, app_id, endpoint, mode=mode,
                                   static_challenge=CHALLENGE if mode == "static" else None)
        endpoints[name] = endpoint
    client = await aiohttp_client(create_app(gateway.config, gateway=gateway, plain_http_guard_enabled=False))
    return World(gateway, admin, app.id, endpoints, client, issuing.id)


@pytest.fixture
async def world(database, tmp_path, aiohttp_client):
    return await make_world(database, tmp_path, aiohttp_client)


@pytest.fixture
async def sqlite_world(sqlite_database, tmp_path, aiohttp_client):
    """For tests about the protocol only: SQLite, one run."""
    return await make_world(sqlite_database, tmp_path, aiohttp_client)
