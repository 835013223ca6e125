"""The API mounted at /api/v1 on a gateway with its own SQLite data directory, a superadmin client and a PKI."""

from __future__ import annotations

import pytest
from aiohttp import web

from enrollment_gateway.config import load_config
from enrollment_gateway.core.bootstrap import create_admin
from enrollment_gateway.core.gateway import Gateway
from protocols.api import API_PREFIX, create_api_app

from api_helpers import MAX_BODY, Api, Pki, make_app, make_profile


@pytest.fixture
async def gateway(tmp_path, sqlite_database):
    """The API runs the same code on either engine; storage's own tests cover PostgreSQL, these use SQLite."""
    config = load_config(None, environ={
        "EG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.com",
        "EG_SERVER__PUBLIC_HTTPS_URL": "https://pki.example.com",
        "EG_SERVER__MAX_BODY_BYTES": str(MAX_BODY),
    })
    yield await Gateway.open(config, database=sqlite_database)


@pytest.fixture
def api_app(gateway) -> web.Application:
    root = web.Application()
    root.add_subapp(API_PREFIX, create_api_app(gateway))
    return root


@pytest.fixture
async def api(aiohttp_client, api_app, gateway) -> Api:
    """A client holding a superadmin token."""
    client = await aiohttp_client(api_app)
    issued = await create_admin(gateway)
    return Api(client, issued.token)


@pytest.fixture
async def pki(api: Api) -> Pki:
    root = await api.ok("POST", "/cas", {"type": "root", "name": "root", "subject": {"CN": "Test Root", "O": "Test"},
                                         "key_algorithm": "ECDSA_P256", "path_length": 1}, status=201)
    issuing = await api.ok("POST", "/cas", {"type": "intermediate", "name": "issuing", "parent_id": root["id"],
                                            "subject": [["CN", "Test Issuing CA"], ["O", "Test"]],
                                            "key_algorithm": "ECDSA_P256"}, status=201)
    profile = await make_profile(api, "web", issuing["id"])
    app_id, endpoint_id = await make_app(api, "app-a", profile["id"])
    return Pki(root["id"], issuing["id"], profile["policy_id"], profile["id"], app_id, endpoint_id)
