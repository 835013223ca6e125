"""Domain records with sensible defaults, for the storage tests; override any field by keyword."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import replace
from typing import Any

from enrollment_gateway.algorithms import HashAlgorithm, KeyAlgorithm
from enrollment_gateway.domain import (
    Application,
    AuditEvent,
    CAStatus,
    Certificate,
    CertificateAuthority,
    CertificateRequest,
    Endpoint,
    Identity,
    IdentityKind,
    Policy,
    Profile,
    ProfileDefaults,
    RequestStatus,
)

UTC = dt.timezone.utc
NOW = dt.datetime(2030, 1, 15, 12, 0, 0, 123456, tzinfo=UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def ca(**kw: Any) -> CertificateAuthority:
    base = CertificateAuthority(
        id=new_id(),
        name=f"ca-{new_id()[:8]}",
        key_algorithm=KeyAlgorithm.ECDSA_P256,
        hash_algorithm=HashAlgorithm.SHA256,
        status=CAStatus.ACTIVE,
        certificate_pem="-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
        chain_pem="",
        parent_id=None,
        path_length=1,
        validity_days=3650,
        created_at=NOW,
    )
    return replace(base, **kw)


def policy(**kw: Any) -> Policy:
    base = Policy(id=new_id(), name=f"policy-{new_id()[:8]}", rules={"dns": ["*.example.com"]}, created_at=NOW)
    return replace(base, **kw)


def profile(policy_id: str, ca_id: str | None, **kw: Any) -> Profile:
    base = Profile(
        id=new_id(),
        name=f"profile-{new_id()[:8]}",
        ca_id=ca_id,
        policy_id=policy_id,
        defaults=ProfileDefaults(
            ttl_seconds=3600, hash_algorithm=HashAlgorithm.SHA384, extended_key_usages=("client_auth",)
        ),
        enrollment={"acme": {"enabled": True}, "est": {"enabled": False, "auth": "basic"}},
        approval_required=False,
        auto_renew=True,
        renew_before_days=10,
        created_at=NOW,
        description="a profile",
    )
    return replace(base, **kw)


def application(**kw: Any) -> Application:
    return replace(Application(id=new_id(), name=f"app-{new_id()[:8]}", description="", created_at=NOW), **kw)


def endpoint(application_id: str, profile_id: str) -> Endpoint:
    return Endpoint(id=new_id(), application_id=application_id, profile_id=profile_id, created_at=NOW)


def identity(**kw: Any) -> Identity:
    base = Identity(
        id=new_id(),
        name=f"user-{new_id()[:8]}",
        kind=IdentityKind.USER,
        superadmin=False,
        bypass_approval=False,
        created_at=NOW,
    )
    return replace(base, **kw)


def certificate(application_id: str, profile_id: str, ca_id: str | None, **kw: Any) -> Certificate:
    base = Certificate(
        id=new_id(),
        serial=random.getrandbits(159) | (1 << 158),
        ca_id=ca_id,
        application_id=application_id,
        profile_id=profile_id,
        request_id=None,
        subject="CN=www.example.com",
        common_name="www.example.com",
        sans=("DNS:www.example.com", "IP:10.0.0.1"),
        not_before=NOW - dt.timedelta(hours=1),
        not_after=NOW + dt.timedelta(days=30),
        key_algorithm="ECDSA_P256",
        signature_algorithm="ECDSA_SHA256",
        fingerprint_sha256="ab" * 32,
        certificate_pem="-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n",
        chain_pem="",
        metadata={"env": "prod"},
        created_at=NOW,
    )
    return replace(base, **kw)


def request(application_id: str, profile_id: str, **kw: Any) -> CertificateRequest:
    base = CertificateRequest(
        id=new_id(),
        application_id=application_id,
        profile_id=profile_id,
        endpoint_id=None,
        requester_id="id-1",
        requester_name="alice",
        protocol="api",
        status=RequestStatus.PENDING,
        csr_pem="-----BEGIN CERTIFICATE REQUEST-----\nX\n-----END CERTIFICATE REQUEST-----\n",
        managed_key_algorithm=None,
        subject="CN=www.example.com",
        sans=("DNS:www.example.com",),
        ttl_seconds=3600,
        not_before=None,
        not_after=None,
        metadata={"ticket": "OPS-1"},
        created_at=NOW,
    )
    return replace(base, **kw)


def audit_event(**kw: Any) -> AuditEvent:
    base = AuditEvent(
        id=new_id(),
        at=NOW,
        actor="id-1",
        actor_name="alice",
        action="certificate.issued",
        object_type="certificate",
        object_id=new_id(),
        application_id=None,
        outcome="success",
        details={"serial": "0a", "sans": ["DNS:a"]},
    )
    return replace(base, **kw)


async def seed(tx: Any, *, with_ca: bool = True) -> tuple[Application, Profile, CertificateAuthority | None]:
    """An application, a policy, a CA (optional) and a profile tied to them."""
    authority = ca() if with_ca else None
    if authority is not None:
        await tx.cas.add(authority, b"key")
    pol = policy()
    await tx.policies.add(pol)
    prof = profile(pol.id, authority.id if authority else None)
    await tx.profiles.add(prof)
    app = application()
    await tx.applications.add(app)
    return app, prof, authority
