"""A core `Gateway` on each storage engine, with a superadmin and a ready CA hierarchy."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.config import load_config
from enrollment_gateway.core.bootstrap import create_admin
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.domain import Actor, ProfileDefaults


@dataclass
class World:
    gateway: Gateway
    admin: Actor
    root_id: str
    issuing_id: str

    async def profile(self, name: str, rules: dict, *, approval: bool = False, ca_id: str | None = "issuing",
                      defaults: ProfileDefaults | None = None, app_name: str = "app") -> tuple[str, str]:
        """Create policy + profile, attach to an application (created once per name); return (app_id, endpoint)."""
        g = self.gateway
        policy = await g.catalog.create_policy(self.admin, name=f"{name}-policy", rules=rules)
        profile = await g.catalog.create_profile(
            self.admin, name=name, ca_id=self.issuing_id if ca_id == "issuing" else ca_id, policy_id=policy.id,
            defaults=defaults or ProfileDefaults(), enrollment={"api": {}, "acme": {}, "est": {}, "scep": {}},
            approval_required=approval)
        apps = {a.name: a for a in await g.applications.list(self.admin)}
        app = apps.get(app_name) or await g.applications.create(self.admin, name=app_name)
        endpoint = await g.applications.attach_profile(self.admin, app.id, profile.id)
        return app.id, endpoint.id


@pytest.fixture
async def world(database, tmp_path):
    config = load_config(None, environ={
        "EG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.com",
        "EG_SERVER__PUBLIC_HTTPS_URL": "https://pki.example.com",
    })
    gateway = await Gateway.open(config, database=database)
    token = await create_admin(gateway)
    admin = await gateway.applications.authenticate(token.token)
    root = await gateway.authorities.create_root(
        admin, name="root", subject=[("CN", "Test Root"), ("O", "Test")], key_algorithm=KeyAlgorithm.ECDSA_P256,
        path_length=1)
    issuing = await gateway.authorities.create_intermediate(
        admin, name="issuing", parent_id=root.id, subject=[("CN", "Test Issuing CA"), ("O", "Test")],
        key_algorithm=KeyAlgorithm.ECDSA_P256)
    yield World(gateway, admin, root.id, issuing.id)
