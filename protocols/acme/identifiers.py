"""Is an order's identifier a well-formed name we could ever validate? (RFC 8555 §7.1.4, §9.7.7; RFC 8738 §3)

Pure predicates, asked at newOrder before anything is stored, so a name the validators cannot even look up is
refused with `malformed` (naming each bad identifier in a subproblem) instead of failing later in a DNS client.
What the gateway is *willing* to issue for (allowed and denied names, IP ranges) is the core's policy, not this.

DNS names (RFC 1035 §2.3.1 preferred syntax, RFC 5890 for IDNs, as Boulder's policy/pa.go checks them):
- A-labels only: a U-label (`bücher`) is refused with its A-label (`xn--bcher-kva`) named in the detail;
- each label 1–63 octets of letters, digits and hyphens, neither starting nor ending with a hyphen;
- a label with hyphens in positions 3 and 4 must be a valid `xn--` A-label (other R-LDH labels are reserved);
- at most 253 octets, no trailing dot, no empty label, the last label not all digits (RFC 3696 §2);
- one wildcard at most, as the whole leftmost label (`*.example.com`), RFC 8555 §7.1.3;
- not an IP address in disguise (that is an "ip" identifier).
IP addresses: IPv4 dotted quad or IPv6 in the RFC 5952 canonical text form, no zone, not IPv4-mapped.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import idna

from . import problems
from .messages import Identifier
from .problems import Subproblem

MAX_NAME = 253  # octets in text form, without the root's trailing dot (RFC 1035 §2.3.4: 255 on the wire)
MAX_LABEL = 63
_LDH = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def dns_name_problem(value: str) -> str | None:
    """Why `value` (already lower-cased) is not a well-formed DNS identifier, or None if it is."""
    if value.endswith("."):
        return "a DNS identifier must not end with a dot"
    wildcard = value.startswith("*.")
    base = value[2:] if wildcard else value
    if not value.isascii():
        try:
            a_label = ("*." if wildcard else "") + idna.encode(base, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return "contains characters outside letters, digits and hyphens, and is no valid IDN"
        return f"internationalized names must be sent as A-labels (RFC 8555 §7.1.4): {a_label!r}"
    if "*" in base:
        return "a wildcard must be the whole leftmost label ('*.example.com'), and only one"
    if len(value) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    if is_ip(base):
        return "is an IP address; send it as an 'ip' identifier (RFC 8738)"
    labels = base.split(".")
    for label in labels:
        if not label:
            return "has an empty label"
        if len(label) > MAX_LABEL:
            return f"label {label[:16]!r}… is longer than {MAX_LABEL} characters"
        if not _LDH.match(label):
            if label.startswith("-") or label.endswith("-"):
                return f"label {label!r} starts or ends with a hyphen"
            return f"label {label!r} holds characters other than letters, digits and hyphens"
        if label[2:4] == "--":
            if not label.startswith("xn--"):
                return f"label {label!r} has the reserved form '??--' (RFC 5890 §2.3.1)"
            try:
                if idna.encode(idna.decode(label)).decode("ascii") != label:
                    raise idna.IDNAError("not canonical")
            except (idna.IDNAError, UnicodeError, ValueError):
                return f"label {label!r} is not a valid A-label (RFC 5891)"
    if labels[-1].isdigit():
        return "the last label is all digits, which no top-level domain is (RFC 3696 §2)"
    return None


def ip_problem(value: str) -> str | None:
    """Why `value` is not an IP identifier in RFC 8738 §3 form, or None if it is."""
    if "%" in value:
        return "an IP identifier carries no zone index"
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "is not an IPv4 or IPv6 address (RFC 8738 §3)"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"is an IPv4-mapped IPv6 address; send {str(address.ipv4_mapped)!r} as the identifier"
    if str(address) != value:
        return f"is not in canonical text form (RFC 5952 §4); send {str(address)!r}"
    return None


def is_ip(value: str) -> bool:
    """Any textual IP address, canonical or not (the ACME validators' test for an IP identifier)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def check_identifiers(identifiers: Iterable[Identifier]) -> tuple[Identifier, ...]:
    """The identifiers in canonical form (DNS names lower-cased, duplicates dropped), or malformed naming every one
    that is not well-formed (RFC 8555 §6.7.1 subproblems)."""
    canonical: list[Identifier] = []
    bad: list[Subproblem] = []
    for identifier in identifiers:
        value = identifier.value.lower() if identifier.type == "dns" else identifier.value
        why = dns_name_problem(value) if identifier.type == "dns" else ip_problem(value)
        if why is not None:
            bad.append(Subproblem("malformed", f"{identifier.value!r}: {why}", (identifier.type, identifier.value)))
        else:
            canonical.append(Identifier(identifier.type, value))
    if bad:
        detail = bad[0].detail if len(bad) == 1 else f"{len(bad)} identifiers are not well-formed"
        raise problems.AcmeProblem("malformed", detail, 400, subproblems=bad)
    return tuple(dict.fromkeys(canonical))
