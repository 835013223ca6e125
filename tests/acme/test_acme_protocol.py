"""Transport rules (RFC 8555 §6) and the "bad input" list of issue #3: none may 500 or change state."""

from __future__ import annotations

import json

import pytest

from acme_helpers import b64, rsa_key


async def _account(world):
    acme = await world.client().open()
    assert (await acme.register()).status == 201
    return acme


async def test_directory_and_nonce_endpoints(sqlite_world):
    acme = await sqlite_world.client().open()
    d = acme.directory
    assert d["renewalInfo"].endswith("/renewal-info") and not d["renewalInfo"].endswith("/")
    assert d["meta"]["externalAccountRequired"] is False
    head = await acme.http.head(acme.path(d["newNonce"]))
    get = await acme.http.get(acme.path(d["newNonce"]))
    for r, status in ((head, 200), (get, 204)):
        assert r.status == status
        assert r.headers["Replay-Nonce"] and r.headers["Cache-Control"] == "no-store"
        assert f'<{acme.directory_url}>;rel="index"' in r.headers.getall("Link")


async def test_unknown_directory_is_404_with_nonce(sqlite_world):
    r = await sqlite_world.http.get("/acme/nosuchendpoint/directory")
    assert r.status == 404 and r.headers["Replay-Nonce"]
    assert (await r.json())["type"] == "urn:ietf:params:acme:error:malformed"


async def test_new_account_201_then_200_with_location(sqlite_world):
    acme = await sqlite_world.client().open()
    first = await acme.register()
    again = await acme.register()
    assert (first.status, again.status) == (201, 200)
    assert first.headers["Location"] == again.headers["Location"]
    assert first.headers["Replay-Nonce"] and again.headers["Replay-Nonce"]


async def test_only_return_existing(sqlite_world):
    acme = await sqlite_world.client().open()
    reply = await acme.post(acme.directory["newAccount"], {"onlyReturnExisting": True}, kid=False)
    assert (reply.status, reply.type) == (400, "accountDoesNotExist")


async def test_replayed_nonce_is_refused(sqlite_world):
    acme = await _account(sqlite_world)
    nonce = await acme.nonce()
    assert (await acme.post(acme.kid, None, nonce=nonce)).status == 200
    replay = await acme.post(acme.kid, None, nonce=nonce)
    assert (replay.status, replay.type) == (400, "badNonce")
    assert replay.json["detail"] == "JWS has an invalid anti-replay nonce"
    assert replay.headers["Replay-Nonce"]


@pytest.mark.parametrize("nonce", ["AAAA", "not-ours-" + "A" * 40, b64(b"\0" * 36)])
async def test_unknown_nonce(sqlite_world, nonce):
    acme = await _account(sqlite_world)
    reply = await acme.post(acme.kid, None, nonce=nonce)
    assert (reply.status, reply.type) == (400, "badNonce")


async def test_url_mismatch_is_unauthorized(sqlite_world):
    acme = await _account(sqlite_world)
    body = json.dumps(acme.sign(acme.directory["newOrder"], None, await acme.nonce())).encode()
    reply = await acme.post(acme.kid, body=body)
    assert (reply.status, reply.type) == (403, "unauthorized")


async def test_both_jwk_and_kid(sqlite_world):
    acme = await _account(sqlite_world)
    jwk = acme.jwk.public_key().to_partial_json()
    reply = await acme.post(acme.kid, None, extra={"jwk": jwk})
    assert (reply.status, reply.type) == (400, "malformed")


@pytest.mark.parametrize("alg", ["none", "HS256"])
async def test_refused_algorithms(sqlite_world, alg):
    acme = await _account(sqlite_world)
    reply = await acme.post(acme.kid, None, alg=alg)
    assert (reply.status, reply.type) == (400, "badSignatureAlgorithm")
    assert "ES256" in reply.json["algorithms"]


async def test_bad_signature(sqlite_world):
    acme = await _account(sqlite_world)
    jws = acme.sign(acme.kid, None, await acme.nonce())
    jws["signature"] = b64(b"\x01" * 64)
    reply = await acme.post(acme.kid, body=json.dumps(jws).encode())
    assert (reply.status, reply.type) == (400, "malformed")


async def test_payload_not_json(sqlite_world):
    acme = await _account(sqlite_world)
    reply = await acme.post(acme.directory["newOrder"], raw_payload=b"{not json")
    assert (reply.status, reply.type) == (400, "malformed")


async def test_wrong_content_type_is_415(sqlite_world):
    acme = await _account(sqlite_world)
    reply = await acme.post(acme.kid, None, content_type="application/json")
    assert (reply.status, reply.type) == (415, "malformed")


async def test_one_megabyte_body_refused_before_parsing(sqlite_world):
    acme = await _account(sqlite_world)
    reply = await acme.post(acme.kid, body=b"{" + b" " * (1024 * 1024))
    assert reply.status == 413 and reply.type == "malformed"
    assert reply.headers["Replay-Nonce"]


async def test_small_rsa_account_key_refused(sqlite_world):
    acme = sqlite_world.client(key=rsa_key(1024))
    await acme.open()
    reply = await acme.register()
    assert (reply.status, reply.type) == (400, "badPublicKey")


async def test_rsa_2048_account_accepted(sqlite_world):
    acme = sqlite_world.client(key=rsa_key(2048))
    await acme.open()
    assert (await acme.register()).status == 201


async def test_kid_of_unknown_account(sqlite_world):
    acme = await sqlite_world.client().open()
    acme.kid = acme.directory["newAccount"].replace("new-account", "acct/0123456789abcdef")
    reply = await acme.post(acme.kid, None)
    assert (reply.status, reply.type) == (400, "accountDoesNotExist")


async def test_account_update_and_deactivation(sqlite_world):
    acme = await _account(sqlite_world)
    updated = await acme.ok(acme.kid, {"contact": ["mailto:new@example.com"]})
    assert updated.json["contact"] == ["mailto:new@example.com"] and updated.headers["Location"] == acme.kid
    bad = await acme.post(acme.kid, {"contact": ["tel:+1555"]})
    assert (bad.status, bad.type) == (400, "unsupportedContact")
    gone = await acme.ok(acme.kid, {"status": "deactivated"})
    assert gone.json["status"] == "deactivated"
    after = await acme.new_order("after.example.test")
    assert (after.status, after.type) == (401, "unauthorized")  # RFC 8555 §7.3.6


async def test_eab_required_and_single_use(sqlite_world):
    endpoint = sqlite_world.eab_endpoint
    plain = await sqlite_world.client(endpoint).open()
    assert plain.directory["meta"]["externalAccountRequired"] is True
    refused = await plain.register()
    assert (refused.status, refused.type) == (403, "externalAccountRequired")
    kid, mac = await sqlite_world.eab_key(endpoint, reusable=False)
    ok = await plain.register(externalAccountBinding=plain.eab(kid, mac))
    assert ok.status == 201
    second = await sqlite_world.client(endpoint).open()
    reused = await second.register(externalAccountBinding=second.eab(kid, mac))
    assert (reused.status, reused.type) == (403, "unauthorized")
    wrong = await second.register(externalAccountBinding=second.eab(kid, b64(b"x" * 32)))
    assert wrong.status == 403


async def test_eab_reusable_binds_several_accounts(sqlite_world):
    endpoint = sqlite_world.eab_endpoint
    kid, mac = await sqlite_world.eab_key(endpoint, reusable=True)
    for _ in range(2):
        acme = await sqlite_world.client(endpoint).open()
        assert (await acme.register(externalAccountBinding=acme.eab(kid, mac))).status == 201
