"""Issue #7, the ACME items: malformed identifiers (8), chains without the root (12), hostile JSON in the JWS (14,
15), JWK members of the wrong type (16), deactivated accounts (17). Each case failed on the code before the fix."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select

from enrollment_gateway.core.issuance import IssuanceRequest
from enrollment_gateway.domain import EnrollmentMethod, ProfileDefaults
from enrollment_gateway.storage.acme_tables import acme_accounts, acme_authorizations, acme_nonces, acme_orders
from enrollment_gateway.storage.repositories.acme import AcmeAuthorization, AcmeStore
from protocols.acme import identifiers as ids
from protocols.acme import jws
from protocols.acme import order as order_module
from protocols.acme.messages import Identifier
from protocols.acme.wire import ACME

from acme_helpers import PUBLIC, b64, make_csr

# --- item 8: identifiers refused at newOrder (RFC 8555 §7.1.4) -------------------------------------------------


@pytest.mark.parametrize("value, why", [
    ("bücher.example.test", "xn--bcher-kva.example.test"),  # a U-label: the A-label is named for the client
    ("BÜCHER.example.test", "A-labels"),  # upper-case U-label too
    ("*.bücher.example.test", "'*.xn--bcher-kva.example.test'"),  # a wildcard's A-label keeps its wildcard
    ("-lead.example.test", "hyphen"),  # leading hyphen (RFC 1035 §2.3.1)
    ("trail-.example.test", "hyphen"),  # trailing hyphen
    ("a_b.example.test", "letters, digits and hyphens"),  # underscore is not LDH
    ("exa mple.test", "letters, digits and hyphens"),  # a space
    ("ab--cd.example.test", "reserved"),  # R-LDH label that is not xn--
    ("xn--zz.example.test", "A-label"),  # xn-- that is not valid punycode/IDNA
    ("a" * 64 + ".example.test", "longer than 63"),  # one label too long
    (".".join(["a" * 63] * 4), "longer than 253"),  # 255 characters in all
    ("a..example.test", "empty label"),
    ("example.test.", "dot"),  # trailing dot: refused, not quietly dropped
    ("*.*.example.test", "wildcard"),  # two wildcards
    ("www.*.example.test", "wildcard"),  # wildcard not leftmost
    ("*example.test", "wildcard"),  # partial-label wildcard
    ("*", "wildcard"),
    ("192.0.2.1", "'ip' identifier"),  # an address in a dns identifier
    ("example.123", "all digits"),  # numeric TLD
])
def test_dns_identifier_problems(value, why):
    problem = ids.dns_name_problem(value.lower())
    assert problem is not None and why in problem


@pytest.mark.parametrize("value", [
    "example.test", "*.example.test", "localhost", "xn--bcher-kva.example.test", "a-b.c-d.example", "1a.example",
    "a" * 63 + ".example.test", ".".join(["a" * 63] * 3) + ".abcdefghi",  # 253 characters exactly
])
def test_dns_identifier_accepted(value):
    assert ids.dns_name_problem(value) is None


@pytest.mark.parametrize("value, why", [
    ("2001:DB8::1", "'2001:db8::1'"),  # RFC 5952 §4.3: lower case
    ("2001:db8:0:0::1", "'2001:db8::1'"),  # RFC 5952 §4.2: compressed
    ("fe80::1%eth0", "zone"),
    ("::ffff:192.0.2.1", "'192.0.2.1'"),  # IPv4-mapped: send the IPv4 address
    ("192.0.2.01", "not an IPv4"),  # leading zero (octal ambiguity)
    ("192.0.2", "not an IPv4"),
])
def test_ip_identifier_problems(value, why):
    problem = ids.ip_problem(value)
    assert problem is not None and why in problem


def test_check_identifiers_collects_every_bad_one():
    with pytest.raises(Exception) as exc:
        ids.check_identifiers([Identifier("dns", "bücher.example.test"), Identifier("dns", "ok.example.test"),
                               Identifier("ip", "2001:DB8::1")])
    problem = exc.value
    assert problem.type == "malformed" and problem.status == 400
    assert [s.identifier for s in problem.subproblems] == [("dns", "bücher.example.test"), ("ip", "2001:DB8::1")]
    assert ids.check_identifiers([Identifier("dns", "OK.example.test"), Identifier("dns", "ok.example.test")]) == (
        Identifier("dns", "ok.example.test"),)


async def _count(world, table) -> int:
    async with world.gateway.db.transaction(readonly=True) as tx:
        return int((await tx.connection.execute(select(func.count()).select_from(table))).scalar())


async def _account(world):
    acme = await world.client().open()
    assert (await acme.register()).status == 201
    return acme


async def test_new_order_refuses_malformed_identifiers_before_storing_anything(world):
    acme = await _account(world)
    reply = await acme.new_order("bücher.example.test", "-lead.example.test", "fine.example.test")
    assert (reply.status, reply.type) == (400, "malformed"), reply.body
    subs = reply.json["subproblems"]
    assert [s["identifier"]["value"] for s in subs] == ["bücher.example.test", "-lead.example.test"]
    assert all(s["type"] == "urn:ietf:params:acme:error:malformed" for s in subs)
    assert "xn--bcher-kva.example.test" in subs[0]["detail"]
    assert await _count(world, acme_orders) == 0 and await _count(world, acme_authorizations) == 0


async def _legacy_authorization(world, acme, value: str) -> str:
    """An authorization stored before newOrder checked names (or by an older instance): the validators meet it."""
    account_id = acme.kid.rsplit("/", 1)[1]
    now = world.gateway.clock.now()
    authz = AcmeAuthorization(
        id=uuid.uuid4().hex, endpoint_id=world.endpoint, account_id=account_id, identifier_type="dns",
        identifier_value=value, wildcard=False, status="pending", expires=now + dt.timedelta(days=1),
        token=secrets.token_urlsafe(32), challenge_types=("http-01", "dns-01", "tls-alpn-01"), challenge_type=None,
        challenge_status="pending", created_at=now)
    async with AcmeStore(world.gateway.db).write() as repo:
        await repo.add_authorizations([authz])
    return f"{PUBLIC}/acme/{world.endpoint}/authz/{authz.id}"


@pytest.mark.parametrize("value, challenge, problem", [
    # yarl refuses the host: before the fix the exception left the challenge `processing` until its lease lapsed,
    # then other instances retried it three times and it ended as a misleading `connection` error.
    ("exa mple.test", "http-01", "serverInternal"),
    # A U-label reached the DNS client's encoder (UnicodeEncodeError, a traceback) on the tls-alpn-01 path.
    ("bücher.example.test", "tls-alpn-01", "dns"),
])
async def test_validator_exception_fails_the_challenge_at_once(sqlite_world, value, challenge, problem):
    acme = await _account(sqlite_world)
    authz_url = await _legacy_authorization(sqlite_world, acme, value)
    await acme.ok(f"{authz_url.replace('/authz/', '/chall/')}/{challenge}", {})
    # Polled for at most ~5 s; the validator's lease (what the stuck challenge waited for) is 16 s here.
    done = await acme.poll(authz_url, {"valid", "invalid"})
    error = next(c for c in done["challenges"] if c["type"] == challenge)["error"]
    assert done["status"] == "invalid" and error["type"] == f"urn:ietf:params:acme:error:{problem}", error
    assert value in error["detail"]


# --- item 12: the chain stops below the root unless the endpoint asks ------------------------------------------


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


async def test_chain_leaves_out_the_root_unless_the_profile_asks(sqlite_world):
    w = sqlite_world
    acme = await _account(w)
    _, _, pem = await acme.issue("chain.example.test", http01=w.http01)
    default = x509.load_pem_x509_certificates(pem.encode())
    assert len(default) == 2 and not any(_self_signed(c) for c in default)  # leaf, issuing CA
    assert default[1].subject == default[0].issuer

    base = await w.gateway.catalog.get_profile((await w.gateway.applications.endpoint(w.endpoint)).profile_id)
    profile = await w.gateway.catalog.create_profile(
        w.admin, name="with-root", ca_id=base.ca_id, policy_id=base.policy_id,
        defaults=ProfileDefaults(ttl_seconds=30 * 86400), enrollment={"acme": {"include_root": True}},
        approval_required=False, renew_before_days=10)
    endpoint = (await w.gateway.applications.attach_profile(w.admin, w.app_id, profile.id)).id
    other = await w.client(endpoint).open()
    assert (await other.register()).status == 201
    _, _, pem = await other.issue("rooted.example.test", http01=w.http01)
    full = x509.load_pem_x509_certificates(pem.encode())
    assert len(full) == 3 and _self_signed(full[-1]) and full[-1].subject == full[1].issuer


# --- items 14, 15, 16: hostile JSON and JWKs get 400, never 500, and change nothing ----------------------------

DEEP = "[" * 2000 + "]" * 2000
SURROGATE = '"\\ud800"'  # JSON text escaping a lone surrogate


async def _state(world) -> tuple[int, int, int]:
    return (await _count(world, acme_accounts), await _count(world, acme_orders), await _count(world, acme_nonces))


def _signed_raw(acme, protected_text: str, payload: bytes) -> bytes:
    """A flattened JWS over protected header *text* as given (so it may hold what json.dumps never writes)."""
    p64, s64 = b64(protected_text.encode()), b64(payload)
    signature = jws.josepy.ES256.sign(acme.key, f"{p64}.{s64}".encode())
    return json.dumps({"protected": p64, "payload": s64, "signature": b64(signature)}).encode()


def _header(acme, url: str, nonce: str, **extra_text: str) -> str:
    members = {"alg": '"ES256"', "nonce": json.dumps(nonce), "url": json.dumps(url), "kid": json.dumps(acme.kid)}
    members.update(extra_text)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in members.items()) + "}"


@pytest.mark.parametrize("where", ["body", "protected", "payload", "identifier"])
@pytest.mark.parametrize("hostile", [DEEP, SURROGATE, "1" + "0" * 30])
async def test_hostile_json_is_malformed_and_changes_nothing(world, where, hostile):
    acme = await _account(world)
    url = acme.directory["newOrder"]
    before = await _state(world)
    nonce = await acme.nonce()
    if where == "body":
        body = b'{"protected": "", "payload": "", "signature": "", "x": ' + hostile.encode() + b"}"
    elif where == "protected":
        body = _signed_raw(acme, _header(acme, url, nonce, x=hostile),
                           b'{"identifiers": [{"type": "dns", "value": "a.example.test"}]}')
    elif where == "payload":
        payload = b'{"identifiers": [{"type": "dns", "value": "a.example.test"}], "x": ' + hostile.encode() + b"}"
        body = _signed_raw(acme, _header(acme, url, nonce), payload)
    else:
        payload = b'{"identifiers": [{"type": "dns", "value": ' + hostile.encode() + b"}]}"
        body = _signed_raw(acme, _header(acme, url, nonce), payload)
    reply = await acme.post(url, body=body)
    assert (reply.status, reply.type) == (400, "malformed"), reply.body
    assert await _state(world) == before  # no account, no order, and the nonce was not even spent


@pytest.mark.parametrize("jwk", [
    {"kty": "EC", "crv": "P-256", "x": [0], "y": "AA"},  # array where a string belongs
    {"kty": "EC", "crv": "P-256", "x": None, "y": None},  # null members
    {"kty": None},
    {"kty": ["EC"]},
    {"kty": "RSA", "n": 1, "e": {}},
    {"kty": "OKP", "crv": ["Ed25519"], "x": "AA"},
    {"kty": "EC", "crv": "P-256", "x": "AA"},  # a required member missing
    {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "key_ops": "sign"},  # key_ops is an array
])
async def test_jwk_members_of_the_wrong_type_are_malformed(world, jwk):
    acme = await world.client().open()
    url = acme.directory["newAccount"]
    before = await _state(world)
    header = json.dumps({"alg": "ES256", "nonce": await acme.nonce(), "url": url, "jwk": jwk})
    reply = await acme.post(url, body=_signed_raw(acme, header, b'{"termsOfServiceAgreed": true}'))
    assert (reply.status, reply.type) == (400, "malformed"), reply.body
    assert await _state(world) == before


def test_jwk_with_wrong_types_never_reaches_josepy():
    for bad in ({"kty": "EC", "crv": "P-256", "x": [0], "y": "AA"}, {"kty": "RSA", "n": None, "e": "AQAB"}):
        with pytest.raises(jws.problems.AcmeProblem) as exc:
            jws.jwk_from_json(bad)
        assert exc.value.type == "malformed"


# --- item 17: a deactivated account is 401 unauthorized (RFC 8555 §7.3.6) -------------------------------------


async def test_deactivated_account_gets_401_everywhere(world):
    acme = await _account(world)
    order = await acme.new_order("before.example.test")
    assert order.status == 201
    assert (await acme.ok(acme.kid, {"status": "deactivated"})).json["status"] == "deactivated"
    for url, payload in ((acme.kid, None), (acme.directory["newOrder"], {"identifiers": [
            {"type": "dns", "value": "after.example.test"}]}), (order.headers["Location"], None),
            (order.json["authorizations"][0], None), (acme.kid, {"status": "deactivated"})):
        reply = await acme.post(url, payload)
        assert (reply.status, reply.type) == (401, "unauthorized"), (url, reply.body)
    again = await acme.register()  # newAccount with the deactivated account's key
    assert (again.status, again.type) == (401, "unauthorized")


# --- item 18: a finalize whose process died converges without the client (see also conformance) ----------------


async def _ready_order(world, acme, name: str) -> tuple[str, dict]:
    reply = await acme.new_order(name)
    assert reply.status == 201, reply.body
    await acme.authorize(reply.json, world.http01)
    return reply.headers["Location"], await acme.poll(reply.headers["Location"], {"ready"})


async def _as_left_by_a_killed_finalize(world, order_url: str, lease_left: dt.timedelta) -> str:
    order_id = order_url.rsplit("/", 1)[1]
    async with AcmeStore(world.gateway.db).write() as repo:
        assert await repo.update_order(order_id, only_from=("ready",), status="processing",
                                       processing_until=world.gateway.clock.now() + lease_left)
    return order_id


async def _sign_as_finalize_does(world, acme, order_id: str, name: str, actor=None) -> str:
    """What finalize's core call commits before the process dies: the certificate, stamped with the order."""
    st = world.http.server.app[ACME]
    ctx = await st.context(world.endpoint)
    account_id = acme.kid.rsplit("/", 1)[1]
    outcome = await world.gateway.issuance.issue(IssuanceRequest(
        actor=actor or ctx.actor(account_id), endpoint_id=world.endpoint, protocol=EnrollmentMethod.ACME,
        csr=make_csr([name]), subject=[("CN", name)], sans=[("DNS", name)],
        metadata={"acme_account": account_id, "acme_order": order_id}))
    return outcome.certificate.id


