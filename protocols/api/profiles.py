"""Profiles: issuer, policy, defaults, enrollment methods and approval, bundled for applications to attach."""

from __future__ import annotations

import re

from dataclasses import replace
from typing import Any

from aiohttp import web

from enrollment_gateway.algorithms import EXTENDED_KEY_USAGES, KEY_USAGES, HashAlgorithm, KeyAlgorithm
from enrollment_gateway.core.access import require_superadmin
from enrollment_gateway.domain import ProfileDefaults
from enrollment_gateway.errors import malformed
from enrollment_gateway.policy import PRESETS, preset_defaults

from . import serialize
from .wire import Body, actor, gateway, json_response, no_content, read_json, route_path

_FIELDS = ("name", "description", "ca_id", "policy_id", "defaults", "preset", "enrollment", "approval_required",
           "auto_renew", "renew_before_days")


def _defaults(body: Body, base: ProfileDefaults) -> ProfileDefaults:
    """`base` with the fields the client gave; `preset` (on create) supplies the preset's own defaults first."""
    d = body.obj("defaults")
    if d is None:
        return base
    d.only("ttl", "key_algorithm", "hash_algorithm", "key_usages", "extended_key_usages", "is_ca",
           "certificate_policies", "not_after_behavior")
    changes: dict[str, Any] = {}
    if d.has("ttl"):
        changes["ttl_seconds"] = d.duration("ttl")
    if d.has("key_algorithm"):
        changes["key_algorithm"] = d.enum("key_algorithm", KeyAlgorithm)
    if d.given("hash_algorithm"):
        changes["hash_algorithm"] = d.enum("hash_algorithm", HashAlgorithm)  # null: match the CA key
    if d.has("key_usages"):
        changes["key_usages"] = tuple(d.str_list("key_usages", choices=KEY_USAGES))
    if d.has("extended_key_usages"):
        changes["extended_key_usages"] = tuple(
            d.str_list("extended_key_usages", choices=tuple(EXTENDED_KEY_USAGES)))
    if d.has("is_ca"):
        changes["is_ca"] = d.bool("is_ca")
    if d.has("certificate_policies"):
        oids = tuple(d.str_list("certificate_policies"))
        if not all(re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", oid) for oid in oids):
            raise malformed("defaults.certificate_policies: each entry must be a dotted OID")
        changes["certificate_policies"] = oids
    if d.has("not_after_behavior"):
        changes["not_after_behavior"] = d.str("not_after_behavior")  # the core checks the value
    return replace(base, **changes)


# Every setting each enrollment method takes: name -> (JSON type, description). The API refuses any other, so a typo
# (`eab_requird`) is an error rather than a silently ignored setting, and openapi.py describes exactly these. A front
# end that reads a new setting adds it here.
ENABLED = ("boolean", "false switches the method off while keeping its settings; absent: on")
ENROLLMENT_SETTINGS: dict[str, dict[str, tuple[str, str]]] = {
    "api": {"enabled": ENABLED},
    "acme": {"enabled": ENABLED,
             "eab_required": ("boolean", "new accounts must bind an External Account Binding key (RFC 8555 "
                                         "§7.3.4); absent: false"),
             "include_root": ("boolean", "certificate chains end with the self-signed root; absent: false, the "
                                         "root is left out as public ACME CAs do")},
    "est": {"enabled": ENABLED},
    "scep": {"enabled": ENABLED},
}
_JSON_TYPES = {"boolean": bool}


def _enrollment(body: Body) -> dict[str, dict[str, Any]] | None:
    """{"api": {}, "acme": {"eab_required": true}, ...}: a method is enabled by being present."""
    value = body.raw("enrollment")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise malformed("field 'enrollment': expected an object of method name -> settings object")
    for method, settings in value.items():
        known = ENROLLMENT_SETTINGS.get(method)
        if known is None:
            raise malformed(f"field 'enrollment.{method}': unknown method (expected: {', '.join(ENROLLMENT_SETTINGS)})")
        for name, setting in settings.items():
            if name not in known:
                raise malformed(f"field 'enrollment.{method}.{name}': unknown setting (expected: {', '.join(known)})")
            if not isinstance(setting, _JSON_TYPES[known[name][0]]):
                raise malformed(f"field 'enrollment.{method}.{name}': expected a {known[name][0]}")
    return value


async def list_profiles(request: web.Request) -> web.Response:
    require_superadmin(actor(request))
    return json_response({"items": [serialize.profile(p) for p in await gateway(request).catalog.list_profiles()]})


async def get_profile(request: web.Request) -> web.Response:
    require_superadmin(actor(request))
    return json_response(serialize.profile(await gateway(request).catalog.get_profile(request.match_info["id"])))


async def create_profile(request: web.Request) -> web.Response:
    body = (await read_json(request)).only(*_FIELDS)
    base = ProfileDefaults()
    if body.has("preset"):
        name = body.str("preset")
        if name not in PRESETS:
            raise malformed(f"field 'preset': unknown preset {name!r} (known: {', '.join(PRESETS)})")
        base = ProfileDefaults(**dict(preset_defaults(name)))
    created = await gateway(request).catalog.create_profile(
        actor(request),
        name=body.str("name", required=True, max_len=200, allow_empty=False),
        ca_id=body.str("ca_id"),
        policy_id=body.str("policy_id", required=True),
        defaults=_defaults(body, base),
        enrollment=_enrollment(body) or {"api": {}},
        approval_required=body.bool("approval_required", default=False),
        auto_renew=body.bool("auto_renew", default=False),
        renew_before_days=body.int("renew_before_days", default=30, minimum=0, maximum=3650),
        description=body.str("description", default="", max_len=2000),
    )
    return json_response(serialize.profile(created), status=201)


async def update_profile(request: web.Request) -> web.Response:
    who, catalog = actor(request), gateway(request).catalog
    require_superadmin(who)
    body = (await read_json(request)).only(*(f for f in _FIELDS if f != "preset"))
    current = await catalog.get_profile(request.match_info["id"])
    changes: dict[str, Any] = {}
    for key in ("name", "description", "policy_id"):
        if body.has(key):
            changes[key] = body.str(key, max_len=2000, allow_empty=key == "description")
    if body.given("ca_id"):
        changes["ca_id"] = body.str("ca_id")  # null: self-signed
    if body.has("defaults"):
        changes["defaults"] = _defaults(body, current.defaults)
    if body.has("enrollment"):
        changes["enrollment"] = _enrollment(body)
    for key in ("approval_required", "auto_renew"):
        if body.has(key):
            changes[key] = body.bool(key)
    if body.has("renew_before_days"):
        changes["renew_before_days"] = body.int("renew_before_days", minimum=0, maximum=3650)
    updated = await catalog.update_profile(who, current.id, **changes)
    return json_response(serialize.profile(updated))


async def delete_profile(request: web.Request) -> web.Response:
    await gateway(request).catalog.delete_profile(actor(request), request.match_info["id"])
    return no_content()


ROUTES = (
    web.get("/profiles", list_profiles),
    web.post("/profiles", create_profile),
    web.get(route_path("/profiles/{id}"), get_profile),
    web.patch(route_path("/profiles/{id}"), update_profile),
    web.delete(route_path("/profiles/{id}"), delete_profile),
)
