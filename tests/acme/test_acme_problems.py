"""ACME problem documents and the mapping from every core ErrorKind (RFC 8555 §6.7)."""

import pytest

from enrollment_gateway.errors import ErrorKind, GatewayError, Violation
from protocols.acme import problems
from protocols.acme.problems import AcmeProblem, from_gateway_error

# kind -> (ACME type, HTTP status); one row per ErrorKind, and the test below fails if a kind is missing.
EXPECTED = {
    ErrorKind.MALFORMED: ("malformed", 400),
    ErrorKind.UNAUTHENTICATED: ("unauthorized", 403),
    ErrorKind.FORBIDDEN: ("unauthorized", 403),
    ErrorKind.NOT_FOUND: ("malformed", 404),
    ErrorKind.CONFLICT: ("malformed", 409),
    ErrorKind.REJECTED_IDENTIFIER: ("rejectedIdentifier", 400),
    ErrorKind.POLICY_VIOLATION: ("badCSR", 400),  # no identifier on the violation: the CSR must change
    ErrorKind.BAD_CSR: ("badCSR", 400),
    ErrorKind.BAD_PUBLIC_KEY: ("badPublicKey", 400),
    ErrorKind.BAD_SIGNATURE_ALGORITHM: ("badCSR", 400),  # the core judges CSR signatures, not JWS ones
    ErrorKind.ALREADY_REVOKED: ("alreadyRevoked", 400),
    ErrorKind.BAD_REVOCATION_REASON: ("badRevocationReason", 400),
    ErrorKind.RATE_LIMITED: ("rateLimited", 429),
    ErrorKind.TOO_LARGE: ("malformed", 413),
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: ("malformed", 415),
    ErrorKind.UNAVAILABLE: ("serverInternal", 503),
    ErrorKind.INTERNAL: ("serverInternal", 500),
}


def test_every_kind_has_an_expectation():
    assert set(EXPECTED) == set(ErrorKind)


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.value)
def test_every_error_kind_maps(kind):
    problem = from_gateway_error(GatewayError(kind, "detail text", retry_after=7))
    assert (problem.type, problem.status) == EXPECTED[kind]
    body = problem.to_json()
    assert body["type"] == "urn:ietf:params:acme:error:" + EXPECTED[kind][0]
    assert body["status"] == EXPECTED[kind][1]


def test_internal_detail_never_leaks():
    problem = from_gateway_error(GatewayError(ErrorKind.INTERNAL, "password=hunter2 at /etc/secret"))
    assert problem.detail == "internal error"
    assert "hunter2" not in str(problem.to_json())


def test_rate_limited_carries_retry_after():
    problem = from_gateway_error(GatewayError(ErrorKind.RATE_LIMITED, "slow down", retry_after=60))
    assert problem.retry_after == 60
    assert problem.status == 429


def test_rejected_identifier_subproblems_name_identifiers():
    err = GatewayError(
        ErrorKind.REJECTED_IDENTIFIER,
        "2 names refused",
        (
            Violation("blocked domain", ErrorKind.REJECTED_IDENTIFIER, ("DNS", "evil.example")),
            Violation("private IP", ErrorKind.REJECTED_IDENTIFIER, ("IP", "10.0.0.1")),
        ),
    )
    body = from_gateway_error(err).to_json()
    assert body["subproblems"] == [
        {
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "blocked domain",
            "identifier": {"type": "dns", "value": "evil.example"},
        },
        {
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "private IP",
            "identifier": {"type": "ip", "value": "10.0.0.1"},
        },
    ]


@pytest.mark.parametrize(
    "violations, expected",
    [
        # every violation names an identifier: the client can drop those names
        ((Violation("no", identifier=("DNS", "a.example")),), "rejectedIdentifier"),
        # one without an identifier (key size, lifetime…): the CSR itself is wrong
        ((Violation("no", identifier=("DNS", "a.example")), Violation("RSA_1024 not allowed")), "badCSR"),
        # none at all
        ((), "badCSR"),
    ],
)
def test_policy_violation_choice(violations, expected):
    problem = from_gateway_error(GatewayError(ErrorKind.POLICY_VIOLATION, "policy", violations))
    assert problem.type == expected
    assert len(problem.subproblems) == len(violations)


@pytest.mark.parametrize(
    "problem, type_, status",
    [
        (problems.bad_nonce(), "badNonce", 400),
        (problems.bad_signature_algorithm("x", ["ES256"]), "badSignatureAlgorithm", 400),
        (problems.bad_public_key("x"), "badPublicKey", 400),
        (problems.malformed("x"), "malformed", 400),
        (problems.unsupported_media_type(), "malformed", 415),
        (problems.unauthorized("x"), "unauthorized", 403),
        (problems.account_does_not_exist(), "accountDoesNotExist", 400),
        (problems.external_account_required(), "externalAccountRequired", 403),
        (problems.rejected_identifier("x"), "rejectedIdentifier", 400),
        (problems.unsupported_identifier("x"), "unsupportedIdentifier", 400),
        (problems.bad_csr("x"), "badCSR", 400),
        (problems.order_not_ready("x"), "orderNotReady", 403),
        (problems.rate_limited("x", 3), "rateLimited", 429),
        (problems.already_replaced("x"), "alreadyReplaced", 409),
        (problems.already_revoked(), "alreadyRevoked", 400),
        (problems.bad_revocation_reason("x"), "badRevocationReason", 400),
        (problems.server_internal(), "serverInternal", 500),
        (problems.connection("x"), "connection", 400),
        (problems.dns("x"), "dns", 400),
        (problems.incorrect_response("x"), "incorrectResponse", 403),
        (problems.tls("x"), "tls", 400),
        (problems.invalid_contact("x"), "invalidContact", 400),
        (problems.unsupported_contact("x"), "unsupportedContact", 400),
    ],
)
def test_constructors(problem, type_, status):
    assert (problem.type, problem.status) == (type_, status)
    assert problem.to_json()["type"] == problems.ERROR_PREFIX + type_


def test_bad_nonce_detail_is_what_acme_sh_matches():
    assert problems.bad_nonce().to_json()["detail"] == "JWS has an invalid anti-replay nonce"


def test_bad_signature_algorithm_lists_algorithms():
    body = problems.bad_signature_algorithm("nope", ("RS256", "ES256")).to_json()
    assert body["algorithms"] == ["RS256", "ES256"]


def test_server_internal_detail_is_fixed():
    assert problems.server_internal().detail == "internal error"


def test_unknown_type_is_a_programming_error():
    with pytest.raises(ValueError):
        AcmeProblem("notAType", "x")
