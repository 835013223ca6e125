"""Typed aiohttp application keys, declared in one place (aiohttp's recommended AppKey pattern)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .domain import Actor

if TYPE_CHECKING:
    from .core.gateway import Gateway

GATEWAY: web.AppKey["Gateway"] = web.AppKey("gateway")

# The authenticated actor of a request, set by whichever front end authenticated it; the request log reads it.
ACTOR: web.RequestKey[Actor] = web.RequestKey("actor", Actor)

# Extra fields a handler adds to the request's one log line (e.g. the CRL number served).
LOG_FIELDS: web.RequestKey[dict] = web.RequestKey("log_fields", dict)


def log_fields(request: web.Request) -> dict:
    """The request's extra log fields, made on first use: a handler must work whether or not the access-log
    middleware (optional, `logging.access_log`) runs, so it never reads `request[LOG_FIELDS]` directly."""
    return request.setdefault(LOG_FIELDS, {})
