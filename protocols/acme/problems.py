"""ACME problem documents (RFC 8555 §6.7, RFC 7807) and the one mapping from the gateway's errors to them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from enrollment_gateway.errors import ErrorKind, GatewayError, Violation

ERROR_PREFIX = "urn:ietf:params:acme:error:"
CONTENT_TYPE = "application/problem+json"

# RFC 8555 §6.7 table, plus alreadyReplaced from RFC 9773 (ARI). Kept as plain names so the URN is built in one place.
PROBLEM_TYPES = frozenset(
    {
        "accountDoesNotExist",
        "alreadyReplaced",
        "alreadyRevoked",
        "badCSR",
        "badNonce",
        "badPublicKey",
        "badRevocationReason",
        "badSignatureAlgorithm",
        "caa",
        "compound",
        "connection",
        "dns",
        "externalAccountRequired",
        "incorrectResponse",
        "invalidContact",
        "malformed",
        "orderNotReady",
        "rateLimited",
        "rejectedIdentifier",
        "serverInternal",
        "tls",
        "unauthorized",
        "unsupportedContact",
        "unsupportedIdentifier",
        "userActionRequired",
    }
)

# acme.sh retries on this exact text rather than on the type, so it must not be reworded.
BAD_NONCE_DETAIL = "JWS has an invalid anti-replay nonce"


@dataclass(frozen=True)
class Subproblem:
    """One entry of a problem's `subproblems` (RFC 8555 §6.7.1), usually naming the offending identifier."""

    type: str
    detail: str
    identifier: tuple[str, str] | None = None  # (type, value) in ACME's spelling: ("dns", "example.com")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": ERROR_PREFIX + self.type, "detail": self.detail}
        if self.identifier is not None:
            out["identifier"] = {"type": self.identifier[0], "value": self.identifier[1]}
        return out


class AcmeProblem(Exception):
    """An ACME error the front end returns as application/problem+json; `type` is the short name (e.g. "badCSR")."""

    def __init__(
        self,
        type: str,
        detail: str,
        status: int = 400,
        *,
        subproblems: Iterable[Subproblem] = (),
        retry_after: int | None = None,
        algorithms: Iterable[str] | None = None,
    ) -> None:
        if type not in PROBLEM_TYPES:
            raise ValueError(f"unknown ACME problem type {type!r}")
        super().__init__(detail)
        self.type = type
        self.detail = detail
        self.status = status
        self.subproblems = tuple(subproblems)
        self.retry_after = retry_after  # seconds; the handler also sends it as a Retry-After header
        self.algorithms = tuple(algorithms) if algorithms is not None else None  # badSignatureAlgorithm only

    @property
    def urn(self) -> str:
        return ERROR_PREFIX + self.type

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.urn, "detail": self.detail, "status": self.status}
        if self.subproblems:
            out["subproblems"] = [s.to_json() for s in self.subproblems]
        if self.algorithms is not None:
            out["algorithms"] = list(self.algorithms)  # RFC 8555 §6.2: the algorithms the server accepts
        return out

    def __repr__(self) -> str:
        return f"AcmeProblem({self.type!r}, {self.detail!r}, {self.status})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AcmeProblem) and self.to_json() == other.to_json()

    __hash__ = Exception.__hash__


# Constructors, one per problem the front end raises itself. Status codes follow Boulder's web/probs.go.


def bad_nonce() -> AcmeProblem:
    return AcmeProblem("badNonce", BAD_NONCE_DETAIL, 400)


def bad_signature_algorithm(detail: str, allowed: Iterable[str]) -> AcmeProblem:
    return AcmeProblem("badSignatureAlgorithm", detail, 400, algorithms=allowed)


def bad_public_key(detail: str) -> AcmeProblem:
    return AcmeProblem("badPublicKey", detail, 400)


def malformed(detail: str, status: int = 400) -> AcmeProblem:
    return AcmeProblem("malformed", detail, status)


def unsupported_media_type(detail: str = "Invalid Content-Type header: expected application/jose+json") -> AcmeProblem:
    # RFC 8555 has no type of its own for this; Boulder sends malformed with HTTP 415.
    return AcmeProblem("malformed", detail, 415)


def not_found(detail: str) -> AcmeProblem:
    return AcmeProblem("malformed", detail, 404)


def unauthorized(detail: str) -> AcmeProblem:
    return AcmeProblem("unauthorized", detail, 403)


def account_not_valid(status: str) -> AcmeProblem:
    """RFC 8555 §7.3.6: a request from a deactivated (or revoked) account is 401 unauthorized, not 403."""
    return AcmeProblem("unauthorized", f"the account is {status}", 401)


def account_does_not_exist(detail: str = "No account exists with the provided key") -> AcmeProblem:
    return AcmeProblem("accountDoesNotExist", detail, 400)


def external_account_required(detail: str = "An external account binding is required") -> AcmeProblem:
    return AcmeProblem("externalAccountRequired", detail, 403)


def rejected_identifier(detail: str, subproblems: Iterable[Subproblem] = ()) -> AcmeProblem:
    return AcmeProblem("rejectedIdentifier", detail, 400, subproblems=subproblems)


def unsupported_identifier(detail: str) -> AcmeProblem:
    return AcmeProblem("unsupportedIdentifier", detail, 400)


