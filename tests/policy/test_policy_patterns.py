"""Pattern matching per identifier kind: tables for the documented forms, properties for the DNS wildcard."""

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrollment_gateway.policy import check_pattern, match_dns, match_email, match_glob, match_ip, matches, overlaps

DNS_CASES = [
    # (pattern, value, expected)
    ("a.com", "a.com", True),  # exact
    ("a.com", "A.COM", True),  # case-insensitive
    ("a.com.", "a.com", True),  # trailing dot on the pattern ignored
    ("a.com", "a.com.", True),  # trailing dot on the value ignored
    ("a.com", "b.com", False),  # different name
    ("a.com", "x.a.com", False),  # exact does not cover subdomains
    ("*.a.com", "x.a.com", True),  # wildcard covers one label
    ("*.a.com", "X.A.Com", True),  # ... case-insensitively
    ("*.a.com", "a.com", False),  # ... not the base name
    ("*.a.com", "x.y.a.com", False),  # ... not two labels
    ("*.a.com", "xa.com", False),  # ... not a suffix without a dot
    ("*.a.com", "*.a.com", True),  # a requested wildcard matches the same pattern literally
    ("*.A.COM.", "*.a.com", True),  # ... after normalisation
    ("x.a.com", "*.a.com", False),  # ... but an exact pattern only when equal
    ("*.b.a.com", "*.a.com", False),  # ... and not a narrower wildcard pattern
    ("*.a.com", "*.b.a.com", False),  # a wildcard one level deeper is not covered
    (".a.com", "x.y.a.com", True),  # subtree form: any depth below
    (".a.com", "x.a.com", True),  # subtree form: one level
    (".a.com", "a.com", False),  # subtree form: strictly below
    (".a.com", "*.a.com", False),  # subtree form grants no wildcard
    ("bücher.example", "xn--bcher-kva.example", True),  # U-label pattern, A-label value
    ("xn--bcher-kva.example", "BÜCHER.example", True),  # A-label pattern, upper-case U-label value
    ("*.bücher.example", "www.xn--bcher-kva.example", True),  # wildcard over an IDN base
    ("a.*.com", "a.b.com", False),  # a non-leftmost * is not a wildcard, the pattern is invalid
    ("f*.a.com", "foo.a.com", False),  # partial-label wildcards are not supported
    ("a.com", "a..com", False),  # empty label: invalid value
    ("a.com", "", False),  # empty value
    ("", "", False),  # empty pattern matches nothing
    ("a.com", "a b.com", False),  # space: not a hostname
    ("a.com", " a.com", False),  # surrounding whitespace is not trimmed
    ("a.com", "x" * 64 + ".com", False),  # label over 63 octets
]


@pytest.mark.parametrize("pattern,value,expected", DNS_CASES)
def test_match_dns(pattern, value, expected):
    assert match_dns(pattern, value) is expected
    assert matches("DNS", pattern, value) is expected


OVERLAP_CASES = [
    # (deny pattern, requested DNS value, expected): deny must catch wildcards that would cover a denied name
    ("secret.a.com", "*.a.com", True),  # the wildcard certificate would be valid for the denied name
    ("secret.b.a.com", "*.a.com", False),  # two labels below: the wildcard does not cover it
    (".a.com", "*.a.com", True),  # subtree deny catches a wildcard at its base
    (".a.com", "*.x.a.com", True),  # ... and below it
    (".x.a.com", "*.a.com", False),  # a deeper subtree is not covered by a one-label wildcard
    ("*.a.com", "*.a.com", True),  # equal wildcards
    ("a.com", "*.a.com", False),  # the base name is not covered
    ("secret.a.com", "secret.a.com", True),  # plain names behave as match_dns
]


@pytest.mark.parametrize("pattern,value,expected", OVERLAP_CASES)
def test_overlaps_dns(pattern, value, expected):
    assert overlaps("DNS", pattern, value) is expected


