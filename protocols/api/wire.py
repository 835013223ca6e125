"""Reading requests and writing responses: bounded JSON bodies, typed fields, query parameters, path ids.

Every refusal here is a GatewayError whose detail names the offending field, so the problem document tells the
client exactly what to fix.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from typing import Any, Mapping, TypeVar

from aiohttp import web
from multidict import MultiMapping

from enrollment_gateway.appkeys import GATEWAY
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.domain import Actor
from enrollment_gateway.errors import ErrorKind, GatewayError, malformed
from enrollment_gateway.policy import parse_duration
from protocols import bounded_json

E = TypeVar("E", bound=enum.Enum)

# Object ids are uuid hex (endpoints: 16 hex digits). Anything else — "/", "..", "%2e" — fails the route pattern
# and is a 404 before any handler runs.
ID_PATTERN = "[0-9A-Za-z_-]{1,64}"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Where the auth middleware keeps the authenticated Actor (a typed RequestKey on aiohttp >= 3.12).
from enrollment_gateway.appkeys import ACTOR  # noqa: E402  (shared with the request log)
API_PREFIX = "/api/v1"  # where the server mounts this sub-application; used for Location headers


def route_path(template: str) -> str:
    """`/cas/{id}` with every placeholder restricted to ID_PATTERN."""
    return _PLACEHOLDER.sub(lambda m: "{%s:%s}" % (m.group(1), ID_PATTERN), template)


def gateway(request: web.Request) -> Gateway:
    return request.config_dict[GATEWAY]


def actor(request: web.Request) -> Actor:
    return request[ACTOR]


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json", headers=headers)


def no_content() -> web.Response:
    return web.Response(status=204)


# --- bodies --------------------------------------------------------------------------------------------------------


async def read_limited(request: web.Request) -> bytes:
    """The raw body, refused with TOO_LARGE past `server.max_body_bytes` without reading the rest."""
    limit = gateway(request).config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise GatewayError(ErrorKind.TOO_LARGE, f"request body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise GatewayError(ErrorKind.TOO_LARGE, f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, *, allow_empty: bool = False) -> "Body":
    """The request's JSON object. 415 without application/json, 413 when too large, 400 for anything not an object."""
    raw = await read_limited(request)
    if allow_empty and not raw.strip():
        return Body({})
    if request.content_type != "application/json":
        raise GatewayError(ErrorKind.UNSUPPORTED_MEDIA_TYPE, "the request body must be application/json")
    try:
        data = bounded_json.loads(raw)
    except ValueError as exc:
        raise malformed(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise malformed("the request body must be a JSON object")
    refuse_nul(data, "the request body")
    return Body(data)


def refuse_nul(value: Any, where: str) -> None:
    """400 for U+0000 in any string or member name: PostgreSQL text cannot hold it, and no name, metadata value or
    pattern we store means anything with it. Refused on every engine, so SQLite and PostgreSQL answer alike."""
    stack = [value]
    while stack:  # iterative: bounded_json already capped the depth, but this walk needs no stack of its own
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                raise malformed(f"{where} holds a NUL character (U+0000), which no field accepts")
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class Body:
    """A JSON object read field by field. `only()` refuses unknown fields, so typos do not pass silently."""

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self._data, self._path = data, path

    def name(self, key: str) -> str:
        return f"{self._path}{key}"

    def _bad(self, key: str, problem: str) -> GatewayError:
        return malformed(f"field '{self.name(key)}': {problem}")

    def only(self, *allowed: str) -> "Body":
        for key in self._data:
            if key not in allowed:
                raise malformed(f"unknown field '{self.name(key)}' (expected: {', '.join(allowed)})")
        return self

    def has(self, key: str) -> bool:
        return key in self._data and self._data[key] is not None

    def given(self, key: str) -> bool:
        """True when the client sent `key`, even as null (which PATCH reads as "clear this")."""
        return key in self._data

    def raw(self, key: str, default: Any = None) -> Any:
        value = self._data.get(key)
        return default if value is None else value

    def _get(self, key: str, required: bool) -> Any:
        value = self._data.get(key)
        if value is None and required:
            raise self._bad(key, "is required")
        return value

    def str(self, key: str, *, required: bool = False, default: str | None = None, max_len: int = 10_000,
            allow_empty: bool = True) -> str | None:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._bad(key, "expected a string")
        if len(value) > max_len:
            raise self._bad(key, f"longer than {max_len} characters")
        if not allow_empty and not value.strip():
            raise self._bad(key, "must not be empty")
        return value

    def int(self, key: str, *, required: bool = False, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
        value = self._get(key, required)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "expected an integer")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self._bad(key, f"must be between {minimum} and {maximum}")
        return value

    def bool(self, key: str, *, default: bool | None = None) -> bool | None:
        value = self._data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._bad(key, "expected true or false")
        return value

    def enum(self, key: str, enum_type: type[E], *, required: bool = False, default: E | None = None) -> E | None:
        value = self._get(key, required)
        if value is None:
            return default
        try:
            return enum_type(value)
        except ValueError:
            known = ", ".join(str(m.value) for m in enum_type)
            raise self._bad(key, f"unknown value {value!r} (expected one of {known})") from None

    def str_list(self, key: str, *, required: bool = False, choices: tuple[str, ...] | None = None,
                 max_items: int = 1000) -> list[str] | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(key, "expected a list of strings")
        if len(value) > max_items:
            raise self._bad(key, f"at most {max_items} entries")
        if choices is not None:
            for v in value:
                if v not in choices:
                    raise self._bad(key, f"unknown value {v!r} (expected: {', '.join(choices)})")
        return value

    def obj(self, key: str, *, required: bool = False) -> "Body | None":
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, "expected an object")
        return Body(value, f"{self.name(key)}.")

    def str_map(self, key: str, *, required: bool = False) -> dict[str, str] | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._bad(key, "expected an object of string values")
        return dict(value)

    def duration(self, key: str) -> int | None:
        """Seconds, from a number of seconds or a string like "90d", "12h"."""
        value = self._data.get(key)
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise self._bad(key, str(exc)) from None
        if seconds <= 0:
            raise self._bad(key, "must be positive")
        return seconds

    def datetime(self, key: str) -> dt.datetime | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._bad(key, "expected an RFC 3339 timestamp")
        return parse_timestamp(value, self.name(key))

    def subject(self, key: str, *, required: bool = False) -> list[tuple[str, str]] | None:
        """A subject as {"CN": "x", "O": "y"} or as [["CN", "x"], ["OU", "a"], ["OU", "b"]] (order kept)."""
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return [(k, v) for k, v in value.items()]
        if isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in value
        ):
            return [(k, v) for k, v in value]
        raise self._bad(key, 'expected {"CN": "...", ...} or a list of [attribute, value] pairs')


