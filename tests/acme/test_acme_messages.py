"""ACME request payloads (RFC 8555 §7) and the ARI certificate identifier (RFC 9773 §4.1)."""

import datetime

import josepy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protocols.acme import messages as m
from protocols.acme.jws import b64url_encode
from protocols.acme.problems import AcmeProblem

UTC = datetime.timezone.utc
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_JWK = josepy.JWKEC(key=EC_KEY.public_key()).to_json()


def refused(fn, obj, type_="malformed"):
    with pytest.raises(AcmeProblem) as exc:
        fn(obj)
    assert exc.value.type == type_, exc.value.detail
    return exc.value


# --- Identifier ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj, expected",
    [
        ({"type": "dns", "value": "example.com"}, m.Identifier("dns", "example.com")),
        ({"type": "dns", "value": "*.example.com"}, m.Identifier("dns", "*.example.com")),  # policy judges wildcards
        ({"type": "ip", "value": "192.0.2.1"}, m.Identifier("ip", "192.0.2.1")),  # RFC 8738
        ({"type": "ip", "value": "2001:db8::1"}, m.Identifier("ip", "2001:db8::1")),
    ],
)
def test_identifier_accepts(obj, expected):
    assert m.Identifier.from_json(obj) == expected
    assert expected.to_json() == obj


@pytest.mark.parametrize(
    "obj, type_",
    [
        ("example.com", "malformed"),  # not an object
        ({"type": "dns"}, "malformed"),  # no value
        ({"type": "dns", "value": ""}, "malformed"),  # empty value
        ({"type": "dns", "value": 5}, "malformed"),  # value not a string
        ({"type": "email", "value": "a@b.c"}, "unsupportedIdentifier"),  # RFC 8823 is not supported
        ({"type": "ip", "value": "example.com"}, "malformed"),  # ip that is not an address
        ({"type": "ip", "value": "300.1.1.1"}, "malformed"),
        ({"type": "dns", "value": "a" * 254}, "malformed"),  # longer than any DNS name
    ],
)
def test_identifier_refuses(obj, type_):
    refused(m.Identifier.from_json, obj, type_)


# --- NewAccountPayload ----------------------------------------------------------------------------------------


def test_new_account_full():
    eab = {"protected": "e30", "payload": "", "signature": ""}
    payload = m.NewAccountPayload.from_json(
        {
            "contact": ["mailto:admin@example.com", "mailto:ops+acme@sub.example.org"],
            "termsOfServiceAgreed": True,
            "externalAccountBinding": eab,
        }
    )
    assert payload.contact == ("mailto:admin@example.com", "mailto:ops+acme@sub.example.org")
    assert payload.terms_of_service_agreed and not payload.only_return_existing
    assert payload.external_account_binding == eab


def test_new_account_minimal_and_only_return_existing():
    assert m.NewAccountPayload.from_json({}) == m.NewAccountPayload()
    assert m.NewAccountPayload.from_json({"onlyReturnExisting": True}).only_return_existing
    assert m.NewAccountPayload.from_json({"contact": []}).contact == ()


@pytest.mark.parametrize(
    "obj, type_",
    [
        ([], "malformed"),  # not an object
        ({"contact": "mailto:a@example.com"}, "malformed"),  # not a list
        ({"contact": [5]}, "malformed"),  # entry not a string
        ({"contact": ["tel:+15555550100"]}, "unsupportedContact"),  # only mailto
        ({"contact": ["a@example.com"]}, "unsupportedContact"),  # no scheme
        ({"contact": ["mailto:a@example.com?subject=hi"]}, "invalidContact"),  # hfields forbidden (§7.3)
        ({"contact": ["mailto:a@example.com,b@example.com"]}, "invalidContact"),  # one address only
        ({"contact": ["mailto:a@example.com%2Cb@example.com"]}, "invalidContact"),  # …even when escaped
        ({"contact": ["mailto:not-an-address"]}, "invalidContact"),
        ({"contact": ["mailto:a@localhost"]}, "invalidContact"),  # no dotted domain
        ({"termsOfServiceAgreed": "yes"}, "malformed"),  # booleans are booleans
        ({"onlyReturnExisting": 1}, "malformed"),
        ({"externalAccountBinding": "jws"}, "malformed"),
    ],
)
def test_new_account_refuses(obj, type_):
    refused(m.NewAccountPayload.from_json, obj, type_)


