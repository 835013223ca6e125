"""The admin API's EST routes: settings per endpoint, device credentials (password shown once, stored hashed),
revocation, and the role checks every API route has."""

from __future__ import annotations

import json

import aiohttp
from cryptography.hazmat.primitives.serialization import Encoding

from enrollment_gateway.domain import IdentityKind, Role

from est_helpers import b64, csr


async def _api(world, method: str, path: str, body=None, token: str | None = None):
    headers = {"Authorization": f"Bearer {token or world.token}"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    connector = aiohttp.TCPConnector(ssl=world.client.ssl_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.request(method, f"{world.client.base_url}/api/v1{path}", data=data,
                                   headers=headers) as resp:
            raw = await resp.read()
            return resp.status, (json.loads(raw) if raw else None)


async def test_settings_read_and_patch(est_world) -> None:
    w = est_world
    base = f"/applications/{w.app_id}/endpoints/{w.endpoint_id}/est"
    status, settings = await _api(w, "GET", base)
    assert status == 200 and settings["auth"] == "basic_or_certificate" and settings["serverkeygen"] is True
    assert settings["url"].endswith(f"/.well-known/est/{w.endpoint_id}")
    status, settings = await _api(w, "PATCH", base, {"auth": "basic", "reenroll": False})
    assert status == 200 and settings["auth"] == "basic" and settings["reenroll"] is False
    assert settings["anchors_pem"].startswith("-----BEGIN CERTIFICATE-----")  # untouched by the PATCH
    for bad in ({"auth": "telepathy"}, {"reenroll": "yes"}, {"anchors_pem": "not a certificate"},
                {"surprise": True}):
        status, problem = await _api(w, "PATCH", base, bad)
        assert status == 400, (bad, problem)
    leaf_pem = w.manufacturer.device("not-a-ca")[1].public_bytes(Encoding.PEM).decode()
    status, problem = await _api(w, "PATCH", base, {"anchors_pem": leaf_pem})
    assert status == 400 and "not a CA certificate" in problem["detail"]


async def test_credentials_are_shown_once_and_revocable(est_world) -> None:
    w = est_world
    base = f"/applications/{w.app_id}/endpoints/{w.endpoint_id}/est/credentials"
    status, created = await _api(w, "POST", base, {"username": "gate-7"})
    assert status == 201 and created["username"] == "gate-7" and len(created["password"]) >= 20
    status, listing = await _api(w, "GET", base)
    assert status == 200 and all("password" not in item for item in listing["items"])
    assert {i["username"] for i in listing["items"]} == {"device-1", "gate-7"}
    request = b64(csr("gate-7")[0])
    assert (await w.client.enroll(request, auth=("gate-7", created["password"]))).status == 200
    assert (await _api(w, "DELETE", f"{base}/gate-7"))[0] == 204
    assert (await w.client.enroll(request, auth=("gate-7", created["password"]))).status == 401
    assert (await _api(w, "DELETE", f"{base}/gate-7"))[0] == 404  # already revoked
    assert (await _api(w, "POST", base, {"username": "gate-7"}))[0] == 409  # names are not reused
    assert (await _api(w, "POST", base, {"username": "bad name!"}))[0] == 400


async def test_an_operator_may_not_manage_est(est_world) -> None:
    w = est_world
    issued = await w.gateway.applications.create_identity(
        w.admin, name="op", kind=IdentityKind.MACHINE, application_id=w.app_id, role=Role.OPERATOR)
    base = f"/applications/{w.app_id}/endpoints/{w.endpoint_id}/est"
    assert (await _api(w, "GET", base, token=issued.token))[0] == 200  # reading is for any member
    assert (await _api(w, "PATCH", base, {"reenroll": False}, token=issued.token))[0] == 403
    assert (await _api(w, "POST", base + "/credentials", {}, token=issued.token))[0] == 403
