"""Policy rules as data: what a profile may certify, with a strict JSON form.

Every setting has three states, read the same way everywhere: unset (None, or an absent key) allows anything,
set-but-empty forbids everything, and set with values is a whitelist. Loading is strict so that a typo in an
operator's policy is an error naming the key, never a silently wider policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

from ..algorithms import EXTENDED_KEY_USAGES, KEY_USAGES, KeyAlgorithm, SignatureAlgorithm
from ..errors import ErrorKind, GatewayError
from .patterns import check_pattern

__all__ = [
    "ANY_OTHER_ATTRIBUTE",
    "SAN_TYPES",
    "SUBJECT_ATTRIBUTES",
    "FieldRule",
    "PolicyRules",
    "format_duration",
    "parse_duration",
]

# Subject attributes by the short names RFC 4514 and OpenSSL use.
SUBJECT_ATTRIBUTES = ("CN", "O", "OU", "C", "ST", "L", "emailAddress", "serialNumber")
# The `subject` key whose rule governs every attribute the policy does not name (DC, UID, title, ...), so that
# "subject limited to CN" can be said without listing every attribute OID there is.
ANY_OTHER_ATTRIBUTE = "*"
SAN_TYPES = ("DNS", "IP", "email", "URI")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*(\d+)\s*([smhd]?)\s*")


def parse_duration(text: str | int) -> int:
    """Seconds in `90d`, `12h`, `30m`, `45s`, a bare number of seconds, or an int; raises ValueError."""
    if isinstance(text, bool):
        raise ValueError("expected a duration")
    if isinstance(text, int):
        return text
    if not isinstance(text, str):
        raise ValueError("expected a duration")
    m = _DURATION.fullmatch(text)
    if m is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90d, 12h, 30m)")
    return int(m.group(1)) * _UNITS[m.group(2) or "s"]


def format_duration(seconds: int) -> str:
    """`400d` for whole days, else `36h` for whole hours, else `5400s`."""
    for unit in ("d", "h"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class FieldRule:
    """What one subject attribute or SAN type may hold. Deny is checked before allow."""

    allow: tuple[str, ...] | None = None  # None: anything; (): nothing allowed; values: whitelist of patterns
    deny: tuple[str, ...] = ()  # patterns that are always refused (checked first)
    require: tuple[str, ...] | None = None  # None: optional; (): at least one value must be present;
    # values: each pattern must be matched by at least one value

    def to_json(self) -> dict:
        out: dict = {}
        if self.allow is not None:
            out["allow"] = list(self.allow)
        if self.deny:
            out["deny"] = list(self.deny)
        if self.require is not None:
            out["require"] = list(self.require)
        return out

    @classmethod
    def from_json(cls, data: Any, *, kind: str, path: str) -> FieldRule:
        """`kind` is the SAN type or attribute name the patterns are for; `path` prefixes error details."""
        _expect_object(data, path, ("allow", "deny", "require"))
        if kind == ANY_OTHER_ATTRIBUTE and "require" in data:
            raise _malformed(f"{path}.require", "cannot require attributes the policy does not name")

        def patterns(key: str) -> tuple[str, ...] | None:
            if key not in data or (data[key] is None and key != "deny"):
                return None
            values = _expect_list(data[key], f"{path}.{key}")
            for i, value in enumerate(values):
                problem = check_pattern(kind, value)
                if problem is not None:
                    raise _malformed(f"{path}.{key}[{i}]", problem)
            return tuple(values)

        return cls(allow=patterns("allow"), deny=patterns("deny") or (), require=patterns("require"))


@dataclass(frozen=True)
class PolicyRules:
    """A whole policy. Evaluate it with `policy.evaluate`; store it as `to_json()` (see domain.Policy.rules)."""

    subject: Mapping[str, FieldRule] = field(default_factory=dict)  # keys: SUBJECT_ATTRIBUTES or "*"
    san: Mapping[str, FieldRule] = field(default_factory=dict)  # keys: SAN_TYPES; absent = anything
    key_algorithms: tuple[KeyAlgorithm, ...] | None = None
    signature_algorithms: tuple[SignatureAlgorithm, ...] | None = None
    key_usages: tuple[str, ...] | None = None  # names from algorithms.KEY_USAGES
    extended_key_usages: tuple[str, ...] | None = None  # keys of algorithms.EXTENDED_KEY_USAGES
    max_ttl_seconds: int | None = None

    def to_json(self) -> dict:
        out: dict = {}
        if self.subject:
            out["subject"] = {name: rule.to_json() for name, rule in self.subject.items()}
        if self.san:
            out["san"] = {name: rule.to_json() for name, rule in self.san.items()}
        for key in ("key_algorithms", "signature_algorithms", "key_usages", "extended_key_usages"):
            values = getattr(self, key)
            if values is not None:
                out[key] = [getattr(v, "value", v) for v in values]
        if self.max_ttl_seconds is not None:
            out["max_ttl"] = format_duration(self.max_ttl_seconds)
        return out

    @classmethod
    def from_json(cls, data: Any) -> PolicyRules:
        """Strictly parse the JSON form; raises GatewayError(MALFORMED) whose detail names the offending key."""
        keys = ("subject", "san", "key_algorithms", "signature_algorithms", "key_usages",
                "extended_key_usages", "max_ttl")  # fmt: skip
        _expect_object(data, "policy", keys)
        return cls(
            subject=_field_rules(data.get("subject"), "subject", (*SUBJECT_ATTRIBUTES, ANY_OTHER_ATTRIBUTE)),
            san=_field_rules(data.get("san"), "san", SAN_TYPES),
            key_algorithms=_names(data, "key_algorithms", _enum_member(KeyAlgorithm, "key algorithm")),
            signature_algorithms=_names(
                data, "signature_algorithms", _enum_member(SignatureAlgorithm, "signature algorithm")
            ),
            key_usages=_names(data, "key_usages", _one_of(KEY_USAGES, "key usage")),
            extended_key_usages=_names(
                data, "extended_key_usages", _one_of(tuple(EXTENDED_KEY_USAGES), "extended key usage")
            ),
            max_ttl_seconds=_ttl(data.get("max_ttl")),
        )


T = TypeVar("T")


def _malformed(path: str, problem: str) -> GatewayError:
    return GatewayError(ErrorKind.MALFORMED, f"{path}: {problem}")


def _expect_object(data: Any, path: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(data, Mapping):
        raise _malformed(path, "expected an object")
    for key in data:
        if key not in allowed:
            raise _malformed(f"{path}.{key}" if isinstance(key, str) else path,
                             f"unknown key (expected one of {', '.join(allowed)})")  # fmt: skip


def _expect_list(data: Any, path: str) -> list:
    if not isinstance(data, (list, tuple)):
        raise _malformed(path, "expected a list")
    return list(data)


def _field_rules(data: Any, path: str, names: tuple[str, ...]) -> dict[str, FieldRule]:
    if data is None:
        return {}
    _expect_object(data, path, names)
    return {name: FieldRule.from_json(rule, kind=name, path=f"{path}.{name}") for name, rule in data.items()}


def _names(data: Mapping, key: str, convert: Callable[[Any], T]) -> tuple[T, ...] | None:
    if data.get(key) is None:
        return None
    out = []
    for i, value in enumerate(_expect_list(data[key], key)):
        try:
            out.append(convert(value))
        except ValueError as exc:
            raise _malformed(f"{key}[{i}]", str(exc)) from None
    return tuple(out)


def _enum_member(enum_type: Callable[[Any], T], what: str) -> Callable[[Any], T]:
    def convert(value: Any) -> T:
        if not isinstance(value, str):
            raise ValueError(f"expected a {what} name")
        try:
            return enum_type(value)
        except ValueError:
            raise ValueError(f"unknown {what} {value!r}") from None

    return convert


def _one_of(names: tuple[str, ...], what: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a {what} name")
        if value not in names:
            raise ValueError(f"unknown {what} {value!r} (expected one of {', '.join(names)})")
        return value

    return convert


def _ttl(data: Any) -> int | None:
    if data is None:
        return None
    try:
        seconds = parse_duration(data)
    except ValueError as exc:
        raise _malformed("max_ttl", str(exc)) from None
    if seconds <= 0:
        raise _malformed("max_ttl", "must be positive")
    return seconds
