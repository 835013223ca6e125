"""The admin JSON API: an aiohttp sub-application the server mounts at /api/v1.

A translator only: JSON in, one core call, JSON out. It never builds certificates, evaluates policy or opens a
database session; errors leave as RFC 9457 problem documents (`problems.py`), routes are described in `openapi.py`.
"""

from __future__ import annotations

from aiohttp import web

from enrollment_gateway.appkeys import GATEWAY
from enrollment_gateway.core.gateway import Gateway

from . import acme_eab, applications, audit, cas, certificates, est, openapi, policies, profiles, requests, revocation
from . import scep as scep_admin
from .middleware import auth_middleware, problem_middleware
from .wire import API_PREFIX

# Each module contributes a ROUTES tuple; revocation adds its own module here.
ROUTE_MODULES = (cas, policies, profiles, applications, certificates, requests, audit, revocation, acme_eab, est,
                 scep_admin, openapi)

__all__ = ["API_PREFIX", "create_api_app", "mount"]


def create_api_app(gateway: Gateway | None = None) -> web.Application:
    """The API sub-application. Without `gateway`, handlers find the parent application's (config_dict)."""
    app = web.Application(middlewares=[problem_middleware, auth_middleware])
    if gateway is not None:
        app[GATEWAY] = gateway
    for module in ROUTE_MODULES:
        app.router.add_routes(module.ROUTES)
    return app


def mount(parent: web.Application) -> None:
    """Mount the API under /api/v1 of the gateway's application."""
    parent.add_subapp(API_PREFIX, create_api_app())
