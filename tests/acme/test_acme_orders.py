"""Orders, challenges, finalize, download, revocation, ARI, key rollover (RFC 8555 §7.3–§7.6, RFC 9773, 8737, 8738)."""

from __future__ import annotations

import datetime as dt
import json

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acme_helpers import b64, ec_key, make_csr
from protocols.acme.messages import ari_cert_id


async def _account(world, endpoint=None):
    acme = await world.client(endpoint).open()
    assert (await acme.register()).status == 201
    return acme


async def _ready_order(world, acme, *names):
    reply = await acme.new_order(*names)
    assert reply.status == 201, reply.body
    await acme.authorize(reply.json, world.http01)
    return await acme.poll(reply.headers["Location"], {"ready"}), reply.headers["Location"]


async def test_denied_identifier_is_rejected_with_subproblems(sqlite_world):
    acme = await _account(sqlite_world)
    reply = await acme.new_order("ok.example.test", "x.denied.test")
    assert (reply.status, reply.type) == (400, "rejectedIdentifier")
    (sub,) = reply.json["subproblems"]
    assert sub["identifier"] == {"type": "dns", "value": "x.denied.test"}
    orders = await acme.ok(acme.kid + "/orders")
    assert orders.json["orders"] == []  # nothing stored


async def test_order_and_get_carry_location(sqlite_world):
    acme = await _account(sqlite_world)
    reply = await acme.new_order("loc.example.test")
    assert reply.status == 201 and reply.headers["Location"].endswith(reply.headers["Location"].rsplit("/", 1)[1])
    got = await acme.ok(reply.headers["Location"])
    assert got.headers["Location"] == reply.headers["Location"]
    # A pending order waits on the client, not on us: no Retry-After (processing orders carry one, tested below).
    assert "Retry-After" not in got.headers


async def test_wildcard_offers_dns01_only_and_issues(sqlite_world, cts):
    acme = await _account(sqlite_world)
    reply = await acme.new_order("*.wild.example.test")
    authz = (await acme.ok(reply.json["authorizations"][0])).json
    assert [c["type"] for c in authz["challenges"]] == ["dns-01"] and authz["wildcard"] is True
    assert authz["identifier"] == {"type": "dns", "value": "wild.example.test"}
    _, _, pem = await acme.issue("*.wild.example.test", cts=cts, prefer="dns-01")
    assert "BEGIN CERTIFICATE" in pem


async def test_ip_identifier_http01(sqlite_world):
    acme = await _account(sqlite_world)
    reply = await acme.new_order("127.0.0.1")
    authz = (await acme.ok(reply.json["authorizations"][0])).json
    assert {c["type"] for c in authz["challenges"]} == {"http-01", "tls-alpn-01"}
    _, _, pem = await acme.issue("127.0.0.1", http01=sqlite_world.http01)
    leaf = x509.load_pem_x509_certificate(pem.encode())
    ips = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    assert [str(i) for i in ips] == ["127.0.0.1"]


async def test_tls_alpn01(sqlite_world, cts):
    acme = await _account(sqlite_world)
    reply = await acme.new_order("alpn.example.test")
    authz_url = reply.json["authorizations"][0]
    authz = (await acme.ok(authz_url)).json
    chall = next(c for c in authz["challenges"] if c["type"] == "tls-alpn-01")
    cts.post("/add-tlsalpn01", {"host": "alpn.example.test", "content": acme.key_authorization(chall["token"])})
    await acme.ok(chall["url"], {})
    assert (await acme.poll(authz_url, {"valid", "invalid"}))["status"] == "valid"


async def test_not_before_not_after_honoured_within_policy(sqlite_world):
    acme = await _account(sqlite_world)
    not_after = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10)).replace(microsecond=0)
    reply = await acme.new_order("dur.example.test", notAfter=not_after.isoformat().replace("+00:00", "Z"))
    assert reply.status == 201 and reply.json["notAfter"].startswith(not_after.strftime("%Y-%m-%dT%H:%M"))
    await acme.authorize(reply.json, sqlite_world.http01)
    order_url = reply.headers["Location"]
    await acme.poll(order_url, {"ready"})
    await acme.ok(reply.json["finalize"], {"csr": b64(make_csr(["dur.example.test"]))})
    order = await acme.poll(order_url, {"valid"})
    leaf = x509.load_pem_x509_certificate((await acme.ok(order["certificate"])).body)
    assert leaf.not_valid_after_utc == not_after
    too_long = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused = await acme.new_order("dur2.example.test", notAfter=too_long)
    assert refused.status == 400 and refused.type == "malformed"


