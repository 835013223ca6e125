"""Fixtures for the ACME server tests: a gateway with ACME endpoints behind aiohttp's test client, pebble-challtestsrv
for DNS (module-wide), and an http-01 responder on the port the gateway's validator dials."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.config import load_config
from enrollment_gateway.core.acme_eab import ExternalAccountKeys
from enrollment_gateway.core.bootstrap import create_admin
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.domain import Actor, ProfileDefaults
from enrollment_gateway.server.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent))

from acme_helpers import PUBLIC, Acme, ChallTestSrv, Http01Server, free_port  # noqa: E402

needs_challtestsrv = pytest.mark.skipif(shutil.which("pebble-challtestsrv") is None,
                                        reason="pebble-challtestsrv not installed")

RULES = {"san": {"DNS": {"deny": [".denied.test", "denied.test"]}, "IP": {"allow": ["127.0.0.0/8"]}},
         "max_ttl": "100d"}


@pytest.fixture(scope="module")
def cts():
    if shutil.which("pebble-challtestsrv") is None:
        pytest.skip("pebble-challtestsrv not installed")
    srv = ChallTestSrv(free_port(), free_port(), free_port(), free_port()).start(http01=False)
    try:
        yield srv
    finally:
        srv.stop()


@dataclass
class World:
    gateway: Gateway
    admin: Actor
    app_id: str
    endpoint: str  # EAB optional
    eab_endpoint: str  # EAB required
    approval_endpoint: str  # every request needs an admin's approval
    http01: Http01Server
    http: object  # TestClient

    def client(self, endpoint: str | None = None, key=None) -> Acme:
        endpoint = endpoint or self.endpoint
        acme = Acme(self.http, f"{PUBLIC}/acme/{endpoint}/directory")
        if key is not None:
            acme.key = key
        return acme

    async def eab_key(self, endpoint: str | None = None, reusable: bool = False) -> tuple[str, str]:
        issued = await ExternalAccountKeys.of(self.gateway).create(self.admin, self.app_id,
                                                                   endpoint or self.eab_endpoint, reusable=reusable)
        import base64
        return issued.key.kid, base64.urlsafe_b64encode(issued.hmac_key).rstrip(b"=").decode()


async def make_world(database, tmp_path, aiohttp_client, cts, **acme_env) -> World:
    http01 = await Http01Server(free_port()).start()
    env = {
        "EG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.com",
        "EG_SERVER__PUBLIC_HTTPS_URL": PUBLIC,
        "EG_ACME__HTTP01_PORT": str(http01.port),
        "EG_ACME__TLS_ALPN01_PORT": str(cts.tlsalpn01),
        "EG_ACME__DNS_RESOLVERS": f"127.0.0.1:{cts.dns}",
        "EG_ACME__VALIDATION_TIMEOUT_SECONDS": "1",
        "EG_ACME__VALIDATION_ATTEMPTS": "2",
        "EG_ACME__RATE_LIMIT_REQUESTS_PER_IP_PER_SECOND": "0",
    }
    env.update({f"EG_ACME__{k.upper()}": str(v) for k, v in acme_env.items()})
    gateway = await Gateway.open(load_config(None, environ=env), database=database)
    admin = await gateway.applications.authenticate((await create_admin(gateway)).token)
    root = await gateway.authorities.create_root(admin, name="root", subject=[("CN", "ACME Test Root")],
                                                 key_algorithm=KeyAlgorithm.ECDSA_P256, path_length=1)
    issuing = await gateway.authorities.create_intermediate(admin, name="issuing", parent_id=root.id,
                                                            subject=[("CN", "ACME Test Issuing")],
                                                            key_algorithm=KeyAlgorithm.ECDSA_P256)
    policy = await gateway.catalog.create_policy(admin, name="acme-policy", rules=RULES)
    app = await gateway.applications.create(admin, name="acme-app")
    endpoints = []
    for name, acme, approval in (("open", {"eab_required": False}, False), ("eab", {"eab_required": True}, False),
                                 ("approval", {}, True)):
        profile = await gateway.catalog.create_profile(
            admin, name=name, ca_id=issuing.id, policy_id=policy.id, defaults=ProfileDefaults(ttl_seconds=30 * 86400),
            enrollment={"acme": acme, "api": {}}, approval_required=approval, renew_before_days=10)
        endpoints.append((await gateway.applications.attach_profile(admin, app.id, profile.id)).id)
    client = await aiohttp_client(create_app(gateway.config, gateway=gateway, plain_http_guard_enabled=False))
    return World(gateway, admin, app.id, *endpoints, http01, client)


@pytest.fixture
async def world(database, tmp_path, aiohttp_client, cts):
    w = await make_world(database, tmp_path, aiohttp_client, cts)
    try:
        yield w
    finally:
        await w.http01.stop()


@pytest.fixture
async def sqlite_world(sqlite_database, tmp_path, aiohttp_client, cts):
    """For tests about the protocol only: SQLite, one run."""
    w = await make_world(sqlite_database, tmp_path, aiohttp_client, cts)
    try:
        yield w
    finally:
        await w.http01.stop()


@pytest.fixture
async def world_factory(sqlite_database, tmp_path, aiohttp_client, cts):
    """A World on SQLite with some ACME settings changed (e.g. rate limits)."""
    made: list[World] = []

    async def make(**acme_env) -> World:
        made.append(await make_world(sqlite_database, tmp_path, aiohttp_client, cts, **acme_env))
        return made[-1]

    yield make
    for w in made:
        await w.http01.stop()
