"""Subject names and subjectAltNames in the gateway's string forms ("CN", "DNS:example.com") and back.

The string forms are what the API, policy and storage speak; cryptography's Name and GeneralName types stay in
crypto/.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Sequence

import idna
from cryptography import x509
from cryptography.x509.oid import NameOID

from ..errors import ErrorKind, GatewayError

# RFC 4514 short names plus the two PKCS#9/X.520 attributes enrollment clients send.
ATTRIBUTE_OIDS: dict[str, x509.ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "serialNumber": NameOID.SERIAL_NUMBER,
}
_ATTRIBUTE_NAMES = {oid: name for name, oid in ATTRIBUTE_OIDS.items()}
_ATTRIBUTE_LOOKUP = {name.lower(): name for name in ATTRIBUTE_OIDS}

# RFC 5280 Appendix A upper bounds (ub-common-name 64, …), which cryptography enforces only for CN and C.
_MAX_LENGTH = {"CN": 64, "O": 64, "OU": 64, "ST": 128, "L": 128, "emailAddress": 255, "serialNumber": 64}

SAN_TYPES = ("DNS", "IP", "email", "URI")
_SAN_LOOKUP = {t.lower(): t for t in SAN_TYPES}


def _malformed(detail: str) -> GatewayError:
    return GatewayError(ErrorKind.MALFORMED, detail)


def build_name(pairs: Sequence[tuple[str, str]]) -> x509.Name:
    """An x509.Name from (short name, value) pairs in order; MALFORMED on unknown attributes or bad values."""
    attributes = []
    for raw_name, value in pairs:
        name = _ATTRIBUTE_LOOKUP.get(str(raw_name).lower())
        if name is None:
            raise _malformed(f"unknown subject attribute {raw_name!r}; known: {', '.join(ATTRIBUTE_OIDS)}")
        if not isinstance(value, str) or not value or value != value.strip():
            raise _malformed(f"subject attribute {name} must be a non-empty string without surrounding spaces")
        if name == "C" and not (len(value) == 2 and value.isascii() and value.isalpha()):
            raise _malformed(f"subject attribute C must be a two-letter ISO 3166 code, got {value!r}")
        if len(value) > _MAX_LENGTH.get(name, 64):
            raise _malformed(f"subject attribute {name} is longer than {_MAX_LENGTH.get(name, 64)} characters")
        if name in ("emailAddress", "C") and not value.isascii():
            raise _malformed(f"subject attribute {name} must be ASCII")  # IA5String / PrintableString
        try:
            attributes.append(x509.NameAttribute(ATTRIBUTE_OIDS[name], value.upper() if name == "C" else value))
        except ValueError as e:
            raise _malformed(f"subject attribute {name}: {e}") from None
    return x509.Name(attributes)


def name_pairs(name: x509.Name) -> tuple[tuple[str, str], ...]:
    """(short name, value) pairs of `name` in order; attributes we have no short name for use the dotted OID."""
    out = []
    for attribute in name:
        label = _ATTRIBUTE_NAMES.get(attribute.oid, attribute.oid.dotted_string)
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
        out.append((label, value))
    return tuple(out)


def common_name(name: x509.Name) -> str | None:
    """The last CN of `name` (the most specific, as RFC 6125 clients read it), or None."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[-1].value) if values else None


def parse_san(s: str) -> tuple[str, str]:
    """("DNS", "example.com") from "DNS:example.com"; the type is case-insensitive, the value kept as given."""
    kind, sep, value = str(s).partition(":")
    canonical = _SAN_LOOKUP.get(kind.strip().lower())
    if not sep or canonical is None or not value:
        raise _malformed(f"subjectAltName {s!r} must look like DNS:name, IP:address, email:addr or URI:uri")
    return canonical, value


def format_san(kind: str, value: str) -> str:
    """The string form "TYPE:value" of one SAN."""
    return f"{kind}:{value}"


def normalize_dns_name(value: str) -> str:
    """The lower-case A-label form of a DNS name (UTS #46, so "Bücher.Example" -> "xn--bcher-kva.example").

    A leading "*." wildcard label is kept; policy decides whether wildcards are allowed.
    """
    text = value.strip().rstrip(".")
    wildcard = text.startswith("*.")
    labels = text[2:] if wildcard else text
    if not labels or len(text) > 253:
        raise _malformed(f"DNS name {value!r} is empty or too long")
    try:
        encoded = idna.encode(labels, uts46=True).decode("ascii")
    except idna.IDNAError as e:
        raise _malformed(f"DNS name {value!r} is not a valid hostname: {e}") from None
    return ("*." if wildcard else "") + encoded.lower()