def parse_timestamp(value: str, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise malformed(f"'{name}': not an RFC 3339 timestamp: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        raise malformed(f"'{name}': the timestamp needs a time zone (e.g. 2025-01-01T00:00:00Z)")
    try:
        return parsed.astimezone(dt.timezone.utc)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is past the last datetime once in UTC
        raise malformed(f"'{name}': the timestamp is out of range") from None


# --- query strings -------------------------------------------------------------------------------------------------


class Query:
    """Query parameters, typed; unknown parameters are refused like unknown body fields."""

    def __init__(self, query: MultiMapping[str], *allowed: str) -> None:
        for key, value in query.items():
            if key not in allowed:
                raise malformed(f"unknown query parameter '{key}' (expected: {', '.join(allowed) or 'none'})")
            if "\x00" in value:
                raise malformed(f"query parameter '{key}': holds a NUL character (U+0000)")
        self._q = query

    def str(self, key: str) -> str | None:
        value = self._q.get(key)
        return value if value else None

    def int(self, key: str, *, default: int | None = None, minimum: int = 0, maximum: int = 1 << 31) -> int | None:
        value = self._q.get(key)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise malformed(f"query parameter '{key}': expected an integer") from None
        if not minimum <= number <= maximum:
            raise malformed(f"query parameter '{key}': must be between {minimum} and {maximum}")
        return number

    def bool(self, key: str, *, default: bool) -> bool:
        value = self._q.get(key)
        if not value:
            return default
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise malformed(f"query parameter '{key}': expected true or false")

    def enum(self, key: str, enum_type: type[E]) -> E | None:
        value = self._q.get(key)
        if not value:
            return None
        try:
            return enum_type(value)
        except ValueError:
            known = ", ".join(str(m.value) for m in enum_type)
            raise malformed(f"query parameter '{key}': unknown value {value!r} (expected one of {known})") from None

    def timestamp(self, key: str) -> dt.datetime | None:
        value = self._q.get(key)
        return parse_timestamp(value, key) if value else None

    def pairs(self, key: str) -> tuple[tuple[str, str], ...]:
        """Repeated `key=name=value` parameters (e.g. metadata=env=prod) as (name, value) pairs."""
        out = []
        for item in self._q.getall(key, []):
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise malformed(f"query parameter '{key}': expected name=value, got {item!r}")
            out.append((name, value))
        return tuple(out)