IP_CASES = [
    ("10.0.0.0/8", "10.1.2.3", True),  # inside a v4 range
    ("10.0.0.0/8", "11.0.0.1", False),  # outside
    ("10.0.0.1", "10.0.0.1", True),  # single address pattern
    ("10.0.0.1", "10.0.0.2", False),  # single address, other value
    ("2001:db8::/32", "2001:db8::1", True),  # inside a v6 range
    ("2001:db8::/32", "2001:db9::1", False),  # outside
    ("2001:db8::/32", "2001:DB8:0:0::1", True),  # v6 spelling does not matter
    ("0.0.0.0/0", "::1", False),  # v4 range never holds a v6 address
    ("::/0", "10.0.0.1", False),  # and the other way round
    ("10.0.0.0/8", "example.com", False),  # not an address
    ("10.0.0.0/8", "010.0.0.1", False),  # leading zeros are ambiguous, not an address
    ("10.0.0.1/8", "10.0.0.1", False),  # host bits set: invalid pattern
    ("not-a-range", "10.0.0.1", False),  # invalid pattern
]


@pytest.mark.parametrize("pattern,value,expected", IP_CASES)
def test_match_ip(pattern, value, expected):
    assert match_ip(pattern, value) is expected


EMAIL_CASES = [
    ("alice@acme.com", "alice@acme.com", True),  # exact
    ("alice@acme.com", "ALICE@ACME.COM", True),  # case-insensitive
    ("alice@acme.com", "bob@acme.com", False),  # other mailbox
    ("*@acme.com", "bob@acme.com", True),  # any mailbox at the domain
    ("@acme.com", "bob@Acme.Com", True),  # short form, domain case-insensitive
    ("@acme.com", "bob@evil.com", False),  # other domain
    ("@acme.com", "bob@x.acme.com", False),  # subdomain is another domain
    ("*@*.acme.com", "bob@x.acme.com", True),  # one-label subdomain wildcard
    ("@.acme.com", "bob@x.y.acme.com", True),  # any depth below
    ("@acme.com", "acme.com", False),  # value without @
    ("@acme.com", "@acme.com", False),  # value without local part
    ("@bücher.example", "a@xn--bcher-kva.example", True),  # IDNA applies to the domain
]


@pytest.mark.parametrize("pattern,value,expected", EMAIL_CASES)
def test_match_email(pattern, value, expected):
    assert match_email(pattern, value) is expected
    assert matches("email", pattern, value) is expected


GLOB_CASES = [
    ("URI", "spiffe://acme.com/ns/*", "spiffe://acme.com/ns/web/sa/x", True),  # * crosses /
    ("URI", "spiffe://acme.com/ns/*", "spiffe://ACME.com/ns/web", False),  # URI is case-sensitive
    ("URI", "https://[::1]/", "https://[::1]/", True),  # brackets are literal, not a class
    ("URI", "https://a.com/?", "https://a.com/x", False),  # ? is literal
    ("URI", "https://a.com/*", "xhttps://a.com/x", False),  # anchored at the start
    ("CN", "Acme *", "acme web", True),  # attributes compare case-insensitively
    ("O", "Acme Corp", "Acme Corp Ltd", False),  # anchored at the end
    ("OU", "*", "", True),  # * matches the empty value
    ("emailAddress", "@acme.com", "a@acme.com", True),  # emailAddress uses the email rules
]


@pytest.mark.parametrize("kind,pattern,value,expected", GLOB_CASES)
def test_matches_glob_kinds(kind, pattern, value, expected):
    assert matches(kind, pattern, value) is expected


def test_match_glob_case_flag():
    assert match_glob("A*", "abc", case_sensitive=False)
    assert not match_glob("A*", "abc")