def canonical_san(kind: str, value: str) -> tuple[str, str]:
    """The one form of a SAN the gateway checks, stores and signs; MALFORMED when it is not a valid name.

    DNS: lower-case A-label (`normalize_dns_name`); IP: the address as `ipaddress` writes it; email: the domain
    as a DNS name (the local part is case-sensitive, RFC 5321 §2.4); URI and the kinds policy refuses anyway
    (otherName, …) as given. Equal names thus compare equal byte for byte, which is what lets the subject CN be a
    byte copy of a SAN (CA/B BR §7.1.2.7.2). A value with surrounding spaces is refused, not trimmed.
    """
    if not isinstance(value, str) or value != value.strip():
        raise _malformed(f"subjectAltName {kind}:{value!r} has surrounding spaces")
    if kind == "DNS":
        return kind, normalize_dns_name(value)
    if kind == "IP":
        address = _ip(value)
        if address is None:
            raise _malformed(f"IP subjectAltName {value!r} is not an IPv4 or IPv6 address")
        return kind, str(address)
    if kind == "email":
        local, at, domain = value.rpartition("@")
        if not at or not local or domain.startswith("*"):
            raise _malformed(f"email subjectAltName {value!r} is not a mailbox")
        return kind, f"{local}@{normalize_dns_name(domain)}"
    return kind, value


def canonical_common_name(value: str, sans: Sequence[tuple[str, str]]) -> str:
    """`value` as the DNS or IP SAN it names, byte for byte (`UP.Example.test` -> `up.example.test`), else as is.

    `sans` must already be canonical. A CN that names no SAN is returned unchanged for policy to judge.
    """
    address = _ip(value)
    if address is not None and ("IP", str(address)) in sans:
        return str(address)
    try:
        dns = normalize_dns_name(value) if value == value.strip() else None
    except GatewayError:
        dns = None
    return dns if dns is not None and ("DNS", dns) in sans else value


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A zone index (fe80::1%eth0) is local to one host; a certificate cannot carry it (RFC 5280 §4.2.1.6).
    return None if getattr(address, "scope_id", None) else address


def _to_general_name(kind: str, value: str) -> x509.GeneralName:
    if kind == "DNS":
        return x509.DNSName(normalize_dns_name(value))
    if kind == "IP":
        try:
            return x509.IPAddress(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise _malformed(f"IP subjectAltName {value!r} is not an IPv4 or IPv6 address") from None
    if kind == "email":
        local, at, domain = value.partition("@")
        if not at or not local or not domain or not value.isascii() or " " in value:
            # Non-ASCII mailboxes need SmtpUTF8Mailbox (RFC 9598), which we do not issue.
            raise _malformed(f"email subjectAltName {value!r} is not an ASCII mailbox")
        return x509.RFC822Name(value)
    if kind == "URI":
        if ":" not in value or not value.isascii() or " " in value:
            raise _malformed(f"URI subjectAltName {value!r} is not an absolute ASCII URI")
        return x509.UniformResourceIdentifier(value)
    raise _malformed(f"unsupported subjectAltName type {kind!r}")  # pragma: no cover: parse_san filters


def sans_to_general_names(pairs: Iterable[tuple[str, str] | str]) -> list[x509.GeneralName]:
    """GeneralNames for a SAN extension; accepts (type, value) pairs or "TYPE:value" strings."""
    out: list[x509.GeneralName] = []
    for item in pairs:
        kind, value = parse_san(item) if isinstance(item, str) else (_SAN_LOOKUP.get(item[0].lower()), item[1])
        if kind is None:
            raise _malformed(f"unsupported subjectAltName type {item[0]!r}")
        out.append(_to_general_name(kind, value))
    return out


def general_names_to_pairs(ext_value: Iterable[x509.GeneralName]) -> tuple[tuple[str, str], ...]:
    """(type, value) pairs for DNS, IP, email and URI names; other kinds are tagged ("otherName", oid) etc."""
    out = []
    for gn in ext_value:
        if isinstance(gn, x509.DNSName):
            out.append(("DNS", gn.value))
        elif isinstance(gn, x509.IPAddress):
            out.append(("IP", str(gn.value)))
        elif isinstance(gn, x509.RFC822Name):
            out.append(("email", gn.value))
        elif isinstance(gn, x509.UniformResourceIdentifier):
            out.append(("URI", gn.value))
        elif isinstance(gn, x509.OtherName):
            # Tagged rather than dropped so policy can refuse names it does not understand.
            out.append(("otherName", gn.type_id.dotted_string))
        elif isinstance(gn, x509.DirectoryName):
            out.append(("dirName", gn.value.rfc4514_string()))
        elif isinstance(gn, x509.RegisteredID):
            out.append(("RID", gn.value.dotted_string))
    return tuple(out)