async def test_stalled_finalizations_converge(world):
    acme = await _account(world)
    st = world.http.server.app[ACME]
    lapsed = -dt.timedelta(seconds=1)
    # Killed after the certificate was committed: it is attached.
    signed_url, _ = await _ready_order(world, acme, "signed.example.test")
    signed_id = await _as_left_by_a_killed_finalize(world, signed_url, lapsed)
    cert_id = await _sign_as_finalize_does(world, acme, signed_id, "signed.example.test")
    # Killed before anything was committed: back to ready.
    unsigned_url, unsigned = await _ready_order(world, acme, "unsigned.example.test")
    await _as_left_by_a_killed_finalize(world, unsigned_url, lapsed)
    # An admin's API certificate carrying the order's id in its metadata is not the account's: never attached.
    forged_url, _ = await _ready_order(world, acme, "forged.example.test")
    forged_id = await _as_left_by_a_killed_finalize(world, forged_url, lapsed)
    await _sign_as_finalize_does(world, acme, forged_id, "forged.example.test", actor=world.admin)
    # A finalize still inside its lease is alive, maybe on another instance: left alone.
    live_url, _ = await _ready_order(world, acme, "live.example.test")
    live_id = await _as_left_by_a_killed_finalize(world, live_url, dt.timedelta(hours=1))

    assert await order_module.recover_stalled(st) == 3  # what start-up and housekeeping run, no client involved
    async with AcmeStore(world.gateway.db).read() as repo:
        states = {i: (await repo.order(i)) for i in (signed_id, forged_id, live_id)}
    assert (states[signed_id].status, states[signed_id].certificate_id) == ("valid", cert_id)
    assert (states[forged_id].status, states[forged_id].certificate_id) == ("ready", None)
    assert states[live_id].status == "processing"
    pem = (await acme.ok((await acme.ok(signed_url)).json["certificate"])).body.decode()
    assert "signed.example.test" in str(x509.load_pem_x509_certificates(pem.encode())[0].subject)
    # The order put back to ready takes a second finalize (it was orderNotReady for ever before).
    assert (await acme.ok(unsigned_url)).json["status"] == "ready"
    await acme.ok(unsigned["finalize"], {"csr": b64(make_csr(["unsigned.example.test"]))})
    assert (await acme.poll(unsigned_url, {"valid"}))["certificate"]


