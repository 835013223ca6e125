"""names.py: subject attributes and SAN string forms, both ways."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from enrollment_gateway.crypto.names import (
    build_name,
    common_name,
    format_san,
    general_names_to_pairs,
    name_pairs,
    normalize_dns_name,
    parse_san,
    sans_to_general_names,
)
from enrollment_gateway.errors import ErrorKind, GatewayError


def test_build_name_round_trips_every_attribute():
    pairs = (
        ("C", "DE"),
        ("ST", "Berlin"),
        ("L", "Berlin"),
        ("O", "Example GmbH"),
        ("OU", "Ops"),
        ("CN", "Ä device"),
        ("emailAddress", "ops@example.com"),
        ("serialNumber", "1234"),
    )
    name = build_name(pairs)
    assert name_pairs(name) == pairs
    assert common_name(name) == "Ä device"


def test_build_name_accepts_any_case_and_uppercases_country():
    assert name_pairs(build_name([("cn", "x"), ("c", "us")])) == (("CN", "x"), ("C", "US"))


@pytest.mark.parametrize(
    "pairs",
    [
        [("XX", "value")],  # unknown attribute
        [("C", "USA")],  # country must be two letters
        [("C", "1A")],  # … letters
        [("CN", "")],  # empty value
        [("CN", " padded ")],  # surrounding space is a classic name-confusion trick
        [("CN", "x" * 65)],  # ub-common-name is 64
        [("emailAddress", "ü@example.com")],  # IA5String
    ],
)
def test_build_name_refuses(pairs):
    with pytest.raises(GatewayError) as e:
        build_name(pairs)
    assert e.value.kind is ErrorKind.MALFORMED


def test_unknown_oids_render_dotted_and_no_cn_is_none():
    name = x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example")])
    assert name_pairs(name) == (("0.9.2342.19200300.100.1.25", "example"),)
    assert common_name(name) is None


@pytest.mark.parametrize(
    "text, pair",
    [
        ("DNS:example.com", ("DNS", "example.com")),
        ("dns:example.com", ("DNS", "example.com")),  # type is case-insensitive
        ("IP:10.0.0.1", ("IP", "10.0.0.1")),
        ("IP:2001:db8::1", ("IP", "2001:db8::1")),  # only the first colon splits
        ("email:a@b.c", ("email", "a@b.c")),
        ("URI:spiffe://x/y", ("URI", "spiffe://x/y")),
    ],
)
def test_parse_and_format_san(text, pair):
    assert parse_san(text) == pair
    assert parse_san(format_san(*pair)) == pair


@pytest.mark.parametrize("text", ["example.com", "DNS:", "X400:foo", ""])
def test_parse_san_refuses(text):
    with pytest.raises(GatewayError) as e:
        parse_san(text)
    assert e.value.kind is ErrorKind.MALFORMED


def test_sans_to_general_names_normalises():
    names = sans_to_general_names(
        [
            ("DNS", "Bücher.Example."),
            "DNS:*.Example.COM",
            ("IP", "10.0.0.1"),
            "IP:2001:db8::1",
            "email:a@b.c",
            "URI:spiffe://x/y",
        ]
    )
    assert names == [
        x509.DNSName("xn--bcher-kva.example"),  # IDNA A-label, lower case, root dot dropped
        x509.DNSName("*.example.com"),  # wildcard kept; policy decides
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.RFC822Name("a@b.c"),
        x509.UniformResourceIdentifier("spiffe://x/y"),
    ]
    assert general_names_to_pairs(names) == (
        ("DNS", "xn--bcher-kva.example"),
        ("DNS", "*.example.com"),
        ("IP", "10.0.0.1"),
        ("IP", "2001:db8::1"),
        ("email", "a@b.c"),
        ("URI", "spiffe://x/y"),
    )


@pytest.mark.parametrize(
    "san",
    [
        "DNS:exa mple.com",  # space
        "DNS:" + "a" * 64 + ".com",  # label over 63 octets
        "DNS:-bad-.com",  # hyphen at label edges
        "IP:10.0.0.256",
        "IP:not-an-ip",
        "email:no-at-sign",
        "email:ü@example.com",  # would need SmtpUTF8Mailbox
        "URI:relative/path",
    ],
)
def test_sans_to_general_names_refuses(san):
    with pytest.raises(GatewayError) as e:
        sans_to_general_names([san])
    assert e.value.kind is ErrorKind.MALFORMED


def test_normalize_dns_name_is_idempotent():
    assert normalize_dns_name(normalize_dns_name("WWW.Bücher.example")) == "www.xn--bcher-kva.example"


def test_general_names_to_pairs_tags_other_kinds():
    other = x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03a@b")  # UPN
    directory = x509.DirectoryName(build_name([("CN", "x")]))
    assert general_names_to_pairs([other, directory]) == (
        ("otherName", "1.3.6.1.4.1.311.20.2.3"),
        ("dirName", "CN=x"),
    )
