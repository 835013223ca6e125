"""Policy rules as data: what a profile may certify, with a strict JSON form.

Every setting has three states, read the same way everywhere: unset (None, or an absent key) allows anything,
set-but-empty forbids everything, and set with values is a whitelist. Loading is strict so that a typo in an
operator's policy is an error naming the key, never a silently wider policy. One exception: how far ahead a
notBefore may lie (`max_forward_dating`) is bounded even when unset (DEFAULT_FORWARD_DATING_SECONDS), because an
unbounded window would let a certificate be dated into any future.
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
_DURATION = re.compile(r"\s*(\d{1,12})\s*([smhd]?)\s*")  # 12 digits: far past the bound, never a huge int
# No duration we read (TTLs, policy limits, windows) is longer than a century; past this a date computed from it
# would leave what X.509 GeneralizedTime and Python's datetime can hold.
MAX_DURATION_SECONDS = 36500 * 86400
DEFAULT_FORWARD_DATING_SECONDS = 86400  # a notBefore up to a day ahead, as the one day of backdating allowed


def parse_duration(text: str | int) -> int:
    """Seconds in `90d`, `12h`, `30m`, `45s`, a bare number of seconds, or an int, from 0 to MAX_DURATION_SECONDS;
    raises ValueError (with a message fit for the client) for anything else."""
    if isinstance(text, bool):
        raise ValueError("expected a duration")
    if isinstance(text, int):
        seconds = text
    elif isinstance(text, str):
        m = _DURATION.fullmatch(text)
        if m is None:
            raise ValueError(f"not a duration: {text[:40]!r} (use e.g. 90d, 12h, 30m)")
        seconds = int(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise ValueError("expected a duration")
    if not 0 <= seconds <= MAX_DURATION_SECONDS:
        raise ValueError(f"must be between 0 and {format_duration(MAX_DURATION_SECONDS)}")
    return seconds


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
    # CA/B BR §7.1.2.7.2: a subject CN, when present, is a byte copy of one of the DNS or IP SANs.
    common_name_in_sans: bool = False
    # How far ahead of now a requested notBefore may lie; None: DEFAULT_FORWARD_DATING_SECONDS.
    max_forward_dating_seconds: int | None = None

    @property
    def forward_dating_seconds(self) -> int:
        """The forward-dating window in force (the default when the policy sets none)."""
        if self.max_forward_dating_seconds is None:
            return DEFAULT_FORWARD_DATING_SECONDS
        return self.max_forward_dating_seconds

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
        if self.common_name_in_sans:
            out["common_name_in_sans"] = True
        if self.max_forward_dating_seconds is not None:
            out["max_forward_dating"] = format_duration(self.max_forward_dating_seconds)
        return out

    @classmethod
    def from_json(cls, data: Any) -> PolicyRules:
        """Strictly parse the JSON form; raises GatewayError(MALFORMED) whose detail names the offending key."""
        keys = ("subject", "san", "key_algorithms", "signature_algorithms", "key_usages",
                "extended_key_usages", "max_ttl", "common_name_in_sans", "max_forward_dating")  # fmt: skip
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
            common_name_in_sans=_flag(data, "common_name_in_sans"),
            max_forward_dating_seconds=_window(data.get("max_forward_dating"), "max_forward_dating"),
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


def _flag(data: Mapping, key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise _malformed(key, "expected true or false")
    return value


def _window(data: Any, key: str) -> int | None:
    """A duration that may be zero (zero: not at all)."""
    if data is None:
        return None
    try:
        return parse_duration(data)
    except ValueError as exc:
        raise _malformed(key, str(exc)) from None


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