# --- NewOrderPayload ------------------------------------------------------------------------------------------


def test_new_order_full():
    payload = m.NewOrderPayload.from_json(
        {
            "identifiers": [{"type": "dns", "value": "example.com"}, {"type": "ip", "value": "192.0.2.1"}],
            "notBefore": "2026-01-01T00:00:00Z",
            "notAfter": "2026-01-08T12:00:00.123456789+02:00",
            "replaces": "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
            "profile": "tlsserver",
        }
    )
    assert payload.identifiers == (m.Identifier("dns", "example.com"), m.Identifier("ip", "192.0.2.1"))
    assert payload.not_before == datetime.datetime(2026, 1, 1, tzinfo=UTC)
    assert payload.not_after == datetime.datetime(2026, 1, 8, 10, 0, 0, 123456, tzinfo=UTC)
    assert payload.replaces == m.AriCertId(bytes.fromhex("69885b6b87464041e1b37b847ba0ae2cde01c8d4"), 0x87654321)
    assert payload.profile == "tlsserver"


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ({}, "identifiers"),
        ({"identifiers": []}, "identifiers"),  # at least one
        ({"identifiers": {"type": "dns", "value": "a.example"}}, "identifiers"),  # a list, not one object
        ({"identifiers": [{"type": "dns", "value": "a.example"}] * 2}, "twice"),
        ({"identifiers": [{"type": "dns", "value": "a.example"}], "notBefore": "2026-01-01"}, "notBefore"),
        ({"identifiers": [{"type": "dns", "value": "a.example"}], "notAfter": "2026-01-01T00:00:00"}, "notAfter"),
        ({"identifiers": [{"type": "dns", "value": "a.example"}], "notAfter": 1767225600}, "notAfter"),
        ({"identifiers": [{"type": "dns", "value": "a.example"}], "notAfter": "2026-13-01T00:00:00Z"}, "notAfter"),
        (
            {"identifiers": [{"type": "dns", "value": "a.example"}], "notBefore": "2026-01-02T00:00:00Z",
             "notAfter": "2026-01-01T00:00:00Z"},
            "later",
        ),
        ({"identifiers": [{"type": "dns", "value": "a.example"}], "replaces": "nodot"}, "ARI"),
        ({"identifiers": [{"type": "dns", "value": "a.example"}], "profile": 3}, "profile"),
    ],
)
def test_new_order_refuses(obj, fragment):
    assert fragment in refused(m.NewOrderPayload.from_json, obj).detail


# --- FinalizePayload, RevocationPayload, KeyChangePayload -----------------------------------------------------


def test_finalize():
    assert m.FinalizePayload.from_json({"csr": b64url_encode(b"\x30\x03\x02\x01\x00")}).csr == b"\x30\x03\x02\x01\x00"


@pytest.mark.parametrize(
    "obj",
    [
        {},  # no csr
        {"csr": ""},
        {"csr": 5},
        {"csr": "MAMCAQA="},  # padded: RFC 8555 §6.1 says no padding
        {"csr": "MAMCAQA+"},  # standard base64 alphabet
        {"csr": b64url_encode(b"-----BEGIN")},  # PEM, not DER
    ],
)
def test_finalize_refuses(obj):
    refused(m.FinalizePayload.from_json, obj)


@pytest.mark.parametrize("reason", [None, 0, 1, 4, 5, 9, 10])
def test_revocation(reason):
    obj = {"certificate": b64url_encode(b"\x30\x00")}
    if reason is not None:
        obj["reason"] = reason
    assert m.RevocationPayload.from_json(obj) == m.RevocationPayload(b"\x30\x00", reason)


