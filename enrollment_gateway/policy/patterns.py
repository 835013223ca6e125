"""Matching one policy pattern against one requested value, per identifier kind.

Every matcher is total: a pattern or value that does not parse simply does not match, so a hostile CSR can never
turn a policy check into an exception. Nothing is trimmed: a name with stray whitespace is not a name. Pattern *syntax* is checked once, when rules are loaded (`check_pattern`).

Pattern forms, by kind:

- DNS: an exact name; `*.a.com`, where the leftmost `*` covers exactly one label (as RFC 6125 §6.4.3 and the
  CA/B Forum BRs read wildcards); or `.a.com`, any name strictly below `a.com` at any depth (the RFC 5280
  §4.2.1.10 name-constraint form, useful in `deny`). Names compare after IDNA 2003 ToASCII per label
  (Python's `encodings.idna`), lower-cased, trailing dot dropped, so `bücher.example` equals
  `xn--bcher-kva.example`. A requested wildcard (`*.a.com`) matches only a pattern equal to it: `*.a.com`
  covers `x.a.com`, not another wildcard, and `.a.com` does not grant wildcards either.
- IP: a CIDR range or a single address, IPv4 or IPv6 (`ipaddress`); a value that is not an address never matches.
- email: `local@domain` exact, case-insensitive; `*@domain` or `@domain` for any mailbox. The domain part is a
  DNS pattern, so `*@*.a.com` and `@.a.com` work as they do for DNS.
- URI: exact or `*` glob, case-sensitive (URI paths are). Subject attributes: the same glob, case-insensitive
  (directory strings compare case-insensitively, RFC 4518). `emailAddress` uses the email rules. Only `*` is
  special (it crosses `/` and `.`); there is no `?` or `[...]`, because URIs contain brackets (`https://[::1]/`).
"""

from __future__ import annotations

import encodings.idna
import functools
import ipaddress
import re

__all__ = [
    "check_pattern",
    "match_dns",
    "match_email",
    "match_glob",
    "match_ip",
    "matches",
    "normalise_dns",
    "overlaps",
    "overlaps_dns",
]

# Letters, digits, hyphen (RFC 1123) plus underscore, which internal names such as `_service.corp` carry.
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_MAX_NAME = 253


def normalise_dns(name: str, *, wildcard: bool = True) -> str | None:
    """The lower-case A-label form of `name`, or None when it is not a DNS name we can compare.

    A leftmost `*` label is kept when `wildcard` is true; a `*` anywhere else, or inside a label, is invalid.
    """
    return _normalise_dns(name, wildcard) if isinstance(name, str) else None


@functools.lru_cache(maxsize=4096)
def _normalise_dns(name: str, wildcard: bool) -> str | None:
    if name.endswith("."):
        name = name[:-1]
    if not name:
        return None
    out = []
    for i, label in enumerate(name.split(".")):
        if label == "*" and i == 0 and wildcard:
            out.append("*")
            continue
        try:
            ascii_label = encodings.idna.ToASCII(label).decode("ascii").lower()
        except (UnicodeError, ValueError):
            return None
        if not _LABEL.fullmatch(ascii_label):
            return None
        out.append(ascii_label)
    result = ".".join(out)
    return result if len(result) <= _MAX_NAME else None


