"""The API's two middlewares: every failure as a problem document, and bearer-token authentication."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from aiohttp import web

from enrollment_gateway.errors import ErrorKind, GatewayError

from . import problems
from .wire import ACTOR, gateway

log = logging.getLogger("enrollment_gateway.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC = "eg_public"  # attribute set on handlers that need no token (the OpenAPI document)


def public(handler: Handler) -> Handler:
    setattr(handler, PUBLIC, True)
    return handler


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: GatewayError, aiohttp's HTTP errors and anything unexpected leave as application/problem+json."""
    try:
        return await handler(request)
    except GatewayError as err:
        if err.kind is ErrorKind.INTERNAL:
            log.error("internal error in %s %s: %s", request.method, request.path, err.detail)
        return problems.from_gateway_error(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problems.from_http_exception(exc)
    except asyncio.CancelledError:
        raise
    except Exception:
        # The traceback stays in the server log; the client learns only that it was our fault.
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problems.internal_error()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`Authorization: Bearer <token>` -> the core's Actor in request["actor"]; RFC 6750 §2.1."""
    match_info = request.match_info
    if getattr(match_info, "http_exception", None) is not None or getattr(match_info.handler, PUBLIC, False):
        return await handler(request)  # unknown routes answer 404/405 whether or not a token came with them
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if not token.isascii():
        # Our tokens are ASCII. Header bytes that are not UTF-8 reach us as lone surrogates (aiohttp decodes with
        # surrogateescape), which no hash can encode: refuse them as the wrong token they are, not as a 500.
        token = ""
    # An empty token still goes to the core, which audits the failed attempt like any other.
    request[ACTOR] = await gateway(request).applications.authenticate(token)
    return await handler(request)
