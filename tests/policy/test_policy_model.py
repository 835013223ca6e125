"""PolicyRules JSON form: round trips, strict loading with the offending key named, and durations."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrollment_gateway.algorithms import EXTENDED_KEY_USAGES, KEY_USAGES, KeyAlgorithm, SignatureAlgorithm
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.policy import FieldRule, PolicyRules, format_duration, parse_duration

EXAMPLE = {
    "subject": {"CN": {"require": []}, "O": {"allow": ["Acme Corp"]}},
    "san": {
        "DNS": {"allow": ["*.acme.com"], "deny": ["evil.acme.com"]},
        "IP": {"allow": ["10.0.0.0/8", "2001:db8::/32"]},
    },
    "key_algorithms": ["ECDSA_P256"],
    "signature_algorithms": ["ECDSA_SHA256"],
    "key_usages": ["digital_signature"],
    "extended_key_usages": ["server_auth"],
    "max_ttl": "365d",
}


def test_example_loads():
    rules = PolicyRules.from_json(EXAMPLE)
    assert rules.subject["CN"] == FieldRule(require=())
    assert rules.subject["O"] == FieldRule(allow=("Acme Corp",))
    assert rules.san["DNS"] == FieldRule(allow=("*.acme.com",), deny=("evil.acme.com",))
    assert rules.key_algorithms == (KeyAlgorithm.ECDSA_P256,)
    assert rules.signature_algorithms == (SignatureAlgorithm.ECDSA_SHA256,)
    assert rules.max_ttl_seconds == 365 * 86400
    assert rules.to_json() == EXAMPLE


def test_empty_object_is_the_open_policy():
    assert PolicyRules.from_json({}) == PolicyRules()
    assert PolicyRules().to_json() == {}


THREE_STATE = [
    ({"key_usages": None}, None),  # null: unset, anything
    ({}, None),  # absent: unset, anything
    ({"key_usages": []}, ()),  # empty: nothing allowed
    ({"key_usages": ["crl_sign"]}, ("crl_sign",)),  # whitelist
]


@pytest.mark.parametrize("data,expected", THREE_STATE)
def test_three_states_survive_loading(data, expected):
    rules = PolicyRules.from_json(data)
    assert rules.key_usages == expected
    assert PolicyRules.from_json(rules.to_json()) == rules


MALFORMED = [
    ([], "policy: expected an object"),  # not an object
    ({"max_tll": "1d"}, "policy.max_tll: unknown key"),  # typo in a top-level key
    ({"subject": []}, "subject: expected an object"),  # wrong type
    ({"subject": {"XX": {}}}, "subject.XX: unknown key"),  # unknown attribute
    ({"subject": {"CN": {"allow": "a"}}}, "subject.CN.allow: expected a list"),  # string, not list
    ({"subject": {"CN": {"permit": []}}}, "subject.CN.permit: unknown key"),  # unknown rule key
    ({"subject": {"CN": {"allow": [1]}}}, "subject.CN.allow[0]: expected a string"),  # non-string pattern
    ({"subject": {"*": {"require": []}}}, "subject.*.require: cannot require"),  # require on the catch-all
    ({"san": {"dns": {}}}, "san.dns: unknown key"),  # SAN type names are case-sensitive
    ({"san": {"IP": {"allow": ["10.0.0.0/8", "10.0.0.1/8"]}}}, "san.IP.allow[1]: not a CIDR range"),  # host bits
    ({"san": {"IP": {"deny": ["nope"]}}}, "san.IP.deny[0]: not a CIDR range"),  # bad deny
    ({"san": {"DNS": {"allow": ["a.*.com"]}}}, "san.DNS.allow[0]: not a DNS name"),  # misplaced wildcard
    ({"san": {"DNS": {"deny": None}}}, "san.DNS.deny: expected a list"),  # deny has no null state
    ({"san": {"email": {"require": ["acme.com"]}}}, "san.email.require[0]: not an email pattern"),  # no @
    ({"san": {"URI": {"allow": [""]}}}, "san.URI.allow[0]: empty pattern"),  # empty pattern
    ({"key_algorithms": ["RSA_1024"]}, "key_algorithms[0]: unknown key algorithm 'RSA_1024'"),  # unknown
    ({"key_algorithms": "ECDSA_P256"}, "key_algorithms: expected a list"),  # not a list
    ({"signature_algorithms": ["MD5"]}, "signature_algorithms[0]: unknown signature algorithm"),  # unknown
    ({"key_usages": ["digitalSignature"]}, "key_usages[0]: unknown key usage"),  # wrong spelling
    ({"extended_key_usages": ["x", "serverAuth"]}, "extended_key_usages[0]: unknown extended key usage"),
    ({"max_ttl": 0}, "max_ttl: must be positive"),  # zero
    ({"max_ttl": -5}, "max_ttl: must be between 0 and 36500d"),  # negative
    ({"max_ttl": 10**12}, "max_ttl: must be between 0 and 36500d"),  # beyond any date X.509 can carry
    ({"max_ttl": "99999999999999999999d"}, "max_ttl: not a duration"),  # a digit string that never becomes an int
    ({"max_forward_dating": "-1d"}, "max_forward_dating: not a duration"),  # negative window
    ({"common_name_in_sans": "yes"}, "common_name_in_sans: expected true or false"),  # not a boolean
    ({"max_ttl": "0d"}, "max_ttl: must be positive"),  # zero with a unit
    ({"max_ttl": "90 days"}, "max_ttl: not a duration"),  # unknown unit
    ({"max_ttl": True}, "max_ttl: expected a duration"),  # bool is not an int here
    ({"max_ttl": 1.5}, "max_ttl: expected a duration"),  # float
]


@pytest.mark.parametrize("data,detail", MALFORMED)
def test_malformed_names_the_key(data, detail):
    with pytest.raises(GatewayError) as info:
        PolicyRules.from_json(data)
    assert info.value.kind is ErrorKind.MALFORMED
    assert info.value.detail.startswith(detail), info.value.detail


DURATIONS = [
    ("90d", 90 * 86400),  # days
    ("12h", 12 * 3600),  # hours
    ("30m", 1800),  # minutes
    ("45s", 45),  # seconds
    ("3600", 3600),  # bare number: seconds
    (7200, 7200),  # int
]


@pytest.mark.parametrize("text,seconds", DURATIONS)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "seconds,text",
    [
        (400 * 86400, "400d"),  # whole days
        (36 * 3600, "36h"),  # whole hours, not whole days
        (5400, "5400s"),  # neither
        (1800, "1800s"),  # minutes are written as seconds
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# -- round trip of arbitrary valid rules ----------------------------------------------------------------------

patterns = {
    "DNS": st.sampled_from(["a.com", "*.a.com", ".a.com", "bücher.example"]),
    "IP": st.sampled_from(["10.0.0.0/8", "10.0.0.1", "2001:db8::/32"]),
    "email": st.sampled_from(["a@b.com", "@b.com", "*@*.b.com"]),
    "URI": st.sampled_from(["spiffe://a/*", "https://x"]),
}
subject_patterns = st.text(alphabet="abcXYZ *", min_size=1, max_size=8).filter(str.strip)


def field_rules(pattern):
    maybe = st.none() | st.lists(pattern, max_size=3).map(tuple)
    return st.builds(FieldRule, allow=maybe, deny=st.lists(pattern, max_size=3).map(tuple), require=maybe)


def optional_subset(values):
    return st.none() | st.lists(st.sampled_from(values), unique=True).map(tuple)


rules_strategy = st.builds(
    PolicyRules,
    subject=st.dictionaries(st.sampled_from(["CN", "O", "OU", "C"]), field_rules(subject_patterns)),
    san=st.fixed_dictionaries({}, optional={k: field_rules(v) for k, v in patterns.items()}),
    key_algorithms=optional_subset(list(KeyAlgorithm)),
    signature_algorithms=optional_subset(list(SignatureAlgorithm)),
    key_usages=optional_subset(KEY_USAGES),
    extended_key_usages=optional_subset(list(EXTENDED_KEY_USAGES)),
    max_ttl_seconds=st.none() | st.integers(min_value=1, max_value=10 * 365 * 86400),
)


@given(rules=rules_strategy)
def test_json_round_trip(rules):
    assert PolicyRules.from_json(rules.to_json()) == rules