async def test_a_poll_settles_a_stalled_finalization_too(sqlite_world):
    acme = await _account(sqlite_world)
    url, _ = await _ready_order(sqlite_world, acme, "polled.example.test")
    await _as_left_by_a_killed_finalize(sqlite_world, url, -dt.timedelta(seconds=1))
    assert (await acme.ok(url)).json["status"] == "ready"


@pytest.mark.parametrize("cursor", ["99999999999999999999", "-1", "1e3", "%D9%A3", "1_0", "", "2147483648"])
async def test_orders_list_cursor_out_of_range_is_malformed(world, cursor):
    acme = await _account(world)
    orders_url = (await acme.ok(acme.kid)).json["orders"]
    reply = await acme.post(f"{orders_url}?cursor={cursor}")
    assert (reply.status, reply.type) == (400, "malformed"), reply.body


async def test_revoke_cert_with_an_unknown_certificate_version_is_malformed(sqlite_world):
    """cryptography raises InvalidVersion (no ValueError) for a version outside v1–v3: that was a 500."""
    acme = await _account(sqlite_world)
    _, _, pem = await acme.issue("version.example.test", http01=sqlite_world.http01)
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
    v3 = bytes.fromhex("a003020102")  # [0] EXPLICIT INTEGER 2, the version field of the real certificate
    assert der.count(v3) == 1
    reply = await acme.post(acme.directory["revokeCert"], {"certificate": b64(der.replace(v3, v3[:-1] + b"\x07"))})
    assert (reply.status, reply.type) == (400, "malformed"), reply.body
