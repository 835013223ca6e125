"""Typed aiohttp application keys, declared in one place (aiohttp's recommended AppKey pattern)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .core.gateway import Gateway

GATEWAY: web.AppKey["Gateway"] = web.AppKey("gateway")
