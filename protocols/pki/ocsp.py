"""OCSP over HTTP, RFC 6960 Appendix A and RFC 5019 §5-6.

POST `/ocsp/{id}` with an `application/ocsp-request` body, or GET `/ocsp/{id}/{base64 request}` (URL-encoded or
not). Every answer is HTTP 200 with an OCSPResponse, errors included (malformedRequest, unauthorized…): an OCSP
client reads the status inside, not the HTTP one. Cacheable answers carry Cache-Control max-age, ETag,
Last-Modified and Expires (RFC 5019 §6.2).
"""

from __future__ import annotations

import time

from aiohttp import web

from enrollment_gateway.core.ocsp_responder import MALFORMED, MAX_REQUEST_OCTETS, OCSPAnswer
from enrollment_gateway.revocation.ocsp import OCSPRequestError, decode_get_path

from .http import ID, gateway

OCSP_RESPONSE = "application/ocsp-response"
_NO_STORE = {"Cache-Control": "no-store"}


def _response(answer: OCSPAnswer, request: web.Request) -> web.Response:
    if not answer.cacheable:
        return web.Response(body=answer.body, content_type=OCSP_RESPONSE, headers=_NO_STORE)
    max_age = max(0, int(answer.next_update_ts - time.time()))
    headers = {
        "Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate",
        "ETag": answer.etag,
        "Last-Modified": answer.last_modified,
        "Expires": answer.expires,
    }
    if request.method == "GET" and request.headers.get("If-None-Match") == answer.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=answer.body, content_type=OCSP_RESPONSE, headers=headers)


def _ca_id(value: str | None) -> str | None:
    """None when the URL names no CA (any issuer we hold is answered); a URL naming one we could not hold still
    gets an OCSP answer (unauthorized), never an HTML 404."""
    if value is None:
        return None
    return value if ID.fullmatch(value) else "-"


async def _read_body(request: web.Request) -> bytes | None:
    """The body, or None once it passes MAX_REQUEST_OCTETS (the rest is not read)."""
    if request.content_length is not None:
        # The usual case: a declared, small body is read in one call (the hot path of every POST).
        return await request.read() if request.content_length <= MAX_REQUEST_OCTETS else None
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_REQUEST_OCTETS:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def ocsp_post(request: web.Request) -> web.Response:
    body = await _read_body(request)
    if body is None:
        return _response(MALFORMED, request)
    answer = await gateway(request).ocsp.respond(_ca_id(request.match_info.get("ca_id")), body)
    return _response(answer, request)


async def ocsp_get(request: web.Request) -> web.Response:
    # The raw path: the base64 may hold '/', '+' and '=', percent-encoded or not, which routing would decode.
    raw = request.rel_url.raw_path
    prefix = f"/ocsp/{request.match_info['ca_id']}/"
    try:
        der = decode_get_path(raw[len(prefix):] if raw.startswith(prefix) else "", MAX_REQUEST_OCTETS)
    except OCSPRequestError:
        return _response(MALFORMED, request)
    answer = await gateway(request).ocsp.respond(_ca_id(request.match_info["ca_id"]), der)
    return _response(answer, request)


async def ocsp_malformed(request: web.Request) -> web.Response:
    """Any other method or shape under /ocsp (a GET with no request in it, a PUT…): still an OCSP answer, since
    the client on the other end speaks OCSP and reads the status inside (RFC 6960 §2.3 malformedRequest)."""
    return _response(MALFORMED, request)


ROUTES = (
    web.post("/ocsp", ocsp_post),
    web.post("/ocsp/", ocsp_post),
    web.post("/ocsp/{ca_id}", ocsp_post),
    web.post("/ocsp/{ca_id}/", ocsp_post),
    web.get("/ocsp/{ca_id}/{request:.+}", ocsp_get),
    # Last: whatever the routes above did not take, every method, every depth.
    web.route("*", r"/ocsp{rest:(/.*)?}", ocsp_malformed),
)
