"""Property-based fuzzing of the ACME request parser over HTTP (issue #7: "4xx, never 5xx, state unchanged").

Every example is one POST to the in-process gateway: a mutated flattened JWS (raw bytes, odd members, broken base64),
a protected header with one member replaced by hostile JSON (deep nesting, lone surrogates, huge integers, wrong
types) and then properly signed, or a properly signed hostile payload. Each must get an ACME problem document with
a 4xx status and leave accounts, orders, authorizations and nonces as they were (a request that passes the
signature may spend its own nonce, and only that). A finalize with a mutated CSR gets a 4xx, issues nothing and
never leaves its order `processing`.
"""

from __future__ import annotations

import json

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from enrollment_gateway.storage.acme_tables import acme_accounts, acme_authorizations, acme_nonces, acme_orders
from enrollment_gateway.storage.tables import certificates
from protocols.acme import identifiers as ids
from protocols.acme import jws

from acme_helpers import JOSE, b64, ec_key, make_csr

FUZZ = settings(max_examples=120, deadline=None, derandomize=False,
                # One world per test, reused by every example: the state is compared around each request instead.
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- hostile JSON, as text (so it can hold what json.dumps never writes) ------------------------------------------

_strings = st.text(max_size=12) | st.sampled_from(["\ud800", "a\udfffb", "\x00", "é", "ES256", "", "xn--", "*"])
_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
            | st.floats(allow_nan=False, allow_infinity=False) | _strings)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(_strings, inner, max_size=3), max_leaves=12)
# JSON text every reader must refuse, wherever it appears (even in a member nobody reads).
refused_json = st.one_of(
    st.integers(min_value=33, max_value=3000).map(lambda n: "[" * n + "]" * n),  # deeper than any bound
    st.integers(min_value=20, max_value=400).map(lambda n: "9" * n),  # beyond int64
    _values.map(lambda v: json.dumps([v, "\ud800"])),  # a lone surrogate (ensure_ascii writes it as \\ud800)
    st.sampled_from(["NaN", "-Infinity", "1e400", '{"a": 1, "a": 2}', "[", "}", "'x'", ""]),
)
hostile_json = st.one_of(
    _values.map(json.dumps),  # well-formed, of any type
    refused_json,
    st.sampled_from(["{}", "[]", "null", "0", '""']),
)


# --- the world's state ------------------------------------------------------------------------------------------


async def _snapshot(world) -> tuple:
    async with world.gateway.db.transaction(readonly=True) as tx:
        conn = tx.connection
        accounts = sorted((await conn.execute(select(acme_accounts.c.id, acme_accounts.c.status,
                                                     acme_accounts.c.thumbprint))).all())
        orders = sorted((await conn.execute(select(acme_orders.c.id, acme_orders.c.status))).all())
        authzs = sorted((await conn.execute(select(acme_authorizations.c.id, acme_authorizations.c.status,
                                                   acme_authorizations.c.challenge_status))).all())
        nonces = int((await conn.execute(select(func.count()).select_from(acme_nonces))).scalar())
    return (accounts, orders, authzs), nonces


async def _setup(world):
    acme = world.client()
    await acme.open()
    assert (await acme.register()).status == 201
    order = await acme.new_order("fuzz.example.test")
    assert order.status == 201
    return acme, order.headers["Location"]


async def _check(world, acme, url: str, body: bytes, *, content_type: str = JOSE, may_spend_nonce: bool) -> None:
    before, nonces_before = await _snapshot(world)
    r = await acme.http.post(acme.path(url), data=body, headers={"Content-Type": content_type})
    text = await r.read()
    assert 400 <= r.status < 500, (r.status, text[:300], body[:300])
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    problem = json.loads(text)
    assert problem["type"].startswith("urn:ietf:params:acme:error:") and problem["status"] == r.status
    assert r.headers.get("Replay-Nonce")
    after, nonces_after = await _snapshot(world)
    assert after == before
    assert nonces_before <= nonces_after <= nonces_before + (1 if may_spend_nonce else 0)


def _sign(key, protected_text: str, payload: bytes) -> dict:
    p64, s64 = b64(protected_text.encode("utf-8", "surrogatepass")), b64(payload)
    return {"protected": p64, "payload": s64, "signature": b64(jws.josepy.ES256.sign(key, f"{p64}.{s64}".encode()))}


def _header_text(members: dict[str, str]) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in members.items()) + "}"


# --- 1. the body itself --------------------------------------------------------------------------------------------

_b64ish = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. ", max_size=40)
_member = st.one_of(_b64ish.map(json.dumps), hostile_json)