CHECK_CASES = [
    ("DNS", "*.a.com", None),  # wildcard is a valid pattern
    ("DNS", ".a.com", None),  # subtree form
    ("DNS", "a.*.com", "not a DNS name or wildcard"),  # misplaced wildcard
    ("DNS", ".*.a.com", "not a DNS name or wildcard"),  # subtree of a wildcard
    ("IP", "10.0.0.0/8", None),  # CIDR
    ("IP", "10.0.0.1/8", "not a CIDR range"),  # host bits set
    ("IP", "2001:db8::/129", "not a CIDR range"),  # prefix too long
    ("email", "@a.com", None),  # domain form
    ("email", "a.com", "not an email pattern (local@domain, *@domain or @domain)"),  # no @
    ("URI", "", "empty pattern"),  # empty
    ("CN", 5, "expected a string"),  # wrong type
]


@pytest.mark.parametrize("kind,pattern,problem", CHECK_CASES)
def test_check_pattern(kind, pattern, problem):
    assert check_pattern(kind, pattern) == problem


# -- properties of the DNS matcher ----------------------------------------------------------------------------

ldh_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
# Lower-case letters that survive IDNA 2003 nameprep unchanged, so the name really is an IDN.
unicode_label = st.text(alphabet="abcdeéüößøåçñжщ日本", min_size=1, max_size=12).filter(
    lambda s: any(ord(c) > 127 for c in s) and "ß" not in s
)
names = st.lists(ldh_label, min_size=1, max_size=4).map(".".join)


@given(label=ldh_label)
def test_wildcard_covers_any_single_label(label):
    assert match_dns("*.a.com", f"{label}.a.com")


@given(labels=st.lists(ldh_label, min_size=2, max_size=5))
def test_wildcard_never_covers_two_or_more_labels(labels):
    assert not match_dns("*.a.com", ".".join(labels) + ".a.com")
    assert not match_dns("*.a.com", "a.com")


@given(name=names, data=st.data())
def test_name_matches_itself_whatever_the_case(name, data):
    flips = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    mixed = "".join(c.upper() if f else c for c, f in zip(name, flips))
    assert match_dns(name, mixed)
    assert match_dns(mixed, name)


@given(label=unicode_label, base=names)
def test_u_label_equals_a_label(label, base):
    a_label = label.encode("idna").decode("ascii")
    assert a_label.startswith("xn--")
    assert match_dns(f"{label}.{base}", f"{a_label}.{base}")
    assert match_dns(f"{a_label}.{base}", f"{label.upper()}.{base}")


@given(pattern=st.text(max_size=40), value=st.text(max_size=40))
def test_matchers_never_raise(pattern, value):
    for kind in ("DNS", "IP", "email", "URI", "CN", "emailAddress"):
        assert isinstance(matches(kind, pattern, value), bool)
        assert isinstance(overlaps(kind, pattern, value), bool)
        assert check_pattern(kind, pattern) is None or isinstance(check_pattern(kind, pattern), str)


# match_glob is linear: a regex built from `*a*a*…*b` backtracked exponentially on a near-miss and froze the event
# loop (found by probing a running gateway). Each case names the answer; the pathological ones must simply return.
@pytest.mark.parametrize("pattern, value, expected", [
    ("*a" * 30 + "*b", "a" * 64, False),  # the near-miss that ran for minutes with a regex
    ("*a" * 30 + "*b", "a" * 64 + "b", True),
    ("*" * 5000, "anything", True),  # 5,000 stars: accepted by the API, must stay cheap
    ("a*b*c", "abc", True),
    ("a*b*c", "aXbYc", True),
    ("a*b*c", "acb", False),
    ("ab*ba", "aba", False),  # prefix and suffix may not overlap
    ("*", "", True),
    ("", "", True),
    ("", "x", False),
    ("x", "x", True),
    ("*.corp", "host.corp", True),
    ("a*a", "a", False),
])
def test_match_glob_is_linear_and_anchored(pattern, value, expected):
    assert match_glob(pattern, value) is expected


@given(st.text(alphabet="ab*", max_size=12), st.text(alphabet="ab", max_size=12))
def test_match_glob_agrees_with_fnmatch(pattern, value):
    # fnmatch also treats `?` and `[` specially; the alphabet leaves only `*`, where both must agree.
    assert match_glob(pattern, value) is fnmatch.fnmatchcase(value, pattern)
