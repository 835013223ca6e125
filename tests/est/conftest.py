"""A whole gateway application served over real TLS (the listener's own context, which asks for client
certificates), on each storage engine, with a PKI, a device endpoint configured for EST, and a device password."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.config import load_config
from enrollment_gateway.core.bootstrap import create_admin
from enrollment_gateway.core.clock import FixedClock
from enrollment_gateway.core.est_credentials import EstCredentials
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.domain import Actor, ProfileDefaults
from enrollment_gateway.server.app import create_app
from enrollment_gateway.server.listener_tls import listener_ssl_context

sys.path.insert(0, str(Path(__file__).resolve().parent))

from est_helpers import EstClient, Issuer  # noqa: E402

DEVICE_RULES = {"subject": {"CN": {"require": []}, "*": {"allow": []}},
                "san": {"DNS": {}, "IP": {"allow": []}, "email": {"allow": []}, "URI": {"allow": []}},
                "max_ttl": "825d"}


@dataclass
class EstWorld:
    gateway: Gateway
    admin: Actor
    clock: FixedClock
    app_id: str
    endpoint_id: str
    root_pem: str
    client: EstClient
    username: str
    password: str
    manufacturer: Issuer
    token: str = ""
    app: object = None

    @property
    def basic(self) -> tuple[str, str]:
        return self.username, self.password

    @property
    def est(self) -> EstCredentials:
        return EstCredentials.of(self.gateway)

    async def settings(self, endpoint_id: str | None = None, **changes) -> None:
        await self.est.update_settings(self.admin, self.app_id, endpoint_id or self.endpoint_id, changes)

    async def endpoint(self, name: str, rules: dict | None = None, *, approval: bool = False,
                       enrollment: dict | None = None) -> str:
        g = self.gateway
        policy = await g.catalog.create_policy(self.admin, name=f"{name}-policy", rules=DEVICE_RULES if rules is None else rules)
        profile = await g.catalog.create_profile(
            self.admin, name=name, ca_id=(await _issuing(g)).id, policy_id=policy.id,
            defaults=ProfileDefaults(ttl_seconds=30 * 86400, extended_key_usages=("client_auth",)),
            enrollment=enrollment if enrollment is not None else {"est": {}}, approval_required=approval)
        return (await g.applications.attach_profile(self.admin, self.app_id, profile.id)).id

    async def counts(self) -> tuple[int, int]:
        """(certificates, requests) in the database: bad input must change neither."""
        async with self.gateway.db.transaction(readonly=True) as tx:
            conn = tx.connection
            from sqlalchemy import text
            certs = (await conn.execute(text("SELECT count(*) FROM certificates"))).scalar_one()
            requests = (await conn.execute(text("SELECT count(*) FROM requests"))).scalar_one()
        return certs, requests


async def _issuing(gateway: Gateway):
    return next(ca for ca in await gateway.authorities.list() if ca.name == "issuing")


@pytest.fixture
async def est_world(database, tmp_path, aiohttp_server) -> EstWorld:
    config = load_config(None, environ={
        "EG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "EG_SERVER__PUBLIC_HTTP_URL": "http://127.0.0.1:1",
        "EG_SERVER__PUBLIC_HTTPS_URL": "https://127.0.0.1:1",
        "EG_EST__BASIC_FAILURES_ALLOWED": "3",
        "EG_EST__RETRY_AFTER_SECONDS": "7",
        "EG_LOGGING__ACCESS_LOG": "false",
        "EG_ACME__VALIDATION_WORKERS": "1",
    })
    clock = FixedClock(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    gateway = await Gateway.open(config, database=database, clock=clock)
    token = (await create_admin(gateway)).token
    admin = await gateway.applications.authenticate(token)
    root = await gateway.authorities.create_root(admin, name="root", subject=[("CN", "EST Test Root")],
                                                 key_algorithm=KeyAlgorithm.ECDSA_P256, path_length=1)
    issuing = await gateway.authorities.create_intermediate(admin, name="issuing", parent_id=root.id,
                                                            subject=[("CN", "EST Test Issuing CA")],
                                                            key_algorithm=KeyAlgorithm.ECDSA_P256)
    app = await gateway.applications.create(admin, name="devices")
    ssl_ctx, trust = await listener_ssl_context(gateway, ca_id=issuing.id)
    web_app = create_app(config, gateway=gateway)
    server = await aiohttp_server(web_app, ssl=ssl_ctx)
    manufacturer = Issuer.create("Manufacturer IDevID CA")
    world = EstWorld(gateway, admin, clock, app.id, "", root.certificate_pem,
                     EstClient(f"https://127.0.0.1:{server.port}", trust, tmp_path, ""), "", "", manufacturer,
                     token, web_app)
    world.endpoint_id = await world.endpoint("device")
    world.client.label = world.endpoint_id
    manufacturer_pem = manufacturer.cert.public_bytes(serialization.Encoding.PEM).decode()
    await world.settings(anchors_pem=manufacturer_pem, serverkeygen=True)
    issued = await world.est.create_credential(admin, app.id, world.endpoint_id, username="device-1")
    world.username, world.password = issued.credential.username, issued.password
    try:
        yield world
    finally:
        await server.close()
        await gateway.close()
