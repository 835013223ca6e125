"""Property-based fuzzing of every JSON body the API reads (issue 7, items 14, 15 and the fuzz requirement).

Each POST/PUT/PATCH route starts from a body it accepts; hypothesis then mutates it (wrong types, 2,000-deep
nesting, integers past int64, lone surrogates and NULs in values and member names, unknown fields, huge strings,
bodies that are not objects or not UTF-8). Whatever comes in, the answer is never a 5xx; a refusal is an
application/problem+json document and leaves every table as it was (the audit trail excepted: refusals are audited
by design). Runs on SQLite and PostgreSQL: PostgreSQL text cannot hold NUL, which SQLite stored without a word,
so a refusal that only one engine makes shows up here.

Beside the property, deterministic cases pin items 14 and 15 on every body route (each string field in turn), and
odd bytes in query parameters, path pieces and the bearer token.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from enrollment_gateway.config import load_config
from enrollment_gateway.core.gateway import Gateway
from protocols.api import create_api_app
from protocols.api.openapi import build_document

from api_helpers import MAX_BODY, Api, Pki, check_against_document, make_app, make_profile

# Tables a refused request may still write: the audit trail records refusals on purpose.
MAY_CHANGE = {"audit_events", "alembic_version"}
DOCUMENT = build_document()  # every answer, refusal or not, must be one the OpenAPI document lists
EXAMPLES = 25  # per route and engine: ~1,300 mutated requests a run, a few seconds each route


@pytest.fixture
async def gateway(tmp_path, database):
    """Overrides conftest's SQLite-only gateway: this test runs on both engines."""
    config = load_config(None, environ={
        "EG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.com",
        "EG_SERVER__PUBLIC_HTTPS_URL": "https://pki.example.com",
        "EG_SERVER__MAX_BODY_BYTES": str(MAX_BODY),
    })
    gw = await Gateway.open(config, database=database)
    yield gw
    await gw.close()  # stops the CRL publisher's tasks before the schema is dropped


@dataclass
class World:
    """Ids the seed bodies and paths refer to."""

    pki: Pki
    cert_id: str
    cert_serial: str
    identity_id: str
    request_id: str


async def _world(api: Api, pki: Pki, needs_request: bool) -> World:
    cert = await api.ok("POST", f"/endpoints/{pki.endpoint_id}/certificates",
                        {"subject": {"CN": "seed.example.com"}, "sans": ["DNS:seed.example.com"]}, status=201)
    identity = await api.ok("POST", "/identities", {"name": "someone"}, status=201)
    request_id = ""
    if needs_request:
        profile = await make_profile(api, "approve", pki.issuing_id, policy_id=pki.policy_id, approval_required=True)
        _, endpoint = await make_app(api, "app-approve", profile["id"])
        pending = await api.ok("POST", f"/endpoints/{endpoint}/certificates",
                               {"subject": {"CN": "p.example.com"}, "sans": ["DNS:p.example.com"]}, status=202)
        request_id = pending["id"]
    return World(pki, cert["id"], cert["serial"], identity["identity"]["id"], request_id)


