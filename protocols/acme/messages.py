"""ACME request payloads (RFC 8555 §7) as frozen dataclasses, named as the RFC names them (certbot's model).

Each `from_json` checks structure only and raises AcmeProblem (malformed unless the RFC names a sharper type);
what the gateway is willing to issue for is the core's policy, not decided here.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import josepy
from cryptography import x509

from . import problems
from .jws import b64url_decode, b64url_encode, jwk_from_json

IDENTIFIER_TYPES = ("dns", "ip")  # RFC 8555 §9.7.7 and RFC 8738
MAX_IDENTIFIER_LENGTH = 253  # the longest DNS name in text form; IPv6 text is shorter
REVOCATION_REASONS = frozenset({0, 1, 2, 3, 4, 5, 6, 8, 9, 10})  # RFC 5280 §5.3.1; 7 is unused
# RFC 3339 §5.6 date-time; the fraction and the "Z"/offset are parsed by datetime.fromisoformat.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
# addr-spec without quoted local parts or domain literals: what mail systems deliver and Boulder accepts.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")


def _require_object(obj: Any, what: str) -> dict:
    if not isinstance(obj, dict):
        raise problems.malformed(f"{what} must be a JSON object")
    return obj


def _optional_bool(obj: dict, name: str) -> bool:
    value = obj.get(name, False)
    if not isinstance(value, bool):
        raise problems.malformed(f"{name!r} must be a boolean")
    return value


def _b64_der(obj: dict, name: str) -> bytes:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise problems.malformed(f"{name!r} must be a non-empty base64url string")
    try:
        der = b64url_decode(value)
    except ValueError:
        raise problems.malformed(f"{name!r} is not valid base64url (no padding, RFC 8555 §6.1)") from None
    if not der.startswith(b"\x30"):  # every DER structure we take here is a SEQUENCE
        raise problems.malformed(f"{name!r} is not DER")
    return der


def parse_rfc3339(value: Any, name: str) -> datetime.datetime:
    """An RFC 3339 timestamp with a zone, as a UTC datetime (RFC 8555 §7.4 notBefore/notAfter)."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise problems.malformed(f"{name!r} must be an RFC 3339 date-time with a time zone")
    text = value.upper().replace("Z", "+00:00")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # datetime keeps microseconds; nanoseconds are cut, not refused
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        return datetime.datetime.fromisoformat(text).astimezone(datetime.timezone.utc)
    except ValueError:
        raise problems.malformed(f"{name!r} is not a valid date-time") from None


@dataclass(frozen=True)
class Identifier:
    type: str  # "dns" or "ip"
    value: str

    @classmethod
    def from_json(cls, obj: Any) -> Identifier:
        obj = _require_object(obj, "identifier")
        kind, value = obj.get("type"), obj.get("value")
        if not isinstance(kind, str) or not isinstance(value, str) or not value:
            raise problems.malformed("identifier needs string 'type' and non-empty 'value'")
        if kind not in IDENTIFIER_TYPES:
            raise problems.unsupported_identifier(f"identifier type {kind!r} is not supported (dns, ip)")
        if len(value) > MAX_IDENTIFIER_LENGTH:
            raise problems.malformed("identifier value too long")
        if kind == "ip":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise problems.malformed(f"{value!r} is not an IP address (RFC 8738 §3)") from None
        return cls(kind, value)

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}


def _contact(uri: Any) -> str:
    """RFC 8555 §7.3: mailto: with one addr-spec and no hfields; other schemes are unsupportedContact."""
    if not isinstance(uri, str):
        raise problems.malformed("contact entries must be strings")
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() != "mailto":
        raise problems.unsupported_contact(f"contact {uri!r}: only mailto: URIs are supported")
    if "?" in rest:
        raise problems.invalid_contact(f"contact {uri!r}: mailto hfields are not allowed")
    if "," in rest or "%2c" in rest.lower():
        raise problems.invalid_contact(f"contact {uri!r}: only one address per mailto URI")
    if not _EMAIL.match(rest) or len(rest) > 254:
        raise problems.invalid_contact(f"contact {uri!r}: not a valid email address")
    return uri


@dataclass(frozen=True)
class NewAccountPayload:
    """RFC 8555 §7.3 newAccount (also the account update payload, where contact may change)."""

    contact: tuple[str, ...] | None = None  # None: not sent (keep existing on update); (): cleared
    terms_of_service_agreed: bool = False
    only_return_existing: bool = False
    external_account_binding: dict | None = None  # the raw flattened JWS, for jws.verify_eab

    @classmethod
    def from_json(cls, obj: Any) -> NewAccountPayload:
        obj = _require_object(obj, "newAccount payload")
        contact = obj.get("contact")
        if contact is not None:
            if not isinstance(contact, list):
                raise problems.malformed("'contact' must be a list of URIs")
            contact = tuple(_contact(c) for c in contact)
        eab = obj.get("externalAccountBinding")
        if eab is not None and not isinstance(eab, dict):
            raise problems.malformed("'externalAccountBinding' must be a JWS object")
        return cls(
            contact,
            _optional_bool(obj, "termsOfServiceAgreed"),
            _optional_bool(obj, "onlyReturnExisting"),
            eab,
        )