@pytest.mark.parametrize(
    "obj, type_",
    [
        ({"reason": 1}, "malformed"),  # no certificate
        ({"certificate": b64url_encode(b"\x30\x00"), "reason": "keyCompromise"}, "malformed"),
        ({"certificate": b64url_encode(b"\x30\x00"), "reason": True}, "malformed"),  # bool is not an int here
        ({"certificate": b64url_encode(b"\x30\x00"), "reason": 7}, "badRevocationReason"),  # 7 is unused
        ({"certificate": b64url_encode(b"\x30\x00"), "reason": 11}, "badRevocationReason"),
        ({"certificate": b64url_encode(b"\x30\x00"), "reason": -1}, "badRevocationReason"),
    ],
)
def test_revocation_refuses(obj, type_):
    refused(m.RevocationPayload.from_json, obj, type_)


def test_key_change():
    payload = m.KeyChangePayload.from_json({"account": "https://ca.example/acct/1", "oldKey": EC_JWK})
    assert payload.account == "https://ca.example/acct/1"
    assert payload.old_key == josepy.JWK.from_json(EC_JWK)


@pytest.mark.parametrize(
    "obj",
    [
        {"oldKey": EC_JWK},  # no account
        {"account": "https://ca.example/acct/1"},  # no oldKey
        {"account": "", "oldKey": EC_JWK},
        {"account": "https://ca.example/acct/1", "oldKey": "key"},
        {"account": "https://ca.example/acct/1", "oldKey": {"kty": "EC", "crv": "P-256"}},
        {"account": "https://ca.example/acct/1", "oldKey": {**EC_JWK, "d": "AAAA"}},  # private material
    ],
)
def test_key_change_refuses(obj):
    refused(m.KeyChangePayload.from_json, obj)


# --- ARI certificate identifier -------------------------------------------------------------------------------


def _cert(serial: int, with_aki: bool = True) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ari")])
    now = datetime.datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(EC_KEY.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if with_aki:
        aki = x509.AuthorityKeyIdentifier(bytes.fromhex("69885b6b87464041e1b37b847ba0ae2cde01c8d4"), None, None)
        builder = builder.add_extension(aki, critical=False)
    return builder.sign(EC_KEY, hashes.SHA256())


def test_ari_cert_id_rfc9773_example():
    # RFC 9773 §4.1: AKI 69:88:5B:…, serial 0x87654321 -> "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    cert_id = m.ari_cert_id(_cert(0x87654321))
    assert cert_id == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    assert m.parse_ari_cert_id(cert_id) == m.AriCertId(bytes.fromhex("69885b6b87464041e1b37b847ba0ae2cde01c8d4"),
                                                      0x87654321)


@pytest.mark.parametrize("serial", [1, 0x7F, 0x80, 0xFF, 0x100, 2**159 - 1])
def test_ari_cert_id_round_trips(serial):
    parsed = m.parse_ari_cert_id(m.ari_cert_id(_cert(serial)))
    assert parsed.serial == serial
    assert m.serial_der_bytes(serial)[0] < 0x80  # a DER INTEGER of a positive number never has the top bit set


def test_ari_cert_id_needs_aki():
    with pytest.raises(ValueError):
        m.ari_cert_id(_cert(5, with_aki=False))


@pytest.mark.parametrize(
    "text",
    [
        "no-dot",
        "a.b.c",  # two dots
        ".AIdlQyE",  # empty key identifier
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.",  # empty serial
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE",  # padding
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.gA",  # 0x80: a negative DER INTEGER
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ." + b64url_encode(b"\x01" * 22),  # longer than RFC 5280 allows
        42,
    ],
)
def test_ari_cert_id_refuses(text):
    refused(m.parse_ari_cert_id, text)