def bad_csr(detail: str, subproblems: Iterable[Subproblem] = ()) -> AcmeProblem:
    return AcmeProblem("badCSR", detail, 400, subproblems=subproblems)


def order_not_ready(detail: str) -> AcmeProblem:
    return AcmeProblem("orderNotReady", detail, 403)


def rate_limited(detail: str, retry_after: int | None = None) -> AcmeProblem:
    return AcmeProblem("rateLimited", detail, 429, retry_after=retry_after)


def already_replaced(detail: str) -> AcmeProblem:
    return AcmeProblem("alreadyReplaced", detail, 409)


def already_revoked(detail: str = "Certificate already revoked") -> AcmeProblem:
    return AcmeProblem("alreadyRevoked", detail, 400)


def bad_revocation_reason(detail: str) -> AcmeProblem:
    return AcmeProblem("badRevocationReason", detail, 400)


def invalid_contact(detail: str) -> AcmeProblem:
    return AcmeProblem("invalidContact", detail, 400)


def unsupported_contact(detail: str) -> AcmeProblem:
    return AcmeProblem("unsupportedContact", detail, 400)


def server_internal(status: int = 500) -> AcmeProblem:
    # The detail is fixed: internal errors may carry paths, SQL or key material (STYLE.md, Boulder's probs.go).
    return AcmeProblem("serverInternal", "internal error" if status == 500 else "service unavailable", status)


# Validation failures (RFC 8555 §8): the VA records these on the challenge; status is what the challenge shows.


def connection(detail: str) -> AcmeProblem:
    return AcmeProblem("connection", detail, 400)


def dns(detail: str) -> AcmeProblem:
    return AcmeProblem("dns", detail, 400)


def incorrect_response(detail: str) -> AcmeProblem:
    return AcmeProblem("incorrectResponse", detail, 403)


def tls(detail: str) -> AcmeProblem:
    return AcmeProblem("tls", detail, 400)


# --- the one mapping from the core's vocabulary --------------------------------------------------------------


def _identifier(v: Violation) -> tuple[str, str] | None:
    """The core spells identifier types as SAN types ("DNS", "IP"); ACME wants "dns" / "ip" (RFC 8738)."""
    if v.identifier is None:
        return None
    kind, value = v.identifier
    return ({"dns": "dns", "ip": "ip", "ipaddress": "ip"}.get(kind.lower(), kind.lower()), value)


def _subproblems(err: GatewayError, type: str) -> tuple[Subproblem, ...]:
    return tuple(Subproblem(type, v.message, _identifier(v)) for v in err.subproblems)


def from_gateway_error(err: GatewayError) -> AcmeProblem:
    """The ACME problem for a core error; every ErrorKind has a row (tests/acme proves it).

    POLICY_VIOLATION becomes rejectedIdentifier when every violation names an identifier (the client can fix it by
    dropping names) and badCSR otherwise: a key, lifetime or extension the policy refuses is a fault of the CSR.
    """
    kind, detail = err.kind, err.public_detail
    if kind is ErrorKind.POLICY_VIOLATION:
        if err.subproblems and all(v.identifier is not None for v in err.subproblems):
            kind = ErrorKind.REJECTED_IDENTIFIER
        else:
            kind = ErrorKind.BAD_CSR
    match kind:
        case ErrorKind.MALFORMED:
            return AcmeProblem("malformed", detail, 400, subproblems=_subproblems(err, "malformed"))
        case ErrorKind.UNAUTHENTICATED | ErrorKind.FORBIDDEN:
            return unauthorized(detail)
        case ErrorKind.NOT_FOUND:
            return not_found(detail)
        case ErrorKind.CONFLICT:
            # A state the request does not fit (order not ready, account deactivated…): Boulder answers 409 malformed
            # for conflicts it does not name more precisely; handlers raise orderNotReady themselves where they can.
            return malformed(detail, 409)
        case ErrorKind.REJECTED_IDENTIFIER:
            return rejected_identifier(detail, _subproblems(err, "rejectedIdentifier"))
        case ErrorKind.BAD_CSR:
            return bad_csr(detail, _subproblems(err, "badCSR"))
        case ErrorKind.BAD_PUBLIC_KEY:
            return bad_public_key(detail)
        case ErrorKind.BAD_SIGNATURE_ALGORITHM:
            # The core refuses a CSR's signature algorithm here, not a JWS one: the client must fix its CSR.
            return bad_csr(detail)
        case ErrorKind.ALREADY_REVOKED:
            return already_revoked(detail)
        case ErrorKind.BAD_REVOCATION_REASON:
            return bad_revocation_reason(detail)
        case ErrorKind.RATE_LIMITED:
            return rate_limited(detail, err.retry_after)
        case ErrorKind.TOO_LARGE:
            return malformed(detail, 413)
        case ErrorKind.UNSUPPORTED_MEDIA_TYPE:
            return unsupported_media_type(detail)
        case ErrorKind.UNAVAILABLE:
            problem = server_internal(503)
            problem.retry_after = err.retry_after
            return problem
        case ErrorKind.INTERNAL:
            return server_internal(500)
    raise AssertionError(f"unmapped ErrorKind {kind}")  # pragma: no cover - the parametrized test guards this
