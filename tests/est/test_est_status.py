"""Every ErrorKind has exactly one EST status (the one mapping at the edge), and refusals are plain text."""

from __future__ import annotations

import pytest

from enrollment_gateway.errors import ErrorKind, GatewayError, Violation
from protocols.est import status


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.value)
def test_every_kind_maps_to_a_refusal_status(kind: ErrorKind) -> None:
    response = status.from_gateway_error(GatewayError(kind, "why"))
    assert response.status == status.STATUS[kind] and 400 <= response.status < 600
    assert response.content_type == "text/plain"
    body = response.text
    assert body == ("internal error\n" if kind is ErrorKind.INTERNAL else "why\n")  # internals never leak


@pytest.mark.parametrize("kind,expected", [
    (ErrorKind.MALFORMED, 400),  # not base64, not a form we read
    (ErrorKind.BAD_CSR, 400),  # not a CSR, signature fails, proof-of-possession fails
    (ErrorKind.UNAUTHENTICATED, 401),  # nothing acceptable presented
    (ErrorKind.FORBIDDEN, 403),  # authenticated, not allowed
    (ErrorKind.POLICY_VIOLATION, 403),  # the policy refuses the content
    (ErrorKind.REJECTED_IDENTIFIER, 403),
    (ErrorKind.BAD_PUBLIC_KEY, 403),  # the policy refuses the key
    (ErrorKind.NOT_FOUND, 404),  # unknown label
    (ErrorKind.TOO_LARGE, 413),
    (ErrorKind.UNSUPPORTED_MEDIA_TYPE, 415),
    (ErrorKind.RATE_LIMITED, 429),
])
def test_the_statuses_issue_8_names(kind: ErrorKind, expected: int) -> None:
    assert status.STATUS[kind] == expected


def test_violations_are_listed_one_per_line_and_401_challenges_when_basic_is_accepted() -> None:
    err = GatewayError(ErrorKind.POLICY_VIOLATION, "2 policy violations",
                       (Violation("CN is required"), Violation("IP SANs are not allowed")))
    assert status.from_gateway_error(err).text == "2 policy violations\n- CN is required\n- IP SANs are not allowed\n"
    unauth = status.from_gateway_error(GatewayError(ErrorKind.UNAUTHENTICATED, "no"), basic_realm="EST x")
    assert unauth.headers["WWW-Authenticate"] == 'Basic realm="EST x"'
    limited = status.from_gateway_error(GatewayError(ErrorKind.RATE_LIMITED, "slow down", retry_after=30))
    assert limited.headers["Retry-After"] == "30"
