"""The EST server (RFC 7030, RFC 8951, RFC 9908) as an aiohttp sub-application at /.well-known/est.

    /.well-known/est/<label>/{cacerts,csrattrs,simpleenroll,simplereenroll,serverkeygen,fullcmc}
    /.well-known/est/<operation>          (the configured default label, est.default_endpoint)

A translator like protocols/acme: base64 DER in, one request to the core (core/est_enrollment.py around the one
issuance entry point), certs-only CMS out. Devices authenticate with HTTP Basic or a TLS client certificate, per
endpoint (core/est_credentials.py); the HTTPS listener asks every client for a certificate without requiring one
(server/listener_tls.py). Every refusal is text/plain with the status `status.py` maps the core's error to.
"""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from aiohttp import web

from enrollment_gateway.appkeys import GATEWAY
from enrollment_gateway.core.est_enrollment import EstEnrollment
from enrollment_gateway.errors import ErrorKind, GatewayError

from . import csrattrs, enroll, serverkeygen, status
from .auth import NeedsCredentials
from .labels import LABEL, REALM
from .wire import EST, EstState

log = logging.getLogger("enrollment_gateway.est")

PREFIX = "/.well-known/est"
_LABEL = "/{label:%s}" % LABEL.pattern

_OPERATIONS = (
    ("GET", "cacerts", enroll.cacerts),
    ("GET", "csrattrs", csrattrs.csrattrs),
    ("POST", "simpleenroll", enroll.simpleenroll),
    ("POST", "simplereenroll", enroll.simplereenroll),
    ("POST", "serverkeygen", serverkeygen.serverkeygen),
    ("POST", "fullcmc", enroll.fullcmc),
)


@web.middleware
async def est_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Every failure leaves as text/plain with its EST status; a 401 challenges for Basic where it is accepted."""
    try:
        return await handler(request)
    except NeedsCredentials:
        return status.basic_challenge(request[REALM])
    except GatewayError as err:
        if err.kind is ErrorKind.INTERNAL:
            log.error("internal error in %s %s: %s", request.method, request.path, err.detail)
        return status.from_gateway_error(err, basic_realm=request.get(REALM))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        text = {404: "no such EST operation (RFC 7030 §3.2.2: cacerts, csrattrs, simpleenroll, simplereenroll, "
                     "serverkeygen, fullcmc)",
                405: f"{request.method} is not allowed here", 413: "the body is too large"}.get(exc.status,
                                                                                              exc.reason)
        headers = {"Allow": exc.headers["Allow"]} if exc.status == 405 and "Allow" in exc.headers else None
        return status.text_response(exc.status, text, headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return status.text_response(500, "internal error")


def create_est_app() -> web.Application:
    app = web.Application(middlewares=[est_middleware])
    for method, operation, handler in _OPERATIONS:
        for path in (f"{_LABEL}/{operation}", f"/{operation}"):
            if method == "GET":
                app.router.add_get(path, handler)  # and HEAD
            else:
                app.router.add_route(method, path, handler)
    return app


def mount(app: web.Application) -> None:
    """Serve EST under /.well-known/est of the gateway's application (HTTPS only: see server/app.py)."""

    async def est_ctx(app: web.Application) -> AsyncIterator[None]:
        gateway = app[GATEWAY]
        settings = gateway.config.est
        app[EST] = EstState(settings=settings, credentials=gateway.est,
                            enrollment=EstEnrollment.of(gateway))
        yield

    app.cleanup_ctx.append(est_ctx)
    app.add_subapp(PREFIX, create_est_app())
