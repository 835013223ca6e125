"""The aiohttp application factory: one app, served on an HTTPS and a plain-HTTP listener."""

from __future__ import annotations

from typing import AsyncIterator, Callable

from aiohttp import web

from ..appkeys import GATEWAY
from ..config import Config
from ..core.gateway import Gateway
from .logs import request_log

# Relying parties and SCEP clients fetch these over plain HTTP (RFC 5280 §4.2.1.13 CDPs are usually http: a CRL
# behind TLS would need revocation checking of its own); everything else is HTTPS only.
PLAIN_HTTP_PREFIXES = ("/healthz", "/ca/", "/crl/", "/ocsp", "/scep/")  # "/ocsp": POST /ocsp too

# Front ends mount themselves through these hooks, so the factory does not import every protocol eagerly.
Mounter = Callable[[web.Application, Gateway], None]


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@web.middleware
async def plain_http_guard(request: web.Request, handler):
    if not request.secure and not request.path.startswith(PLAIN_HTTP_PREFIXES):
        raise web.HTTPNotFound(text="this listener serves CRLs, OCSP, CA certificates and SCEP only; use HTTPS\n")
    return await handler(request)


def create_app(config: Config, *, gateway: Gateway | None = None, plain_http_guard_enabled: bool = True) -> web.Application:
    """The gateway's application. Without `gateway`, one is opened on start-up and closed on clean-up."""
    middlewares = [request_log] if config.logging.access_log else []
    if plain_http_guard_enabled:
        middlewares.append(plain_http_guard)
    app = web.Application(middlewares=middlewares, client_max_size=config.server.max_body_bytes)

    async def gateway_ctx(app: web.Application) -> AsyncIterator[None]:
        opened = gateway is None
        app[GATEWAY] = gateway if gateway is not None else await Gateway.open(config)
        yield
        if opened:
            await app[GATEWAY].close()

    app.cleanup_ctx.append(gateway_ctx)
    app.router.add_get("/healthz", healthz)
    for mount in _mounters():
        mount(app)
    return app


def _mounters() -> list[Callable[[web.Application], None]]:
    from protocols.api import mount as mount_api

    mounters = [mount_api]
    for module in ("protocols.acme.routes", "protocols.est", "protocols.scep", "protocols.pki"):
        try:
            imported = __import__(module, fromlist=["mount"])
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that front end has not landed yet
            raise
        mounters.append(imported.mount)
    return mounters