@st.composite
def mutated_bodies(draw, valid: bytes) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "object", "flip"]))
    if kind == "bytes":
        return draw(st.binary(max_size=512))
    if kind == "json":
        return draw(hostile_json).encode("utf-8", "surrogatepass")
    if kind == "object":
        names = draw(st.lists(st.sampled_from(["protected", "payload", "signature", "header", "signatures", "x"]),
                              max_size=5))
        return ("{" + ", ".join(f'"{n}": {draw(_member)}' for n in names) + "}").encode("utf-8", "surrogatepass")
    data = bytearray(valid)  # a valid request with some bytes changed, dropped or added
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["set", "del", "ins"]))
        if op == "set":
            data[at] = draw(st.integers(0, 255))
        elif op == "del":
            del data[at]
        else:
            data.insert(at, draw(st.integers(0, 255)))
    try:  # whitespace between tokens, or a signature's unused trailing bits, can leave the request as it was
        same = jws.parse_flattened(bytes(data)) == jws.parse_flattened(valid)
    except jws.problems.AcmeProblem:
        same = False
    assume(not same)
    return bytes(data)


@FUZZ
@given(data=st.data())
async def test_fuzz_mutated_jws_bodies(sqlite_world, data):
    world = sqlite_world
    if not hasattr(world, "fuzz"):
        world.fuzz = await _setup(world)
    acme, order_url = world.fuzz
    valid = json.dumps(acme.sign(order_url, None, await acme.nonce())).encode()
    body = data.draw(mutated_bodies(valid))
    content_type = data.draw(st.sampled_from([JOSE, JOSE, JOSE, "application/json", "text/plain", ""]))
    # A byte flip in the payload's base64 can leave JSON and signature intact only by forging ES256: never.
    await _check(world, acme, order_url, body, content_type=content_type or JOSE, may_spend_nonce=False)


# --- 2. one protected-header member replaced, then signed properly -------------------------------------------------


@FUZZ
@given(data=st.data())
async def test_fuzz_protected_header_members(sqlite_world, data):
    world = sqlite_world
    if not hasattr(world, "fuzz"):
        world.fuzz = await _setup(world)
    acme, order_url = world.fuzz
    url, payload = order_url, b""
    members = {"alg": '"ES256"', "nonce": json.dumps(await acme.nonce()), "url": json.dumps(url),
               "kid": json.dumps(acme.kid)}
    name = data.draw(st.sampled_from(["alg", "nonce", "url", "kid", "jwk", "crit", "unknown"]))
    if name == "jwk":  # newAccount's embedded key, one of its members replaced by any JSON
        url, payload = acme.directory["newAccount"], b'{"termsOfServiceAgreed": true}'
        jwk = {k: json.dumps(v) for k, v in acme.jwk.public_key().to_partial_json().items()}
        field = data.draw(st.sampled_from(sorted(jwk)))
        jwk[field] = data.draw(hostile_json)
        assume(jwk[field] != json.dumps(acme.jwk.public_key().to_partial_json()[field]))
        members.update(url=json.dumps(url), jwk=_header_text(jwk))
        del members["kid"]
    elif name == "unknown":  # members nobody reads are ignored (RFC 7515 §4), but must still be JSON we accept
        members[data.draw(_strings.filter(lambda n: n not in members and n not in ("jwk", "crit")))] = data.draw(
            refused_json)
    elif data.draw(st.booleans()) and name in members:
        del members[name]
    else:
        members[name] = data.draw(hostile_json)
        assume(members[name] != {"alg": '"ES256"'}.get(name))
    body = json.dumps(_sign(acme.key, _header_text(members), payload)).encode()
    await _check(world, acme, url, body, may_spend_nonce=False)


# --- 3. hostile payloads, signed properly --------------------------------------------------------------------------


@st.composite
def bad_identifiers(draw) -> str:
    """newOrder identifiers that newOrder must refuse: hostile JSON, or strings the predicates call malformed."""
    if draw(st.booleans()):
        return draw(hostile_json)
    kind = draw(st.sampled_from(["dns", "ip"]))
    value = draw(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("-.*_ :%"), min_size=1,
                         max_size=80))
    problem = ids.dns_name_problem(value.lower()) if kind == "dns" else ids.ip_problem(value)
    assume(problem is not None)
    return "[" + json.dumps({"type": kind, "value": value}) + "]"