# (method, path template, seed body) for every route that reads a JSON body; a test below checks none is missing.
ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/cas", {"type": "root", "name": "r2", "subject": {"CN": "R2", "O": "Fuzz"},
                      "key_algorithm": "ECDSA_P256", "validity_days": 30, "path_length": 0}),
    ("PATCH", "/cas/{ca}", {"status": "active"}),
    ("POST", "/cas/{ca}/certificate", {"certificate_pem": "-----BEGIN CERTIFICATE-----\n", "chain_pem": ""}),
    ("POST", "/cas/{ca}/revoke-serial", {"serial": "{serial}", "reason": "superseded",
                                         "invalidity_date": "2025-01-01T00:00:00Z"}),
    ("POST", "/cas/{ca}/revoke", {"reason": "superseded"}),
    ("POST", "/policies", {"name": "p2", "description": "d", "rules": {
        "subject": {"CN": {"allow": ["*.example.com"]}}, "san": {"DNS": {"allow": ["*.example.com"], "deny": []}},
        "key_algorithms": ["ECDSA_P256"], "max_ttl": "30d"}}),
    ("PUT", "/policies/{policy}", {"description": "d2", "preset": "tls_server"}),
    ("POST", "/profiles", {"name": "prof2", "policy_id": "{policy}", "ca_id": "{ca}", "preset": "tls_server",
                           "defaults": {"ttl": "30d", "key_usages": ["digital_signature"]},
                           "enrollment": {"api": {}, "acme": {"eab_required": True}}, "renew_before_days": 5}),
    ("PATCH", "/profiles/{profile}", {"description": "d", "approval_required": False,
                                      "defaults": {"ttl": 86400}, "enrollment": {"api": {}}}),
    ("POST", "/applications", {"name": "app2", "description": "d"}),
    ("PATCH", "/applications/{app}", {"description": "d"}),
    ("POST", "/applications/{app}/endpoints", {"profile_id": "{profile}"}),
    ("POST", "/applications/{app}/endpoints/{endpoint}/acme-eab-keys", {"reusable": True}),
    ("PUT", "/applications/{app}/endpoints/{endpoint}/scep", {"challenge_mode": "static",
                                                            "static_challenge": "fuzz-secret-1", "include_root": True}),
    ("POST", "/applications/{app}/endpoints/{endpoint}/scep-challenges", {"ttl": "10m"}),
    ("PATCH", "/applications/{app}/endpoints/{endpoint}/est", {"auth": "basic", "anchors_pem": "", "reenroll": True,
                                                               "trust_gateway_certificates": True,
                                                               "serverkeygen": False, "proof_of_possession": False}),
    ("POST", "/applications/{app}/endpoints/{endpoint}/est/credentials", {"username": "fuzz-device"}),
    ("POST", "/applications/{app}/members", {"identity_id": "{identity}", "role": "auditor"}),
    ("POST", "/applications/{app}/machine-identities", {"name": "m", "role": "operator", "bypass_approval": False,
                                                        "expires_at": "2099-01-01T00:00:00Z"}),
    ("POST", "/identities", {"name": "u", "kind": "user", "superadmin": False, "application_id": "{app}",
                             "role": "auditor"}),
    ("PATCH", "/identities/{identity}", {"disabled": False}),
    ("POST", "/identities/{identity}/token", {}),
    ("POST", "/endpoints/{endpoint}/certificates", {"subject": {"CN": "f.example.com"},
                                                   "sans": ["DNS:f.example.com"], "key_algorithm": "ECDSA_P256",
                                                   "ttl": "30d", "metadata": {"team": "web"}}),
    ("PATCH", "/certificates/{cert}", {"metadata": {"team": "web", "env": "prod"}}),
    ("POST", "/certificates/{cert}/pkcs12", {"password": "changeit", "alias": "a"}),
    ("POST", "/certificates/{cert}/revoke", {"reason": "certificate_hold"}),
    ("POST", "/certificates/{cert}/release-hold", {}),
    ("POST", "/requests/{request}/approve", {}),
    ("POST", "/requests/{request}/reject", {"reason": "no"}),
]


def _fill(value: Any, world: World) -> Any:
    ids = {"{ca}": world.pki.issuing_id, "{policy}": world.pki.policy_id, "{profile}": world.pki.profile_id,
           "{app}": world.pki.app_id, "{endpoint}": world.pki.endpoint_id, "{cert}": world.cert_id,
           "{serial}": world.cert_serial, "{identity}": world.identity_id, "{request}": world.request_id}
    if isinstance(value, str):
        for key, id_ in ids.items():
            value = value.replace(key, id_)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


# --- mutations -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text spliced in as is (what json.dumps cannot or will not write)."""

    text: str


ODD_TEXT = st.sampled_from([
    "\ud800", "\udfff", "a\udc00b", "\x00", "a\x00b", "\u202e", "\ufeff", "\uffff", "\U0010ffff", "..%2f",
    "\u0085", "DNS:\ud83d", "e\u0301", "\\", '"', "", " ", "A" * 5000,
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20), ODD_TEXT,
    st.sampled_from([Raw("1e400"), Raw("-1e400"), Raw("1" * 400), Raw("-0"), Raw("1e-400"), Raw("0.0"),
                     Raw("[" * 2000 + "]" * 2000), Raw("{\"a\":" * 2000 + "1" + "}" * 2000),
                     Raw("[" * 40 + "]" * 40)]),
)


def _nest(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.lists(inner, max_size=4),
                     st.dictionaries(st.one_of(st.text(max_size=8), ODD_TEXT), inner, max_size=4))


# A named function, not a lambda: hypothesis reads a multi-line lambda's source wrongly and warns it never recurses.
VALUES = st.recursive(SCALARS, _nest, max_leaves=12)
WHOLE_BODIES = st.sampled_from([
    b"", b" ", b"null", b"[]", b'"x"', b"1", b"{", b"{}}", b"\xff\xfe{}", b"\xef\xbb\xbf{}", b'{"a":"\xed\xa0\x80"}',
    b'{"a": NaN}', b'{"a": Infinity}', b"[" * 2000 + b"]" * 2000, b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b'{"\\ud800": 1}', b'{"name": "\\udc00"}', b'{"a":1,"a":2}', b"{\"name\": \"" + b"A" * (MAX_BODY + 10) + b"\"}",
])