async def test_finalize_before_ready(sqlite_world):
    acme = await _account(sqlite_world)
    reply = await acme.new_order("early.example.test")
    fin = await acme.post(reply.json["finalize"], {"csr": b64(make_csr(["early.example.test"]))})
    assert (fin.status, fin.type) == (403, "orderNotReady")
    assert (await acme.ok(reply.headers["Location"])).json["status"] == "pending"


async def test_csr_for_other_names_and_csr_with_account_key(sqlite_world):
    acme = await _account(sqlite_world)
    order, order_url = await _ready_order(sqlite_world, acme, "csr.example.test")
    other = await acme.post(order["finalize"], {"csr": b64(make_csr(["csr.example.test", "evil.example.test"]))})
    assert (other.status, other.type) == (400, "badCSR")
    same_key = await acme.post(order["finalize"], {"csr": b64(make_csr(["csr.example.test"], acme.key))})
    assert (same_key.status, same_key.type) == (400, "badCSR")
    assert (await acme.ok(order_url)).json["status"] == "ready"  # neither changed the order
    good = await acme.ok(order["finalize"], {"csr": b64(make_csr(["csr.example.test"]))})
    assert good.headers["Location"] == order_url and good.json["status"] in ("processing", "valid")


async def test_wrong_key_authorization_invalidates(sqlite_world):
    acme = await _account(sqlite_world)
    reply = await acme.new_order("wrong.example.test")
    authz_url = reply.json["authorizations"][0]
    chall = next(c for c in (await acme.ok(authz_url)).json["challenges"] if c["type"] == "http-01")
    sqlite_world.http01.tokens[chall["token"]] = chall["token"] + ".not-the-thumbprint"
    await acme.ok(chall["url"], {})
    authz = await acme.poll(authz_url, {"valid", "invalid"})
    assert authz["status"] == "invalid"
    assert authz["challenges"][0]["error"]["type"].endswith(":incorrectResponse")
    assert (await acme.ok(reply.headers["Location"])).json["status"] == "invalid"


async def test_http01_redirect_to_other_port_and_silence(sqlite_world):
    acme = await _account(sqlite_world)
    for mode, problem in (("redirect", "connection"), ("hang", "connection")):
        sqlite_world.http01.mode = mode
        reply = await acme.new_order(f"{mode}.example.test")
        authz_url = reply.json["authorizations"][0]
        chall = next(c for c in (await acme.ok(authz_url)).json["challenges"] if c["type"] == "http-01")
        await acme.ok(chall["url"], {})
        authz = await acme.poll(authz_url, {"valid", "invalid"}, attempts=200)
        assert authz["status"] == "invalid", authz
        assert authz["challenges"][0]["error"]["type"].endswith(":" + problem)
        assert (await acme.ok(reply.headers["Location"])).json["status"] == "invalid"
    sqlite_world.http01.mode = "ok"


async def test_authorization_reuse_and_deactivation(sqlite_world):
    acme = await _account(sqlite_world)
    await acme.issue("reuse.example.test", http01=sqlite_world.http01)
    again = await acme.new_order("reuse.example.test")
    assert again.status == 201 and again.json["status"] == "ready"
    authz_url = again.json["authorizations"][0]
    deactivated = await acme.ok(authz_url, {"status": "deactivated"})
    assert deactivated.json["status"] == "deactivated"
    fresh = await acme.new_order("reuse.example.test")
    assert fresh.json["status"] == "pending" and fresh.json["authorizations"][0] != authz_url


async def test_pending_approval_processing_then_valid(sqlite_world):
    world = sqlite_world
    acme = await _account(world, world.approval_endpoint)
    order, order_url = await _ready_order(world, acme, "approve.example.test")
    fin = await acme.ok(order["finalize"], {"csr": b64(make_csr(["approve.example.test"]))})
    assert fin.json["status"] == "processing" and fin.headers["Retry-After"] == "1"
    assert fin.headers["Location"] == order_url
    (request,) = await world.gateway.issuance.list_requests(world.admin, status=None)
    await world.gateway.issuance.approve(world.admin, request.id)
    order = await acme.poll(order_url, {"valid"})
    assert "BEGIN CERTIFICATE" in (await acme.ok(order["certificate"])).body.decode()


