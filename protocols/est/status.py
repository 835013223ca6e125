"""The one mapping from the gateway's errors to EST answers: an HTTP status and a plain-text reason.

RFC 7030 §4.2.3 leaves the body of a refusal free; we send text/plain naming the reason and, for a policy
refusal, every violation on its own line. Every ErrorKind has exactly one entry (a test walks the enum).
Content the policy will not certify is 403 (the device must change what it asks for, RFC 7030 §4.2.3 "rejected");
syntax errors, bad CSRs and failed proof-of-possession are 400. Internal errors reach the device as "internal
error" only: their text may hold paths, SQL or key material.
"""

from __future__ import annotations

from aiohttp import web

from enrollment_gateway.errors import ErrorKind, GatewayError

STATUS: dict[ErrorKind, int] = {
    ErrorKind.MALFORMED: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.REJECTED_IDENTIFIER: 403,
    ErrorKind.POLICY_VIOLATION: 403,
    ErrorKind.BAD_CSR: 400,
    ErrorKind.BAD_PUBLIC_KEY: 403,
    ErrorKind.BAD_SIGNATURE_ALGORITHM: 403,
    ErrorKind.ALREADY_REVOKED: 409,
    ErrorKind.BAD_REVOCATION_REASON: 400,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    body = text if not text or text.endswith("\n") else text + "\n"
    return web.Response(status=status, text=body, content_type="text/plain", charset="utf-8", headers=headers)


def from_gateway_error(err: GatewayError, *, basic_realm: str | None = None) -> web.Response:
    """The EST answer for a refusal; a 401 challenges for Basic when the endpoint accepts it (RFC 7030 §3.2.3)."""
    status = STATUS[err.kind]
    lines = [err.public_detail, *(f"- {v.message}" for v in err.subproblems)]
    headers: dict[str, str] = {}
    if status == 401 and basic_realm:
        headers["WWW-Authenticate"] = f'Basic realm="{basic_realm}"'
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(err.retry_after)))
    elif status in (429, 503):
        headers["Retry-After"] = "1"
    return text_response(status, "\n".join(lines), headers)


def basic_challenge(realm: str) -> web.Response:
    """RFC 7030 §3.2.3, RFC 7617: the first 401 that makes a client send its password; empty, as clients expect."""
    return web.Response(status=401, body=b"", headers={"WWW-Authenticate": f'Basic realm="{realm}"'})