def _paths(body: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into the seed body, so mutations reach nested fields (subject.CN, enrollment.acme, ...)."""
    out = []
    if isinstance(body, dict):
        for key, value in body.items():
            out.append((*prefix, key))
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(body, list):
        for i, value in enumerate(body):
            out.append((*prefix, i))
            out.extend(_paths(value, (*prefix, i)))
    return out


@st.composite
def mutated(draw, seed: dict[str, Any]) -> bytes:
    """The seed body with one to three mutations, as the bytes a client would send."""
    if draw(st.integers(0, 9)) == 0:
        return draw(WHOLE_BODIES)
    body = json.loads(json.dumps(seed))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        op = draw(st.sampled_from(["set", "set", "set", "drop", "add"] if paths else ["add"]))
        if op == "add":
            parent_path = draw(st.sampled_from([()] + [p for p in paths if isinstance(_at(body, p), dict)]))
            _at(body, parent_path)[draw(st.one_of(st.text(max_size=8), ODD_TEXT))] = draw(VALUES)
            continue
        path = draw(st.sampled_from(paths))
        parent = _at(body, path[:-1])
        if op == "drop":
            parent.pop(path[-1])
        else:
            parent[path[-1]] = draw(VALUES)
    return _dumps(body).encode("utf-8", "surrogatepass")


def _at(body: Any, path: tuple) -> Any:
    for key in path:
        body = body[key]
    return body


def _dumps(body: Any) -> str:
    """json.dumps with Raw values spliced in; lone surrogates leave as \\ud800 escapes (ensure_ascii)."""
    raws: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"__raw_{len(raws) - 1}__"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    out = json.dumps(swap(body))
    for i, raw in enumerate(raws):
        out = out.replace(f'"__raw_{i}__"', raw, 1)
    return out


# --- the property --------------------------------------------------------------------------------------------------


async def snapshot(gateway: Gateway) -> dict[str, list]:
    """Every row of every table (the audit trail aside), sorted, as comparable text."""
    async with gateway.db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        out = {}
        for name in sorted(set(names) - MAY_CHANGE):
            rows = (await conn.execute(text(f'SELECT * FROM "{name}"'))).all()
            out[name] = sorted(repr(tuple(row)) for row in rows)
    return out


async def check(api: Api, gateway: Gateway, method: str, path: str, raw: bytes) -> None:
    before = await snapshot(gateway)
    reply = await api.call(method, path, raw=raw, content_type="application/json")
    assert reply.status < 500, (method, path, raw[:300], reply)
    check_against_document(DOCUMENT, method, path, reply)
    if reply.status >= 400:
        assert reply.headers["Content-Type"].startswith("application/problem+json"), reply
        problem = reply.json
        assert problem["status"] == reply.status and problem["detail"], reply
        assert await snapshot(gateway) == before, ("refused but changed", method, path, raw[:300], reply)


@pytest.fixture
async def target(api: Api, pki: Pki, route) -> tuple[str, str, dict[str, Any]]:
    """The route's method, concrete path and seed body, with the objects they name created first."""
    method, template, seed = route
    world = await _world(api, pki, "{request}" in template)
    path, seed = _fill(template, world), _fill(seed, world)
    # The seed itself is a body the route accepts (or a refusal of its content, never of its form).
    reply = await api.call(method, path, seed)
    assert reply.status < 500, reply
    return method, path, seed


# Hypothesis runs every example inside one set-up (fixtures are per test, not per example): that is the point,
# each refusal is checked against the state the earlier examples left.
@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_mutated_bodies_never_5xx_and_refusals_change_nothing(api: Api, gateway, target, route, data) -> None:
    method, path, seed = target
    await check(api, gateway, method, path, data.draw(mutated(seed), label="body"))


def _leaves(body: Any, prefix: tuple = ()) -> list[tuple]:
    """Key paths to every string in the seed (the fields a surrogate or NUL can hide in)."""
    return [p for p in _paths(body, prefix) if isinstance(_at(body, p), str)]


def _with(body: Any, path: tuple, value: Any) -> Any:
    copy = json.loads(json.dumps(body))
    _at(copy, path[:-1])[path[-1]] = value
    return copy


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_hostile_json_is_400_on_every_route(api: Api, gateway, target, route) -> None:
    """Items 14 and 15, deterministically: each string field in turn, and the body as a whole."""
    method, path, seed = target
    bodies = [
        b"[" * 2000 + b"]" * 2000,  # RecursionError in the stdlib parser
        _dumps({**seed, "deep": Raw("[" * 2000 + "]" * 2000)}).encode(),
        _dumps({**seed, "\ud800": 1}).encode(),  # a lone surrogate as a member name
        _dumps({**seed, "n": Raw("1" * 5000)}).encode(),  # CPython refuses to convert this many digits
    ]
    for leaf in _leaves(seed):
        bodies.append(_dumps(_with(seed, leaf, "x\ud800y")).encode())
        bodies.append(_dumps(_with(seed, leaf, "x\x00y")).encode())
        bodies.append(_dumps(_with(seed, leaf, Raw("[" * 2000 + "]" * 2000))).encode())
    for raw in bodies:
        before = await snapshot(gateway)
        reply = await api.call(method, path, raw=raw, content_type="application/json")
        assert reply.status == 400, (raw[:200], reply)
        assert reply.headers["Content-Type"].startswith("application/problem+json"), reply
        check_against_document(DOCUMENT, method, path, reply)
        assert await snapshot(gateway) == before


ODD_QUERY = ["%00", "a%00b", "%ED%A0%80", "%FF%FE", "%C0%AF", "..%2F..%2Fetc", "%25", "%F4%90%80%80", "\u202e"]


async def test_odd_bytes_in_query_and_path_are_4xx(api: Api, gateway, pki: Pki) -> None:
    """Every GET route, every query parameter it reads, and path pieces: odd bytes get a 4xx problem, never 500."""
    queries = {"/certificates": ("application_id", "status", "profile_id", "q", "expiring_within_days", "metadata",
                                 "limit", "offset"),
               "/requests": ("application_id", "status", "limit", "offset"),
               "/audit": ("application_id", "actor", "action", "since", "until", "limit", "offset"),
               f"/applications/{pki.app_id}/audit": ("actor", "action", "since", "until", "limit", "offset"),
               f"/cas/{pki.issuing_id}/certificate": ("chain",),
               "/cas": ("x",)}
    for route, params in queries.items():
        for name in params:
            for odd in ODD_QUERY:
                value = f"k={odd}" if name == "metadata" else odd
                reply = await api.call("GET", f"{route}?{name}={value}")
                assert reply.status < 500, (route, name, odd, reply)
                check_against_document(DOCUMENT, "GET", route, reply)
                if reply.status >= 400:
                    assert reply.headers["Content-Type"].startswith("application/problem+json"), reply
        reply = await api.call("GET", f"{route}?%00=1")
        assert reply.status == 400 and reply.json["status"] == 400, reply
    for piece in ("%00", "%FF", "%ED%A0%80", "a%2Fb", "%2e%2e", "\u00e9", "x" * 65, "%F0%9F%92%A9"):
        for template in ("/certificates/{}", "/cas/{}", "/applications/{}/endpoints", "/endpoints/{}/certificates",
                         "/requests/{}", "/policies/{}", "/certificates/{}/pem"):
            method = "POST" if template.startswith("/endpoints") else "GET"
            body = {"subject": {"CN": "a"}} if method == "POST" else None
            reply = await api.call(method, template.format(piece), body)
            # 404; or 405 where ".." folds the path onto another route (/endpoints/../certificates)
            assert reply.status in (404, 405), (template, piece, reply)
            assert reply.headers["Content-Type"].startswith("application/problem+json"), (template, piece, reply)


@pytest.mark.parametrize("header", [
    b"Authorization: Bearer egt_\xff\xfe",  # not UTF-8: aiohttp hands it over as lone surrogates
    b"Authorization: Bearer \xed\xa0\x80",  # a UTF-8-encoded surrogate
    b"Authorization: Bearer egt_\xc3\xa9",  # valid UTF-8, just not a token of ours
    b"Authorization: \xff\xfe egt_x",
])
async def test_odd_bytes_in_the_token_are_401(api: Api, header: bytes) -> None:
    """Raw header bytes no HTTP client library would send: 401 problem, audited, never 500."""
    failed = len((await api.ok("GET", "/audit", params={"action": "auth.failed"}))["items"])
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    try:
        writer.write(b"GET /api/v1/applications HTTP/1.1\r\nHost: gateway\r\n" + header +
                     b"\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 "), answer[:300]
    assert b"application/problem+json" in head and json.loads(body)["status"] == 401
    assert len((await api.ok("GET", "/audit", params={"action": "auth.failed"}))["items"]) == failed + 1


def test_every_body_route_is_fuzzed() -> None:
    """A new POST/PUT/PATCH route must join ROUTES (DELETE and GET read no body)."""
    def shape(path: str) -> str:
        return re.sub(r"\{[^}]*\}", "{}", path)

    served = {(r.method, shape(r.resource.canonical)) for r in create_api_app().router.routes()
              if r.method in ("POST", "PUT", "PATCH")}
    assert served - {(method, shape(path)) for method, path, _ in ROUTES} == set()
