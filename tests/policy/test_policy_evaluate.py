"""evaluate(): one table row per rule and message, in the manner of Boulder's policy/pa_test.go."""

import dataclasses

import pytest

from enrollment_gateway.algorithms import KeyAlgorithm, SignatureAlgorithm
from enrollment_gateway.errors import ErrorKind, Violation
from enrollment_gateway.policy import Candidate, FieldRule, PolicyRules, evaluate, willing_to_issue

DAY = 86400

BASE = Candidate(
    subject=(("CN", "www.acme.com"),),
    sans=(("DNS", "www.acme.com"),),
    key_algorithm="ECDSA_P256",
    signature_algorithm="ECDSA_SHA256",
    key_usages=("digital_signature",),
    extended_key_usages=("server_auth",),
    ttl_seconds=90 * DAY,
)


def cand(**changes) -> Candidate:
    return dataclasses.replace(BASE, **changes)


def rules(**kwargs) -> PolicyRules:
    return PolicyRules(**kwargs)


def san_refused(t, v, how):
    return Violation(f"SAN {t}:{v} is {how} by policy", ErrorKind.REJECTED_IDENTIFIER, (t, v))


def pv(message):
    return Violation(message, ErrorKind.POLICY_VIOLATION)


CASES = [
    # (rules, candidate, expected violations), one comment each
    (rules(), BASE, []),  # the open policy allows anything
    (
        rules(key_algorithms=(KeyAlgorithm.ECDSA_P256,)),
        cand(key_algorithm="RSA_1024"),
        [Violation("Key algorithm RSA_1024 is not allowed by policy", ErrorKind.BAD_PUBLIC_KEY)],
    ),  # unsupported key named as the requester sent it
    (rules(key_algorithms=()), BASE, [
        Violation("Key algorithm ECDSA_P256 is not allowed by policy", ErrorKind.BAD_PUBLIC_KEY)
    ]),  # empty whitelist: no key at all
    (rules(key_algorithms=(KeyAlgorithm.ECDSA_P256,)), BASE, []),  # whitelisted key
    (
        rules(signature_algorithms=(SignatureAlgorithm.ECDSA_SHA384,)),
        BASE,
        [pv("Signature algorithm ECDSA_SHA256 is not allowed by policy")],
    ),  # signature algorithm outside the whitelist
    (
        rules(signature_algorithms=(SignatureAlgorithm.ECDSA_SHA384,)),
        cand(signature_algorithm=None),
        [],
    ),  # not yet known: nothing to check
    (
        rules(san={"DNS": FieldRule(allow=("*.acme.com",))}),
        cand(sans=(("DNS", "evil.com"),)),
        [san_refused("DNS", "evil.com", "not allowed")],
    ),  # DNS outside the whitelist
    (
        rules(san={"DNS": FieldRule(deny=("evil.com",))}),
        cand(sans=(("DNS", "evil.com"), ("DNS", "good.com"))),
        [san_refused("DNS", "evil.com", "denied")],
    ),  # deny list, other names free
    (
        rules(san={"DNS": FieldRule(allow=("*.acme.com",), deny=("evil.acme.com",))}),
        cand(sans=(("DNS", "evil.acme.com"), ("DNS", "www.acme.com"))),
        [san_refused("DNS", "evil.acme.com", "denied")],
    ),  # deny beats allow, and a denied value is not reported twice
    (
        rules(san={"DNS": FieldRule(allow=("*.acme.com",), deny=("secret.acme.com",))}),
        cand(sans=(("DNS", "*.acme.com"),)),
        [san_refused("DNS", "*.acme.com", "denied")],
    ),  # a wildcard that would cover a denied name is denied
    (
        rules(san={"DNS": FieldRule(allow=("*.acme.com",))}),
        cand(sans=(("DNS", "WWW.Acme.COM."),)),
        [],
    ),  # case and trailing dot do not matter
    (
        rules(san={"DNS": FieldRule(allow=("*.xn--bcher-kva.example",))}),
        cand(sans=(("DNS", "www.bücher.example"),)),
        [],
    ),  # IDNA: U-label value against an A-label pattern
    (
        rules(san={"DNS": FieldRule(allow=())}),
        BASE,
        [san_refused("DNS", "www.acme.com", "not allowed")],
    ),  # empty allow: no DNS names at all
    (
        rules(san={"DNS": FieldRule(allow=())}),
        cand(sans=(("IP", "10.0.0.1"),)),
        [],
    ),  # ... which says nothing about other types
    (
        rules(san={"IP": FieldRule(allow=("10.0.0.0/8", "2001:db8::/32"))}),
        cand(sans=(("IP", "10.2.3.4"), ("IP", "2001:db8::5"), ("IP", "192.168.0.1"), ("IP", "2001:db9::1"))),
        [san_refused("IP", "192.168.0.1", "not allowed"), san_refused("IP", "2001:db9::1", "not allowed")],
    ),  # CIDR ranges, v4 and v6
    (
        rules(san={"email": FieldRule(allow=("@acme.com",))}),
        cand(sans=(("email", "Alice@ACME.com"), ("email", "eve@evil.com"))),
        [san_refused("email", "eve@evil.com", "not allowed")],
    ),  # email domain form
    (
        rules(san={"URI": FieldRule(allow=("spiffe://acme.com/*",))}),
        cand(sans=(("URI", "spiffe://acme.com/ns/a"), ("URI", "SPIFFE://acme.com/ns/a"))),
        [san_refused("URI", "SPIFFE://acme.com/ns/a", "not allowed")],
    ),  # URI glob, case-sensitive
    (
        rules(san={"DNS": FieldRule(require=())}),
        cand(sans=(("IP", "10.0.0.1"),)),
        [pv("Missing required SAN of type DNS")],
    ),  # require (): at least one of the type
    (
        rules(san={"DNS": FieldRule(require=("*.acme.com",))}),
        cand(sans=()),
        [pv("Missing required SAN of type DNS")],
    ),  # require patterns with nothing sent: one message, not one per pattern
    (
        rules(san={"DNS": FieldRule(require=("*.acme.com", "acme.com"))}),
        cand(sans=(("DNS", "www.acme.com"),)),
        [pv("No SAN matches the required pattern DNS:acme.com")],
    ),  # each required pattern needs its own match
    (
        rules(subject={"O": FieldRule(require=())}),
        BASE,
        [pv("Missing required attribute O")],
    ),  # required attribute absent
    (
        rules(subject={"O": FieldRule(require=("Acme*",))}),
        cand(subject=(("CN", "x"), ("O", "Other"))),
        [pv("No attribute matches the required pattern O=Acme*")],
    ),  # required attribute present with a wrong value
    (
        rules(subject={"O": FieldRule(allow=("Acme Corp",))}),
        cand(subject=(("CN", "x"), ("O", "Foo"))),
        [pv("Attribute O=Foo is not allowed by policy")],
    ),  # attribute whitelist
    (
        rules(subject={"O": FieldRule(allow=("Acme Corp",))}),
        cand(subject=(("O", "ACME CORP"),)),
        [],
    ),  # attributes compare case-insensitively
    (
        rules(subject={"O": FieldRule(deny=("*Evil*",))}),
        cand(subject=(("O", "Evil Inc"),)),
        [pv("Attribute O=Evil Inc is denied by policy")],
    ),  # attribute deny glob
    (
        rules(subject={"O": FieldRule(allow=())}),
        cand(subject=(("CN", "x"),)),
        [],
    ),  # empty allow forbids the attribute, its absence is fine
    (
        rules(subject={"CN": FieldRule(), "*": FieldRule(allow=())}),
        cand(subject=(("CN", "x"), ("DC", "com"), ("O", "Acme"))),
        [pv("Attribute DC=com is not allowed by policy"), pv("Attribute O=Acme is not allowed by policy")],
    ),  # the "*" rule governs every attribute not named
    (
        rules(subject={"OU": FieldRule(allow=("a", "b"))}),
        cand(subject=(("OU", "a"), ("OU", "b"), ("OU", "c"), ("OU", "c"))),
        [pv("Attribute OU=c is not allowed by policy")],
    ),  # repeated attributes: each checked, a repeated value reported once
    (
        rules(),
        cand(sans=(("otherName", "x"),)),
        [san_refused("otherName", "x", "not allowed")],
    ),  # SAN types the policy cannot describe are refused
    (
        rules(key_usages=("digital_signature",)),
        cand(key_usages=("digital_signature", "key_encipherment")),
        [pv("Key usage key_encipherment is not allowed by policy")],
    ),  # key usage whitelist
    (
        rules(key_usages=()),
        cand(key_usages=()),
        [],
    ),  # empty whitelist, nothing requested
    (
        rules(extended_key_usages=("server_auth",)),
        cand(extended_key_usages=("server_auth", "client_auth")),
        [pv("Extended key usage client_auth is not allowed by policy")],
    ),  # EKU whitelist
    (
        rules(max_ttl_seconds=365 * DAY),
        cand(ttl_seconds=400 * DAY),
        [pv("Requested TTL 400d exceeds the policy maximum 365d")],
    ),  # TTL over the maximum
    (rules(max_ttl_seconds=365 * DAY), cand(ttl_seconds=365 * DAY), []),  # TTL at the maximum
    (
        rules(max_ttl_seconds=24 * 3600),
        cand(ttl_seconds=36 * 3600),
        [pv("Requested TTL 36h exceeds the policy maximum 1d")],
    ),  # hours when not whole days
]