async def test_download_content_type_and_chain(sqlite_world):
    acme = await _account(sqlite_world)
    order, _, _ = await acme.issue("dl.example.test", http01=sqlite_world.http01)
    reply = await acme.ok(order["certificate"])
    assert reply.headers["Content-Type"] == "application/pem-certificate-chain"
    assert len(x509.load_pem_x509_certificates(reply.body)) >= 2


async def test_ari_window_and_replaces(sqlite_world):
    acme = await _account(sqlite_world)
    _, _, pem = await acme.issue("ari.example.test", http01=sqlite_world.http01)
    leaf = x509.load_pem_x509_certificate(pem.encode())
    cert_id = ari_cert_id(leaf)
    r = await acme.http.get(acme.path(acme.directory["renewalInfo"] + "/" + cert_id))
    assert r.status == 200 and r.headers["Retry-After"].isdigit()
    window = (await r.json())["suggestedWindow"]
    end = dt.datetime.fromisoformat(window["end"].replace("Z", "+00:00"))
    assert end < leaf.not_valid_after_utc - dt.timedelta(days=9)
    first = await acme.new_order("ari.example.test", replaces=cert_id)
    assert first.status == 201
    second = await acme.new_order("ari.example.test", replaces=cert_id)
    assert (second.status, second.type) == (409, "alreadyReplaced")
    missing = await acme.http.get(acme.path(acme.directory["renewalInfo"] + "/AAAA.AQ"))
    assert missing.status == 404


async def test_revoke_by_account_by_key_and_refused(sqlite_world):
    world = sqlite_world
    acme = await _account(world)
    cert_key = ec_key()
    names = ["rev.example.test"]
    reply = await acme.new_order(*names)
    await acme.authorize(reply.json, world.http01)
    await acme.poll(reply.headers["Location"], {"ready"})
    await acme.ok(reply.json["finalize"], {"csr": b64(make_csr(names, cert_key))})
    order = await acme.poll(reply.headers["Location"], {"valid"})
    der = x509.load_pem_x509_certificate((await acme.ok(order["certificate"])).body).public_bytes(
        serialization.Encoding.DER)
    stranger = await _account(world)
    refused = await stranger.post(acme.directory["revokeCert"], {"certificate": b64(der)})
    assert (refused.status, refused.type) == (403, "unauthorized")
    by_key = await acme.post(acme.directory["revokeCert"], {"certificate": b64(der), "reason": 1},
                             key=cert_key, kid=False)
    assert by_key.status == 200, by_key.body
    again = await acme.post(acme.directory["revokeCert"], {"certificate": b64(der)})
    assert (again.status, again.type) == (400, "alreadyRevoked")
    bad_reason = await acme.post(acme.directory["revokeCert"], {"certificate": b64(der), "reason": 7})
    assert (bad_reason.status, bad_reason.type) == (400, "badRevocationReason")


async def test_key_change(sqlite_world):
    acme = await _account(sqlite_world)
    new_key = ec_key()
    url = acme.directory["keyChange"]
    inner = acme.sign(url, {"account": acme.kid, "oldKey": acme.jwk.public_key().to_partial_json()}, None,
                      key=new_key, kid=False)
    inner_protected = json.loads(__import__("base64").urlsafe_b64decode(inner["protected"] + "=="))
    assert "nonce" not in inner_protected
    reply = await acme.post(url, inner)
    assert reply.status == 200, reply.body
    old_key = acme.key
    acme.key = new_key
    assert (await acme.post(acme.kid, None)).status == 200
    acme.key = old_key
    assert (await acme.post(acme.kid, None)).status == 400  # the old key no longer verifies


async def test_orders_list(sqlite_world):
    acme = await _account(sqlite_world)
    urls = [(await acme.new_order(f"list{i}.example.test")).headers["Location"] for i in range(3)]
    listed = await acme.ok(acme.kid + "/orders")
    assert listed.json["orders"] == urls


async def test_rate_limited_orders(world_factory):
    world = await world_factory(rate_limit_orders_per_account_per_hour=1)
    acme = await _account(world)
    assert (await acme.new_order("rl1.example.test")).status == 201
    limited = await acme.new_order("rl2.example.test")
    assert (limited.status, limited.type) == (429, "rateLimited")
    assert limited.headers["Retry-After"].isdigit()

