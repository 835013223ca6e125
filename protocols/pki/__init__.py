"""The relying parties' front end on plain HTTP: CA certificates, CRLs and OCSP at the URLs stamped into
certificates (core/urls.py): `/ca/{id}.crt`, `/crl/{id}.crl`, `/ocsp/{id}`.

A translator like the other protocols: it reads the gateway from `request.config_dict[GATEWAY]`, asks the core
(`gateway.crls`, `gateway.ocsp`, `gateway.authorities`) and writes bytes with the HTTP caching headers.
"""

from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web

from enrollment_gateway.appkeys import GATEWAY

from . import ca, crl, ocsp

ROUTES = (*ca.ROUTES, *crl.ROUTES, *ocsp.ROUTES)

__all__ = ["mount", "ROUTES"]


async def background_tasks(app: web.Application) -> AsyncIterator[None]:
    """The CRL publisher's task (coalesced rebuilds after revocations, scheduled ones before nextUpdate): started
    once the gateway is open, stopped before it closes, never left running on its own."""
    crls = app[GATEWAY].crls
    await crls.start()
    try:
        yield
    finally:
        await crls.stop()


def mount(app: web.Application) -> None:
    """Add the routes and the background task to the gateway's application (after its gateway_ctx)."""
    app.router.add_routes(ROUTES)
    app.cleanup_ctx.append(background_tasks)