def match_dns(pattern: str, value: str) -> bool:
    """Whether the DNS name `value` is covered by `pattern` (exact, `*.` one label, or `.` any depth)."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    subtree = pattern.startswith(".")
    p = normalise_dns(pattern[1:] if subtree else pattern)
    v = normalise_dns(value)
    if p is None or v is None:
        return False
    if v.startswith("*"):
        # A wildcard request is itself a pattern: only an identical pattern grants it.
        return not subtree and p == v
    if subtree:
        return v.endswith("." + p) and not p.startswith("*")
    if p.startswith("*."):
        head, _, rest = v.partition(".")
        return bool(head) and rest == p[2:]
    return p == v


def overlaps_dns(pattern: str, value: str) -> bool:
    """Whether any name the requested `value` covers is covered by `pattern`; what `deny` must use.

    Differs from `match_dns` only for a requested wildcard: `*.a.com` overlaps the pattern `secret.a.com`
    (the certificate would be valid for it), so denying `secret.a.com` also refuses `*.a.com`.
    """
    if match_dns(pattern, value):
        return True
    v = normalise_dns(value) if isinstance(value, str) else None
    if v is None or not v.startswith("*.") or not isinstance(pattern, str):
        return False
    if pattern.startswith("."):
        base = normalise_dns(pattern[1:], wildcard=False)
        return base is not None and (v[2:] == base or v.endswith("." + base))
    p = normalise_dns(pattern, wildcard=False)
    return p is not None and match_dns(v, p)


def match_ip(pattern: str, value: str) -> bool:
    """Whether the address `value` lies in the network or equals the address `pattern`."""
    network = _network(pattern) if isinstance(pattern, str) else None
    if network is None or not isinstance(value, str):
        return False
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return address.version == network.version and address in network


def match_email(pattern: str, value: str) -> bool:
    """Whether the mailbox `value` matches `pattern` (`a@b`, `*@b`, `@b`; the domain as a DNS pattern)."""
    p = _split_mailbox(pattern, is_pattern=True)
    v = _split_mailbox(value, is_pattern=False)
    if p is None or v is None:
        return False
    (p_local, p_domain), (v_local, v_domain) = p, v
    if p_local not in ("", "*") and p_local.casefold() != v_local.casefold():
        return False
    return match_dns(p_domain, v_domain)


def match_glob(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """Anchored match where `*` stands for any run of characters and everything else is literal."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    if not case_sensitive:
        pattern, value = pattern.casefold(), value.casefold()
    return _glob_match(pattern, value)


def matches(kind: str, pattern: str, value: str) -> bool:
    """Dispatch on identifier kind: a SAN type (DNS, IP, email, URI) or a subject attribute short name."""
    if kind == "DNS":
        return match_dns(pattern, value)
    if kind == "IP":
        return match_ip(pattern, value)
    if kind in ("email", "emailAddress"):
        return match_email(pattern, value)
    return match_glob(pattern, value, case_sensitive=(kind == "URI"))


def overlaps(kind: str, pattern: str, value: str) -> bool:
    """Like `matches`, but a requested DNS wildcard also hits every name it would cover (for `deny`)."""
    return overlaps_dns(pattern, value) if kind == "DNS" else matches(kind, pattern, value)


def check_pattern(kind: str, pattern: object) -> str | None:
    """Why `pattern` is not a usable pattern for `kind`, or None when it is; used when loading rules."""
    if not isinstance(pattern, str):
        return "expected a string"
    if not pattern.strip():
        return "empty pattern"
    if kind == "DNS":
        name = pattern[1:] if pattern.startswith(".") else pattern
        if normalise_dns(name) is None or (pattern.startswith(".") and name.startswith("*")):
            return "not a DNS name or wildcard"
    elif kind == "IP":
        if _network(pattern) is None:
            return "not a CIDR range"
    elif kind in ("email", "emailAddress"):
        parts = _split_mailbox(pattern, is_pattern=True)
        if parts is None or check_pattern("DNS", parts[1]) is not None:
            return "not an email pattern (local@domain, *@domain or @domain)"
    return None


@functools.lru_cache(maxsize=1024)
def _network(pattern: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    # strict: `10.0.0.1/8` has host bits set and is more likely a typo than an intent.
    try:
        return ipaddress.ip_network(pattern, strict=True)
    except ValueError:
        return None


def _split_mailbox(text: object, *, is_pattern: bool) -> tuple[str, str] | None:
    if not isinstance(text, str) or "@" not in text:
        return None
    local, _, domain = text.rpartition("@")
    if not domain or (not local and not is_pattern):
        return None
    return local, domain


def _glob_match(pattern: str, value: str) -> bool:
    """`*`-only glob, anchored, in O(len(pattern) * len(value)) at worst.

    Not a regex: `.*` runs compiled from an admin's pattern backtrack exponentially on a value that almost matches
    (`*a*a*a*a*a*a*a*a*b` against 64 `a`s ran for minutes on the event loop). With `*` as the only wildcard, taking
    each literal piece at its leftmost place after the previous one is both correct and linear per piece.
    """
    first, *middle = pattern.split("*")
    if not middle:
        return pattern == value
    last = middle.pop()
    if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
        return False
    position, end = len(first), len(value) - len(last)
    for piece in middle:
        found = value.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True