@FUZZ
@given(data=st.data())
async def test_fuzz_payloads(sqlite_world, data):
    world = sqlite_world
    if not hasattr(world, "fuzz"):
        world.fuzz = await _setup(world)
    acme, order_url = world.fuzz
    target = data.draw(st.sampled_from(["order", "new-order", "account"]))
    if target == "order":  # an order is read with POST-as-GET: any payload at all is refused
        url, payload = order_url, data.draw(hostile_json | _values.map(json.dumps))
    elif target == "new-order":
        url = acme.directory["newOrder"]
        payload = '{"identifiers": ' + data.draw(bad_identifiers()) + "}"
    else:  # an account update whose members have hostile values
        url = acme.kid
        member = data.draw(st.sampled_from(["contact", "status"]))
        value = data.draw(hostile_json)
        assume(value not in ("[]", '"deactivated"'))  # the two changes that are allowed
        payload = "{" + json.dumps(member) + ": " + value + "}"
    protected = _header_text({"alg": '"ES256"', "nonce": json.dumps(await acme.nonce()), "url": json.dumps(url),
                              "kid": json.dumps(acme.kid)})
    body = json.dumps(_sign(acme.key, protected, payload.encode("utf-8", "surrogatepass"))).encode()
    await _check(world, acme, url, body, may_spend_nonce=True)


# --- 4. the CSR inside a properly signed finalize ------------------------------------------------------------------


@st.composite
def mutated_csrs(draw, valid: bytes) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(min_size=1, max_size=300))
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["set", "del", "ins"]))
        if op == "set":
            data[at] = draw(st.integers(0, 255))
        elif op == "del":
            del data[at]
        else:
            data.insert(at, draw(st.integers(0, 255)))
    assume(bytes(data) != valid)
    return bytes(data)


@FUZZ
@given(data=st.data())
async def test_fuzz_finalize_csr(sqlite_world, data):
    """Before the fix 5% of one-byte changes to a CSR (a corrupt key, an unknown curve, a bad version) were a 500."""
    world = sqlite_world
    name = "csr-fuzz.example.test"
    if not hasattr(world, "csr_fuzz"):
        acme, _ = await _setup(world)
        reply = await acme.new_order(name)
        await acme.authorize(reply.json, world.http01)
        world.csr_fuzz = [acme, make_csr([name], ec_key())]
    acme, valid = world.csr_fuzz
    reply = await acme.new_order(name)  # the valid authorization is reused: ready at once
    assert reply.json["status"] == "ready", reply.json
    order_url, finalize_url = reply.headers["Location"], reply.json["finalize"]
    certificates_before = await _count_certificates(world)
    csr = data.draw(mutated_csrs(valid))
    body = json.dumps(acme.sign(finalize_url, {"csr": b64(csr)}, await acme.nonce())).encode()
    await _check_finalize(world, acme, finalize_url, body)
    assert (await acme.ok(order_url)).json["status"] in ("ready", "invalid")  # never stuck in processing
    assert await _count_certificates(world) == certificates_before


async def _count_certificates(world) -> int:
    async with world.gateway.db.transaction(readonly=True) as tx:
        return int((await tx.connection.execute(select(func.count()).select_from(certificates))).scalar())


async def _check_finalize(world, acme, url: str, body: bytes) -> None:
    """A 4xx problem document (finalize and revokeCert may spend the request's nonce, and change what is checked)."""
    r = await acme.http.post(acme.path(url), data=body, headers={"Content-Type": JOSE})
    text = await r.read()
    assert 400 <= r.status < 500, (r.status, text[:300])
    problem = json.loads(text)
    assert problem["type"].startswith("urn:ietf:params:acme:error:") and problem["status"] == r.status


# --- 5. the certificate inside a properly signed revokeCert ---------------------------------------------------------


@FUZZ
@given(data=st.data())
async def test_fuzz_revoke_cert(sqlite_world, data):
    """A changed byte in the certificate (a version of 7 was a 500 before the fix) never revokes anything."""
    world = sqlite_world
    if not hasattr(world, "revoke_fuzz"):
        acme, _ = await _setup(world)
        _, _, pem = await acme.issue("revoke-fuzz.example.test", http01=world.http01)
        world.revoke_fuzz = [acme, x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)]
    acme, valid = world.revoke_fuzz
    der = data.draw(mutated_csrs(valid))  # the same mutations: bytes changed, dropped, added, or random bytes
    url = acme.directory["revokeCert"]
    before = await _count_revoked(world)
    body = json.dumps(acme.sign(url, {"certificate": b64(der)}, await acme.nonce())).encode()
    await _check_finalize(world, acme, url, body)
    assert await _count_revoked(world) == before


async def _count_revoked(world) -> int:
    async with world.gateway.db.transaction(readonly=True) as tx:
        query = select(func.count()).select_from(certificates).where(certificates.c.revoked_at.is_not(None))
        return int((await tx.connection.execute(query)).scalar())
