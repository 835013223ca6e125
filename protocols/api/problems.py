"""RFC 9457 problem documents: the one mapping from the gateway's errors to the JSON API's wire form.

Every ErrorKind has exactly one entry in `PROBLEMS` (a test walks the enum). Requests that are well-formed JSON
but whose content the gateway will not certify (a name the policy refuses, a CSR that does not verify, a weak key)
get 422 Unprocessable Content, RFC 9110 §15.5.21: the client must change the content, not the syntax. Syntax and
field-type errors stay 400 (MALFORMED). Internal errors reach the client as a bare "internal error": their text may
hold paths, SQL or key material (Boulder's web/probs.go).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from enrollment_gateway.errors import ErrorKind, GatewayError

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:enrollment-gateway:problem:"


@dataclass(frozen=True)
class ProblemType:
    status: int
    title: str


PROBLEMS: dict[ErrorKind, ProblemType] = {
    ErrorKind.MALFORMED: ProblemType(400, "Malformed request"),
    ErrorKind.UNAUTHENTICATED: ProblemType(401, "Authentication required"),
    ErrorKind.FORBIDDEN: ProblemType(403, "Forbidden"),
    ErrorKind.NOT_FOUND: ProblemType(404, "Not found"),
    ErrorKind.CONFLICT: ProblemType(409, "Conflict"),
    ErrorKind.REJECTED_IDENTIFIER: ProblemType(422, "Identifier rejected by policy"),
    ErrorKind.POLICY_VIOLATION: ProblemType(422, "Request violates the policy"),
    ErrorKind.BAD_CSR: ProblemType(422, "Bad certificate signing request"),
    ErrorKind.BAD_PUBLIC_KEY: ProblemType(422, "Public key not acceptable"),
    ErrorKind.BAD_SIGNATURE_ALGORITHM: ProblemType(422, "Signature algorithm not acceptable"),
    ErrorKind.ALREADY_REVOKED: ProblemType(409, "Certificate already revoked"),
    ErrorKind.BAD_REVOCATION_REASON: ProblemType(400, "Revocation reason not acceptable"),
    ErrorKind.RATE_LIMITED: ProblemType(429, "Too many requests"),
    ErrorKind.TOO_LARGE: ProblemType(413, "Request body too large"),
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: ProblemType(415, "Unsupported media type"),
    ErrorKind.UNAVAILABLE: ProblemType(503, "Service unavailable"),
    ErrorKind.INTERNAL: ProblemType(500, "Internal error"),
}

# aiohttp's own exceptions (unknown route, wrong method, ...) by status, so they read like ours.
_HTTP_KINDS = {p.status: kind for kind, p in reversed(PROBLEMS.items())}


def problem_type(kind: ErrorKind | str) -> str:
    return TYPE_PREFIX + (kind.value if isinstance(kind, ErrorKind) else kind)


def problem_response(
    status: int, type_: str, title: str, detail: str, *, extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if extra:
        body.update(extra)
    return web.Response(status=status, text=json.dumps(body), content_type=CONTENT_TYPE, headers=headers)


def from_gateway_error(err: GatewayError) -> web.Response:
    """The problem document for a core refusal, with every violation listed and the headers its kind needs."""
    p = PROBLEMS[err.kind]
    headers: dict[str, str] = {}
    if err.kind is ErrorKind.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = 'Bearer realm="enrollment-gateway"'  # RFC 6750 §3
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(0, int(err.retry_after)))
    elif err.kind in (ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE):
        headers["Retry-After"] = "1"
    extra: dict[str, Any] = {"violations": [v.to_json() for v in err.subproblems]}
    return problem_response(p.status, problem_type(err.kind), p.title, err.public_detail, extra=extra,
                            headers=headers)


def from_http_exception(exc: web.HTTPException) -> web.Response:
    """aiohttp's HTTPNotFound, HTTPMethodNotAllowed, HTTPRequestEntityTooLarge, ... as problem documents."""
    kind = _HTTP_KINDS.get(exc.status)
    headers = {}
    if exc.status == 405:
        headers["Allow"] = exc.headers.get("Allow", "")
        type_, title, detail = problem_type("method_not_allowed"), "Method not allowed", "method not allowed here"
    elif kind is not None:
        type_, title = problem_type(kind), PROBLEMS[kind].title
        detail = {404: "no such resource"}.get(exc.status, exc.reason)
    else:
        type_, title, detail = "about:blank", exc.reason, exc.reason
    if kind is ErrorKind.INTERNAL:
        detail = "internal error"
    return problem_response(exc.status, type_, title, detail, extra={"violations": []}, headers=headers)


def internal_error() -> web.Response:
    p = PROBLEMS[ErrorKind.INTERNAL]
    return problem_response(p.status, problem_type(ErrorKind.INTERNAL), p.title, "internal error",
                            extra={"violations": []})
