"""SCEP settings through the admin API, the webhook validator, the failInfo mapping, and RA certificate renewal."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from aiohttp import web

import scep_helpers as h
from enrollment_gateway.core.bootstrap import create_admin
from enrollment_gateway.errors import ErrorKind, GatewayError
from protocols.scep.fail_info import FAIL_INFO, fail_info
from protocols.scep.pki_message import FailInfo

EXPECTED = {
    ErrorKind.NOT_FOUND: FailInfo.badCertId,  # unknown transaction or certificate
    ErrorKind.BAD_SIGNATURE_ALGORITHM: FailInfo.badAlg,
}


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.value)
def test_every_error_kind_maps_to_a_fail_info(kind):
    assert fail_info(GatewayError(kind, "x")) is EXPECTED.get(kind, FailInfo.badRequest)
    assert set(FAIL_INFO) == set(ErrorKind)


async def test_settings_and_one_time_challenges_through_the_api(sqlite_world):
    w = sqlite_world
    headers = {"Authorization": f"Bearer {(await create_admin(w.gateway, 'scep-admin')).token}"}
    base = f"/api/v1/applications/{w.app_id}/endpoints/{w.endpoints['static']}"
    put = await w.http.put(base + "/scep", headers=headers,
                           json={"challenge_mode": "static", "static_challenge": "a-new-secret-9"})
    assert put.status == 200, await put.text()
    shown = await (await w.http.get(base + "/scep", headers=headers)).json()
    assert shown["challenge_mode"] == "static" and "static_challenge" not in shown  # write-only
    assert (await w.enrol(h.rsa_key(fresh=True), challenge="a-new-secret-9")).status == "0"
    bad = await w.http.put(base + "/scep", headers=headers, json={"challenge_mode": "static",
                                                                   "static_challenge": "short"})
    assert bad.status == 400
    assert (await w.http.put(base + "/scep", json={"challenge_mode": "one_time"})).status == 401

    assert (await w.http.put(base + "/scep", headers=headers, json={"challenge_mode": "one_time"})).status == 200
    minted = await w.http.post(base + "/scep-challenges", headers=headers, json={"ttl": "10m"})
    assert minted.status == 201
    challenge = (await minted.json())["challenge"]
    assert (await w.enrol(h.rsa_key(fresh=True), challenge=challenge)).status == "0"
    assert (await w.enrol(h.rsa_key(fresh=True), challenge=challenge)).fail_info == "2"


@pytest.fixture
async def webhook(aiohttp_server):
    """A webhook that allows the challenge "let-me-in", answers garbage for "garbage" and stalls for "slow"."""
    seen = []

    async def decide(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        if body["challenge"] == "slow":
            await asyncio.sleep(5)
        if body["challenge"] == "garbage":
            return web.Response(text="yes")
        return web.json_response({"allow": body["challenge"] == "let-me-in"})

    app = web.Application()
    app.router.add_post("/decide", decide)
    server = await aiohttp_server(app)
    return server, seen


async def test_webhook_allows_denies_and_fails_closed(sqlite_world, webhook):
    w = sqlite_world
    server, seen = webhook
    service = w.gateway.scep
    service.challenges.webhook_timeout = 0.5
    await service.challenges.configure(w.admin, w.app_id, w.endpoints["static"], mode="webhook",
                                       webhook_url=str(server.make_url("/decide")))
    assert (await w.enrol(h.rsa_key(fresh=True), cn="hooked", challenge="let-me-in")).status == "0"
    assert seen[-1]["endpoint_id"] == w.endpoints["static"] and seen[-1]["csr"]
    for challenge in ("no-entry", "garbage", "slow"):  # denied, unclear answer, timeout: all refused
        reply = await w.enrol(h.rsa_key(fresh=True), challenge=challenge)
        assert (reply.status, reply.fail_info) == ("2", "2"), challenge
    await service.challenges.configure(w.admin, w.app_id, w.endpoints["static"], mode="webhook",
                                       webhook_url="http://127.0.0.1:9/unreachable")
    assert (await w.enrol(h.rsa_key(fresh=True), challenge="let-me-in")).fail_info == "2"


async def test_ra_certificate_is_renewed_and_the_old_one_still_opens_envelopes(sqlite_world):
    w = sqlite_world
    old_ra, _ = await w.ra()
    key = h.rsa_key(fresh=True)
    csr = h.make_csr(key, "late-client", "static-secret-123")
    env_for_old = h.openssl_envelope(csr, old_ra)  # a client that fetched GetCACert before the renewal
    w.gateway.clock.advance(dt.timedelta(days=250))  # past two thirds of the RA's year
    try:
        new_ra, _ = await w.ra()
        assert new_ra != old_ra and new_ra.not_valid_after_utc > old_ra.not_valid_after_utc
        resp = await w.operation(h.pki_message(env_for_old, h.self_signed(key, "late-client"), key, 19, "late"))
        reply = h.read_reply(await resp.read())
        assert reply.status == "0" and reply.signer == old_ra  # answered by the RA the client addressed
    finally:
        w.gateway.clock.advance(-dt.timedelta(days=250))
