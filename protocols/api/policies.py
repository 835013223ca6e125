"""Policies (rules as `policy.model.PolicyRules.to_json()`), created from scratch or from a preset."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from enrollment_gateway.core.access import require_superadmin
from enrollment_gateway.errors import malformed
from enrollment_gateway.policy import PRESET_DEFAULTS, PRESETS, preset

from . import serialize
from .wire import Body, actor, gateway, json_response, no_content, read_json, route_path


def _rules(body: Body, *, required: bool) -> dict[str, Any] | None:
    """`rules` given outright, or `preset` naming one of policy.presets; not both."""
    if body.has("rules") and body.has("preset"):
        raise malformed("give either 'rules' or 'preset', not both")
    if body.has("preset"):
        name = body.str("preset")
        if name not in PRESETS:
            raise malformed(f"field 'preset': unknown preset {name!r} (known: {', '.join(PRESETS)})")
        return preset(name).to_json()
    if body.has("rules"):
        rules = body.raw("rules")
        if not isinstance(rules, dict):
            raise malformed("field 'rules': expected an object")
        return rules
    if required:
        raise malformed("field 'rules' or 'preset' is required")
    return None


async def list_policies(request: web.Request) -> web.Response:
    require_superadmin(actor(request))
    return json_response({"items": [serialize.policy(p) for p in await gateway(request).catalog.list_policies()]})


async def get_policy(request: web.Request) -> web.Response:
    require_superadmin(actor(request))
    return json_response(serialize.policy(await gateway(request).catalog.get_policy(request.match_info["id"])))


async def create_policy(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("name", "description", "rules", "preset")
    created = await gateway(request).catalog.create_policy(
        actor(request), name=body.str("name", required=True, max_len=200, allow_empty=False),
        rules=_rules(body, required=True), description=body.str("description", default="", max_len=2000),
    )
    return json_response(serialize.policy(created), status=201)


async def update_policy(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("name", "description", "rules", "preset")
    updated = await gateway(request).catalog.update_policy(
        actor(request), request.match_info["id"], rules=_rules(body, required=False),
        description=body.str("description", max_len=2000), name=body.str("name", max_len=200, allow_empty=False),
    )
    return json_response(serialize.policy(updated))


async def delete_policy(request: web.Request) -> web.Response:
    await gateway(request).catalog.delete_policy(actor(request), request.match_info["id"])
    return no_content()


async def list_presets(request: web.Request) -> web.Response:
    """The built-in presets with their rules and the profile defaults that satisfy them."""
    items = []
    for name, rules in PRESETS.items():
        defaults = dict(PRESET_DEFAULTS[name])
        items.append({"name": name, "rules": rules.to_json(),
                      "profile_defaults": {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}})
    return json_response({"items": items})


ROUTES = (
    web.get("/policies", list_policies),
    web.post("/policies", create_policy),
    web.get(route_path("/policies/{id}"), get_policy),
    web.put(route_path("/policies/{id}"), update_policy),
    web.delete(route_path("/policies/{id}"), delete_policy),
    web.get("/policy-presets", list_presets),
)
