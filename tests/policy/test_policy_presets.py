"""Presets: each loads from its own JSON, accepts its own defaults and refuses what its name rules out."""

import pytest

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.domain import ProfileDefaults
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.policy import (PRESET_DEFAULTS, PRESETS, Candidate, PolicyRules, cabf_tls_rules, evaluate,
                                       preset, preset_defaults)

NAMES = ["tls_server", "tls_client", "tls_server_client", "code_signing", "email_protection", "device_identity"]

# A request each preset should accept, besides the defaults it is paired with.
TYPICAL = {
    "tls_server": ((("CN", "www.acme.com"),), (("DNS", "www.acme.com"), ("IP", "10.0.0.1"))),
    "tls_client": ((("CN", "alice"), ("O", "Acme")), (("email", "alice@acme.com"),)),
    "tls_server_client": ((("CN", "svc"),), (("DNS", "svc.acme.internal"), ("URI", "spiffe://acme/ns/svc"))),
    "code_signing": ((("CN", "Acme Release"), ("O", "Acme"), ("C", "DE")), ()),
    "email_protection": ((("CN", "Alice"),), (("email", "alice@acme.com"),)),
    "device_identity": ((("CN", "dev-0001"), ("serialNumber", "0001")), (("URI", "urn:dev:0001"),)),
}


def test_every_preset_is_present():
    assert sorted(PRESETS) == sorted(NAMES) == sorted(PRESET_DEFAULTS)


@pytest.mark.parametrize("name", NAMES)
def test_preset_round_trips_through_json(name):
    assert PolicyRules.from_json(preset(name).to_json()) == preset(name)


@pytest.mark.parametrize("name", NAMES)
def test_preset_accepts_its_defaults(name):
    defaults = ProfileDefaults(**preset_defaults(name))  # the dict speaks ProfileDefaults' field names
    subject, sans = TYPICAL[name]
    candidate = Candidate(
        subject=subject,
        sans=sans,
        key_algorithm=KeyAlgorithm.ECDSA_P256.value,
        signature_algorithm="ECDSA_SHA256",
        key_usages=defaults.key_usages,
        extended_key_usages=defaults.extended_key_usages,
        ttl_seconds=defaults.ttl_seconds,
    )
    assert evaluate(preset(name), candidate) == ()


REFUSALS = [
    # (preset, subject, sans, key, expected messages)
    ("tls_server", (("CN", "a"), ("O", "Acme")), (("DNS", "a"),), "ECDSA_P256",
     ["Attribute O=Acme is not allowed by policy"]),  # subject limited to CN
    ("tls_server", (("CN", "a"),), (("DNS", "a"), ("email", "a@b.c")), "ECDSA_P256",
     ["SAN email:a@b.c is not allowed by policy"]),  # no email SAN on a server
    ("tls_server", (("CN", "b"),), (("DNS", "a"),), "ECDSA_P256",
     ["Subject CN b is not one of the certificate's DNS or IP SANs"]),  # BR §7.1.2.7.2: CN is a SAN
    ("tls_server", (("CN", "A"),), (("DNS", "a"),), "ECDSA_P256",
     ["Subject CN A is not one of the certificate's DNS or IP SANs"]),  # byte for byte (the core aligns case)
    ("tls_server", (("CN", "a"),), (("DNS", "a"),), "RSA_1024",
     ["Key algorithm RSA_1024 is not allowed by policy"]),  # weak key
    ("tls_server", (("CN", "a"),), (("DNS", "a"),), "ED25519",
     ["Key algorithm ED25519 is not allowed by policy"]),  # not for WebPKI clients
    ("code_signing", (("O", "Acme"),), (), "RSA_2048",
     ["Missing required attribute CN", "Key algorithm RSA_2048 is not allowed by policy"]),  # CN, RSA >= 3072
    ("email_protection", (("CN", "Alice"),), (), "ECDSA_P256",
     ["Missing required SAN of type email"]),  # S/MIME needs the mailbox
    ("device_identity", (("O", "Acme"),), (), "ED25519",
     ["Missing required attribute CN"]),  # CN required, Ed25519 fine for devices
]  # fmt: skip


@pytest.mark.parametrize("name,subject,sans,key,messages", REFUSALS)
def test_preset_refuses(name, subject, sans, key, messages):
    defaults = preset_defaults(name)
    candidate = Candidate(
        subject=subject,
        sans=sans,
        key_algorithm=key,
        signature_algorithm=None,
        key_usages=defaults["key_usages"],
        extended_key_usages=defaults["extended_key_usages"],
        ttl_seconds=defaults["ttl_seconds"],
    )
    assert [v.message for v in evaluate(preset(name), candidate)] == messages


@pytest.mark.parametrize("name", ["tls", "", "TLS_SERVER"])
def test_unknown_preset_is_not_found(name):
    with pytest.raises(GatewayError) as info:
        preset(name)
    assert info.value.kind is ErrorKind.NOT_FOUND
    with pytest.raises(GatewayError):
        preset_defaults(name)


def test_tls_server_limits():
    rules = preset("tls_server")
    assert rules.max_ttl_seconds == 397 * 86400
    assert rules.extended_key_usages == ("server_auth",)
    assert set(rules.key_usages) == {"digital_signature", "key_encipherment"}


@pytest.mark.parametrize("oids, subject, refused", [
    ((), (("CN", "a"), ("O", "Acme")), None),  # no CA/B OID: nothing promised, nothing added
    (("1.3.6.1.4.1.99999.1",), (("CN", "a"),), None),  # a private policy OID promises nothing either
    (("2.23.140.1.2.1",), (("CN", "a"),), False),  # DV: the CN alone
    (("2.23.140.1.2.1",), (("CN", "a"), ("O", "Acme")), True),  # DV carries no organisation
    (("2.23.140.1.2.2",), (("CN", "a"), ("O", "Acme"), ("C", "DE")), False),  # OV: organisation and country
    (("2.23.140.1.2.2",), (("CN", "a"), ("OU", "Ops")), True),  # no OU since 2022-09
    (("2.23.140.1.1",), (("CN", "a"), ("O", "Acme")), False),  # EV
])
def test_cabf_tls_rules_follow_the_claimed_oid(oids, subject, refused):
    rules = cabf_tls_rules(oids)
    if refused is None:
        assert rules is None
        return
    candidate = Candidate(subject=subject, sans=(("DNS", "a"),), key_algorithm="ECDSA_P256", signature_algorithm=None,
                          key_usages=("digital_signature",), extended_key_usages=("server_auth",),
                          ttl_seconds=90 * 86400)
    assert bool(evaluate(rules, candidate)) is refused
