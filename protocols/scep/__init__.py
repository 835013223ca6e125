"""The SCEP server (RFC 8894) as an aiohttp sub-application at /scep/<endpoint>, one service per endpoint.

Served on the plain-HTTP listener (clients enrol before they trust anything; the envelope protects the
exchange) and on HTTPS. The base URL is what core/urls.py prints (`/scep/<endpoint>/pkiclient.exe`); the bare
`/scep/<endpoint>` and the `/pkiclient.exe` and `/cgi-bin/pkiclient.exe` suffixes clients append answer too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from aiohttp import web

from enrollment_gateway.appkeys import GATEWAY
from enrollment_gateway.errors import ErrorKind, GatewayError

from .operations import SCEP, ScepState, scep
from .rate_limits import ChallengeLimiter

__all__ = ["mount", "create_scep_app", "SCEP", "ScepState"]

log = logging.getLogger("enrollment_gateway.scep")

PREFIX = "/scep"
_EP = "/{endpoint:[0-9A-Za-z_-]{1,64}}"
SUFFIXES = ("", "/pkiclient.exe", "/cgi-bin/pkiclient.exe", "/pkiclient.exe/pkiclient.exe",
            "/pkiclient.exe/cgi-bin/pkiclient.exe")


@web.middleware
async def scep_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Failures before a CertRep can be built: plain text with a 4xx, or 503 when the gateway is unwell."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except GatewayError as err:
        if err.kind is ErrorKind.NOT_FOUND:
            raise web.HTTPNotFound(text="no SCEP service here\n") from None
        log.error("SCEP %s failed: %s", request.query.get("operation"), err)
        raise web.HTTPServiceUnavailable(text="try again later\n", headers={"Retry-After": "30"}) from None
    except Exception:
        log.exception("unhandled error in SCEP %s", request.query.get("operation"))
        raise web.HTTPServiceUnavailable(text="try again later\n", headers={"Retry-After": "30"}) from None


def create_scep_app() -> web.Application:
    app = web.Application(middlewares=[scep_middleware])
    for suffix in SUFFIXES:
        app.router.add_get(_EP + suffix, scep, allow_head=False)
        app.router.add_post(_EP + suffix, scep)
    return app


def mount(app: web.Application) -> None:
    """Serve SCEP under /scep of the gateway's application (both listeners; see server/app.py)."""

    async def scep_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SCEP] = ScepState(service=app[GATEWAY].scep, limiter=ChallengeLimiter())
        yield

    app.cleanup_ctx.append(scep_ctx)
    app.add_subapp(PREFIX, create_scep_app())
