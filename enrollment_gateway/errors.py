"""The gateway's one error vocabulary; each protocol maps it to its own wire form at the edge."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ErrorKind(enum.Enum):
    MALFORMED = "malformed"  # the request could not be parsed or is structurally wrong
    UNAUTHENTICATED = "unauthenticated"  # no, expired or wrong credentials
    FORBIDDEN = "forbidden"  # authenticated, but not allowed to do this
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # state does not allow the operation (already exists, wrong status)
    REJECTED_IDENTIFIER = "rejected_identifier"  # a name the policy will not certify
    POLICY_VIOLATION = "policy_violation"  # key, TTL, usage or attribute outside the policy
    BAD_CSR = "bad_csr"
    BAD_PUBLIC_KEY = "bad_public_key"
    BAD_SIGNATURE_ALGORITHM = "bad_signature_algorithm"
    ALREADY_REVOKED = "already_revoked"
    BAD_REVOCATION_REASON = "bad_revocation_reason"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNAVAILABLE = "unavailable"  # a dependency (database, signer) is not answering
    INTERNAL = "internal"


@dataclass(frozen=True)
class Violation:
    """One reason a request breaks the policy; `identifier` names the offending SAN when there is one."""

    message: str
    kind: ErrorKind = ErrorKind.POLICY_VIOLATION
    identifier: tuple[str, str] | None = None  # (type, value), e.g. ("DNS", "evil.com")

    def to_json(self) -> dict:
        out: dict = {"kind": self.kind.value, "message": self.message}
        if self.identifier is not None:
            out["identifier"] = {"type": self.identifier[0], "value": self.identifier[1]}
        return out


@dataclass
class GatewayError(Exception):
    """A refusal the client may see. INTERNAL errors reach clients without their detail."""

    kind: ErrorKind
    detail: str
    subproblems: tuple[Violation, ...] = field(default_factory=tuple)
    retry_after: int | None = None  # seconds

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"

    @property
    def public_detail(self) -> str:
        return "internal error" if self.kind is ErrorKind.INTERNAL else self.detail


def malformed(detail: str) -> GatewayError:
    return GatewayError(ErrorKind.MALFORMED, detail)


def not_found(what: str) -> GatewayError:
    return GatewayError(ErrorKind.NOT_FOUND, f"{what} not found")


def forbidden(detail: str = "not allowed") -> GatewayError:
    return GatewayError(ErrorKind.FORBIDDEN, detail)


def conflict(detail: str) -> GatewayError:
    return GatewayError(ErrorKind.CONFLICT, detail)