@pytest.mark.parametrize("policy,candidate,expected", CASES)
def test_evaluate(policy, candidate, expected):
    assert list(evaluate(policy, candidate)) == expected
    assert willing_to_issue(policy, candidate) is (not expected)


def test_every_violation_is_reported_in_order():
    policy = PolicyRules(
        subject={"O": FieldRule(require=())},
        san={"DNS": FieldRule(allow=("*.acme.com",), deny=("evil.acme.com",)), "IP": FieldRule(require=())},
        key_algorithms=(KeyAlgorithm.ECDSA_P256,),
        signature_algorithms=(SignatureAlgorithm.ECDSA_SHA256,),
        key_usages=("digital_signature",),
        extended_key_usages=("server_auth",),
        max_ttl_seconds=365 * DAY,
    )
    candidate = Candidate(
        subject=(("CN", "x"),),
        sans=(("DNS", "evil.com"), ("DNS", "evil.acme.com")),
        key_algorithm="RSA_1024",
        signature_algorithm="RSA_SHA256",
        key_usages=("key_cert_sign",),
        extended_key_usages=("code_signing",),
        ttl_seconds=400 * DAY,
    )
    assert [v.message for v in evaluate(policy, candidate)] == [
        "SAN DNS:evil.acme.com is denied by policy",  # deny first
        "Missing required attribute O",  # then require: subject, then SANs
        "Missing required SAN of type IP",
        "SAN DNS:evil.com is not allowed by policy",  # then allow
        "Key algorithm RSA_1024 is not allowed by policy",
        "Signature algorithm RSA_SHA256 is not allowed by policy",
        "Key usage key_cert_sign is not allowed by policy",
        "Extended key usage code_signing is not allowed by policy",
        "Requested TTL 400d exceeds the policy maximum 365d",
    ]


def test_violations_serialise_with_identifier():
    (violation,) = evaluate(PolicyRules(san={"DNS": FieldRule(allow=())}), BASE)
    assert violation.to_json() == {
        "kind": "rejected_identifier",
        "message": "SAN DNS:www.acme.com is not allowed by policy",
        "identifier": {"type": "DNS", "value": "www.acme.com"},
    }
