"""Domain records: what the gateway knows about CAs, policies, profiles, applications and certificates.

These are plain frozen dataclasses; storage maps them to tables and protocols map them to wire messages.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from .algorithms import HashAlgorithm, KeyAlgorithm


class CAStatus(str, enum.Enum):
    ACTIVE = "active"
    DISABLED = "disabled"
    AWAITING_CERTIFICATE = "awaiting_certificate"  # intermediate whose CSR went to an offline root


class Role(str, enum.Enum):
    ADMIN = "admin"  # manage the application, approve requests, and everything an operator does
    OPERATOR = "operator"  # issue and revoke
    AUDITOR = "auditor"  # read only

    def allows(self, needed: "Role") -> bool:
        order = {Role.AUDITOR: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
        return order[self] >= order[needed]


class IdentityKind(str, enum.Enum):
    USER = "user"
    MACHINE = "machine"


class RequestStatus(str, enum.Enum):
    PENDING = "pending"
    ISSUED = "issued"
    REJECTED = "rejected"
    FAILED = "failed"


class CertificateStatus(str, enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class RevocationReason(str, enum.Enum):
    """RFC 5280 §5.3.1 CRLReason, by the names cryptography's ReasonFlags uses."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"
    AA_COMPROMISE = "aa_compromise"

    @property
    def code(self) -> int:
        return _REASON_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> "RevocationReason":
        for reason, value in _REASON_CODES.items():
            if value == code:
                return reason
        raise ValueError(f"unknown CRL reason code {code}")


_REASON_CODES = {
    RevocationReason.UNSPECIFIED: 0,
    RevocationReason.KEY_COMPROMISE: 1,
    RevocationReason.CA_COMPROMISE: 2,
    RevocationReason.AFFILIATION_CHANGED: 3,
    RevocationReason.SUPERSEDED: 4,
    RevocationReason.CESSATION_OF_OPERATION: 5,
    RevocationReason.CERTIFICATE_HOLD: 6,
    RevocationReason.PRIVILEGE_WITHDRAWN: 9,
    RevocationReason.AA_COMPROMISE: 10,
}


class EnrollmentMethod(str, enum.Enum):
    API = "api"
    ACME = "acme"
    EST = "est"
    SCEP = "scep"


@dataclass(frozen=True)
class CertificateAuthority:
    id: str
    name: str
    key_algorithm: KeyAlgorithm
    hash_algorithm: HashAlgorithm | None
    status: CAStatus
    certificate_pem: str | None  # None while awaiting the offline root's signature
    chain_pem: str  # issuers above this CA, nearest first; empty for a root
    parent_id: str | None  # a CA held in the gateway that signed this one
    path_length: int | None
    validity_days: int
    created_at: dt.datetime
    csr_pem: str | None = None  # for an intermediate under an external root
    external_parent: bool = False

    @property
    def is_root(self) -> bool:
        return self.parent_id is None and not self.external_parent and not self.chain_pem


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    rules: Mapping[str, Any]  # the JSON form of policy.model.PolicyRules
    created_at: dt.datetime
    description: str = ""


@dataclass(frozen=True)
class ProfileDefaults:
    ttl_seconds: int = 90 * 86400
    key_algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256  # for server-generated keys
    hash_algorithm: HashAlgorithm | None = None  # None: what matches the CA key
    key_usages: tuple[str, ...] = ("digital_signature",)
    extended_key_usages: tuple[str, ...] = ("server_auth",)
    is_ca: bool = False
    # Policy OIDs for certificatePolicies; the CA/B Forum BRs want one (e.g. 2.23.140.1.2.1, DV) in TLS leaves.
    certificate_policies: tuple[str, ...] = ()
    # A validity ending after the issuing CA's: "refuse" it, or "truncate" it to the CA's notAfter (Vault's
    # leaf_not_after_behavior). Refusing is the default: a request is never quietly changed.
    not_after_behavior: str = "refuse"


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    ca_id: str | None  # None: self-signed
    policy_id: str
    defaults: ProfileDefaults
    enrollment: Mapping[str, Mapping[str, Any]]  # method name -> its settings; absent means disabled
    approval_required: bool
    auto_renew: bool
    renew_before_days: int
    created_at: dt.datetime
    description: str = ""

    def enabled(self, method: EnrollmentMethod) -> bool:
        settings = self.enrollment.get(method.value)
        return settings is not None and settings.get("enabled", True)


@dataclass(frozen=True)
class Application:
    id: str
    name: str
    description: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Endpoint:
    """A profile attached to an application; `id` is stable and every protocol URL is built from it."""

    id: str
    application_id: str
    profile_id: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Identity:
    """Someone who authenticates: a person or a machine, each with a bearer token (stored hashed)."""

    id: str
    name: str
    kind: IdentityKind
    superadmin: bool
    bypass_approval: bool
    created_at: dt.datetime
    disabled: bool = False
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class Membership:
    application_id: str
    identity_id: str
    role: Role
    created_at: dt.datetime


@dataclass(frozen=True)
class Actor:
    """Who is asking, as the core sees it once a protocol has authenticated them."""

    id: str
    name: str
    superadmin: bool = False
    roles: Mapping[str, Role] = field(default_factory=dict)  # application id -> role
    bypass_approval: bool = False
    via: str = "api"  # the protocol that authenticated this actor

    def role_in(self, application_id: str) -> Role | None:
        if self.superadmin:
            return Role.ADMIN
        return self.roles.get(application_id)


SYSTEM_ACTOR = Actor(id="system", name="system", superadmin=True, via="system")


@dataclass(frozen=True)
class Certificate:
    id: str
    serial: int
    ca_id: str | None
    application_id: str
    profile_id: str
    request_id: str | None
    subject: str  # RFC 4514
    common_name: str | None
    sans: tuple[str, ...]  # "DNS:example.com", "IP:10.0.0.1", "email:a@b", "URI:spiffe://…"
    not_before: dt.datetime
    not_after: dt.datetime
    key_algorithm: str
    signature_algorithm: str
    fingerprint_sha256: str
    certificate_pem: str
    chain_pem: str  # issuers, nearest first
    metadata: Mapping[str, str]
    created_at: dt.datetime
    has_managed_key: bool = False
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None
    invalidity_date: dt.datetime | None = None
    replaces_id: str | None = None
    is_ca: bool = False

    def status_at(self, now: dt.datetime) -> CertificateStatus:
        if self.revoked_at is not None:
            return CertificateStatus.REVOKED
        if self.not_after <= now:
            return CertificateStatus.EXPIRED
        return CertificateStatus.ACTIVE


@dataclass(frozen=True)
class CertificateRequest:
    id: str
    application_id: str
    profile_id: str
    endpoint_id: str | None
    requester_id: str
    requester_name: str
    protocol: str
    status: RequestStatus
    csr_pem: str | None
    managed_key_algorithm: str | None
    subject: str | None
    sans: tuple[str, ...]
    ttl_seconds: int | None
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    metadata: Mapping[str, str]
    created_at: dt.datetime
    certificate_id: str | None = None
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    reason: str | None = None
    replaces_id: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    id: str
    at: dt.datetime
    actor: str  # identity id or protocol principal
    actor_name: str
    action: str  # e.g. "certificate.issued"
    object_type: str
    object_id: str | None
    application_id: str | None
    outcome: str  # "success" | "refused" | "failure"
    details: Mapping[str, Any] = field(default_factory=dict)
