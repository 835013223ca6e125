"""SCEP settings and one-time challenges of an endpoint (RFC 8894 §2.3), managed by the application's admins.

The static challenge is write-only (never read back); a one-time challenge is shown once, at creation.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from enrollment_gateway.core.scep_challenges import MAX_ONE_TIME_TTL, MODES, ScepChallenges
from enrollment_gateway.storage.repositories.scep import ScepSettings

from .wire import actor, gateway, json_response, read_json, route_path

_BASE = "/applications/{id}/endpoints/{endpoint_id}"


def _challenges(request: web.Request) -> ScepChallenges:
    return gateway(request).scep.challenges


def _settings(s: ScepSettings | None, endpoint_id: str) -> dict:
    if s is None:
        return {"endpoint_id": endpoint_id, "challenge_mode": None, "webhook_url": None, "include_root": False,
                "updated_at": None, "updated_by": None}
    return {"endpoint_id": s.endpoint_id, "challenge_mode": s.challenge_mode, "webhook_url": s.webhook_url,
            "include_root": s.include_root, "updated_at": s.updated_at.isoformat(), "updated_by": s.updated_by}


async def put_settings(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("challenge_mode", "static_challenge", "webhook_url", "include_root")
    mode = body.str("challenge_mode", required=True, max_len=16)
    if mode not in MODES:
        raise body._bad("challenge_mode", f"one of {', '.join(MODES)}")  # noqa: SLF001
    settings = await _challenges(request).configure(
        actor(request), request.match_info["id"], request.match_info["endpoint_id"], mode=mode,
        static_challenge=body.str("static_challenge", max_len=255), webhook_url=body.str("webhook_url", max_len=2048),
        include_root=bool(body.bool("include_root", default=False)))
    return json_response(_settings(settings, request.match_info["endpoint_id"]))


async def get_settings(request: web.Request) -> web.Response:
    settings = await _challenges(request).settings(actor(request), request.match_info["id"],
                                                   request.match_info["endpoint_id"])
    return json_response(_settings(settings, request.match_info["endpoint_id"]))


async def mint_challenge(request: web.Request) -> web.Response:
    body = (await read_json(request, allow_empty=True)).only("ttl")
    ttl = body.duration("ttl") or 3600
    if ttl > MAX_ONE_TIME_TTL.total_seconds():
        raise body._bad("ttl", "at most 30 days")  # noqa: SLF001
    minted = await _challenges(request).mint(actor(request), request.match_info["id"],
                                             request.match_info["endpoint_id"], dt.timedelta(seconds=ttl))
    return json_response({"challenge": minted.challenge, "expires_at": minted.expires_at.isoformat()}, 201)


ROUTES = (
    web.put(route_path(_BASE + "/scep"), put_settings),
    web.get(route_path(_BASE + "/scep"), get_settings),
    web.post(route_path(_BASE + "/scep-challenges"), mint_challenge),
)
