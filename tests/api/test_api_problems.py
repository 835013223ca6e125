"""Every ErrorKind maps to one problem document; unexpected failures and aiohttp's own errors do too."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from enrollment_gateway.errors import ErrorKind, GatewayError, Violation
from protocols.api import problems
from protocols.api.middleware import problem_middleware

from api_helpers import Api

EXPECTED = {
    ErrorKind.MALFORMED: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.REJECTED_IDENTIFIER: 422,  # well-formed, but content the policy refuses
    ErrorKind.POLICY_VIOLATION: 422,
    ErrorKind.BAD_CSR: 422,
    ErrorKind.BAD_PUBLIC_KEY: 422,
    ErrorKind.BAD_SIGNATURE_ALGORITHM: 422,
    ErrorKind.ALREADY_REVOKED: 409,
    ErrorKind.BAD_REVOCATION_REASON: 400,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}


def test_every_kind_has_a_mapping() -> None:
    assert set(problems.PROBLEMS) == set(ErrorKind) == set(EXPECTED)


def _raising_app(exc: BaseException) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        raise exc

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/x", handler)
    return app


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.value)
async def test_kind_maps_to_problem(aiohttp_client, kind: ErrorKind) -> None:
    violations = (Violation("SAN DNS:evil.com is not allowed by policy", ErrorKind.REJECTED_IDENTIFIER,
                            ("DNS", "evil.com")),)
    err = GatewayError(kind, "secret /etc/path detail", violations, retry_after=7 if kind is ErrorKind.RATE_LIMITED else None)
    client = await aiohttp_client(_raising_app(err))
    resp = await client.get("/x")
    body = await resp.json(content_type=None)
    assert resp.status == EXPECTED[kind]
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert body["status"] == resp.status and body["type"] == f"urn:enrollment-gateway:problem:{kind.value}"
    assert body["title"]
    assert body["violations"] == [{"kind": "rejected_identifier", "message": violations[0].message,
                                   "identifier": {"type": "DNS", "value": "evil.com"}}]
    if kind is ErrorKind.INTERNAL:
        assert body["detail"] == "internal error"
    else:
        assert body["detail"] == "secret /etc/path detail"
    if kind is ErrorKind.UNAUTHENTICATED:
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    if kind is ErrorKind.RATE_LIMITED:
        assert resp.headers["Retry-After"] == "7"


async def test_unexpected_exception_is_a_bare_500(aiohttp_client, caplog) -> None:
    client = await aiohttp_client(_raising_app(RuntimeError("password=hunter2 in /srv/secret")))
    resp = await client.get("/x")
    body = await resp.json(content_type=None)
    assert resp.status == 500 and body["detail"] == "internal error"
    assert "hunter2" not in json.dumps(body)
    assert "hunter2" in caplog.text  # the traceback is in the server log, not the response


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/no-such-route", 404),  # unknown route
    ("PUT", "/applications", 405),  # known route, wrong method
    ("GET", "/certificates/..%2f..%2fetc", 404),  # path traversal never reaches a handler
])
async def test_aiohttp_errors_are_problems(api: Api, method: str, path: str, status: int) -> None:
    reply = await api.call(method, path)
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert reply.json["status"] == status
    if status == 405:
        assert "GET" in reply.headers["Allow"]