@dataclass(frozen=True)
class AriCertId:
    """RFC 9773 §4.1 certificate identifier: the AKI keyIdentifier and the serial number."""

    key_identifier: bytes
    serial: int

    def __str__(self) -> str:
        return f"{b64url_encode(self.key_identifier)}.{b64url_encode(serial_der_bytes(self.serial))}"

    @classmethod
    def parse(cls, text: Any) -> AriCertId:
        if not isinstance(text, str) or text.count(".") != 1:
            raise problems.malformed("ARI certificate identifier must be 'keyIdentifier.serial' in base64url")
        aki_b64, serial_b64 = text.split(".")
        try:
            aki, serial = b64url_decode(aki_b64), b64url_decode(serial_b64)
        except ValueError:
            raise problems.malformed("ARI certificate identifier is not base64url") from None
        if not aki or not serial or len(serial) > 21:  # RFC 5280 §4.1.2.2: at most 20 octets (+1 sign octet)
            raise problems.malformed("ARI certificate identifier has an empty part or an oversized serial")
        if serial[0] & 0x80:
            raise problems.malformed("ARI certificate identifier has a negative serial")
        return cls(aki, int.from_bytes(serial, "big"))


def serial_der_bytes(serial: int) -> bytes:
    """The content octets of a DER INTEGER for a non-negative serial (a leading 0x00 when the top bit is set)."""
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def ari_cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) '.' base64url(serial DER content octets)."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        aki = None
    if not aki:
        raise ValueError("certificate has no Authority Key Identifier keyIdentifier; it has no ARI identifier")
    return str(AriCertId(aki, cert.serial_number))


def parse_ari_cert_id(text: str) -> AriCertId:
    return AriCertId.parse(text)


@dataclass(frozen=True)
class NewOrderPayload:
    """RFC 8555 §7.4 newOrder, with RFC 9773's `replaces` and the ACME profiles draft's `profile`."""

    identifiers: tuple[Identifier, ...]
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    replaces: AriCertId | None = None
    profile: str | None = None

    @classmethod
    def from_json(cls, obj: Any) -> NewOrderPayload:
        obj = _require_object(obj, "newOrder payload")
        raw = obj.get("identifiers")
        if not isinstance(raw, list) or not raw:
            raise problems.malformed("'identifiers' must be a non-empty list")
        identifiers = tuple(Identifier.from_json(i) for i in raw)
        if len(set(identifiers)) != len(identifiers):
            raise problems.malformed("'identifiers' lists the same identifier twice")
        nb = parse_rfc3339(obj["notBefore"], "notBefore") if obj.get("notBefore") is not None else None
        na = parse_rfc3339(obj["notAfter"], "notAfter") if obj.get("notAfter") is not None else None
        if nb is not None and na is not None and na <= nb:
            raise problems.malformed("'notAfter' must be later than 'notBefore'")
        replaces = AriCertId.parse(obj["replaces"]) if obj.get("replaces") is not None else None
        profile = obj.get("profile")
        if profile is not None and (not isinstance(profile, str) or not profile):
            raise problems.malformed("'profile' must be a non-empty string")
        return cls(identifiers, nb, na, replaces, profile)


@dataclass(frozen=True)
class FinalizePayload:
    """RFC 8555 §7.4 finalize: the CSR's DER (parsed and judged by the core)."""

    csr: bytes

    @classmethod
    def from_json(cls, obj: Any) -> FinalizePayload:
        return cls(_b64_der(_require_object(obj, "finalize payload"), "csr"))


@dataclass(frozen=True)
class RevocationPayload:
    """RFC 8555 §7.6 revokeCert: the certificate's DER and an optional RFC 5280 reason code."""

    certificate: bytes
    reason: int | None = None

    @classmethod
    def from_json(cls, obj: Any) -> RevocationPayload:
        obj = _require_object(obj, "revokeCert payload")
        der = _b64_der(obj, "certificate")
        reason = obj.get("reason")
        if reason is not None:
            if not isinstance(reason, int) or isinstance(reason, bool):
                raise problems.malformed("'reason' must be an integer")
            if reason not in REVOCATION_REASONS:
                raise problems.bad_revocation_reason(f"revocation reason {reason} is not an RFC 5280 reason code")
        return cls(der, reason)


@dataclass(frozen=True)
class KeyChangePayload:
    """RFC 8555 §7.3.5 keyChange inner payload: the account URL and the key being replaced."""

    account: str
    old_key: josepy.JWK

    @classmethod
    def from_json(cls, obj: Any) -> KeyChangePayload:
        obj = _require_object(obj, "keyChange payload")
        account = obj.get("account")
        if not isinstance(account, str) or not account:
            raise problems.malformed("'account' must be the account URL")
        if "oldKey" not in obj:
            raise problems.malformed("'oldKey' is required")
        try:
            old_key = jwk_from_json(obj["oldKey"])
        except problems.AcmeProblem as exc:
            raise problems.malformed(f"'oldKey': {exc.detail}") from None
        return cls(account, old_key)
