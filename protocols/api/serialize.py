"""Domain records as the JSON the API returns: timestamps RFC 3339 in UTC, serials lowercase hex.

Nothing here ever emits key material or a token hash; private keys leave only through the audited export routes and
tokens only in the one response that creates them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from cryptography import x509

from enrollment_gateway.core.applications import IssuedToken
from enrollment_gateway.core.urls import UrlBuilder
from enrollment_gateway.domain import (
    Application, AuditEvent, Certificate, CertificateAuthority, CertificateRequest, Endpoint, EnrollmentMethod,
    Identity, Membership, Policy, Profile, ProfileDefaults,
)
from enrollment_gateway.policy import format_duration


def ts(value: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, e.g. 2025-01-31T12:00:00Z; naive values are taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def _enum(value: Any) -> Any:
    return getattr(value, "value", value)


def ca(record: CertificateAuthority) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "status": record.status.value,
        "key_algorithm": record.key_algorithm.value,
        "hash_algorithm": _enum(record.hash_algorithm),
        "parent_id": record.parent_id,
        "external_parent": record.external_parent,
        "is_root": record.is_root,
        "path_length": record.path_length,
        "validity_days": record.validity_days,
        "created_at": ts(record.created_at),
        "subject": None,
        "not_before": None,
        "not_after": None,
        "serial": None,
        "certificate_pem": record.certificate_pem,
        "chain_pem": record.chain_pem,
        "csr_pem": record.csr_pem,
    }
    if record.certificate_pem:
        cert = x509.load_pem_x509_certificate(record.certificate_pem.encode())
        out.update(subject=cert.subject.rfc4514_string(), not_before=ts(cert.not_valid_before_utc),
                   not_after=ts(cert.not_valid_after_utc), serial=serial_hex(cert.serial_number))
    return out


def policy(record: Policy) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "description": record.description, "rules": dict(record.rules),
            "created_at": ts(record.created_at)}


def profile_defaults(d: ProfileDefaults) -> dict[str, Any]:
    return {
        "ttl": format_duration(d.ttl_seconds),
        "ttl_seconds": d.ttl_seconds,
        "key_algorithm": d.key_algorithm.value,
        "hash_algorithm": _enum(d.hash_algorithm),
        "key_usages": list(d.key_usages),
        "extended_key_usages": list(d.extended_key_usages),
        "is_ca": d.is_ca,
        "certificate_policies": list(d.certificate_policies),
        "not_after_behavior": d.not_after_behavior,
    }


def profile(record: Profile) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "ca_id": record.ca_id,
        "policy_id": record.policy_id,
        "defaults": profile_defaults(record.defaults),
        "enrollment": {k: dict(v) for k, v in record.enrollment.items()},
        "approval_required": record.approval_required,
        "auto_renew": record.auto_renew,
        "renew_before_days": record.renew_before_days,
        "created_at": ts(record.created_at),
    }


def application(record: Application) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "description": record.description,
            "created_at": ts(record.created_at)}


def endpoint(record: Endpoint, urls: UrlBuilder, attached: Profile | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "application_id": record.application_id,
        "profile_id": record.profile_id,
        "created_at": ts(record.created_at),
        "urls": urls.endpoint_urls(record.id, attached),
    }
    if attached is not None:
        out["profile"] = {"name": attached.name, "approval_required": attached.approval_required,
                          "enrollment": sorted(m.value for m in EnrollmentMethod if attached.enabled(m))}
    return out


def identity(record: Identity) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "kind": record.kind.value,
        "superadmin": record.superadmin,
        "bypass_approval": record.bypass_approval,
        "disabled": record.disabled,
        "expires_at": ts(record.expires_at),
        "created_at": ts(record.created_at),
    }


def issued_token(issued: IssuedToken) -> dict[str, Any]:
    """The one response that carries a token; it is not stored in clear and cannot be shown again."""
    return {"identity": identity(issued.identity), "token": issued.token}


def member(membership: Membership, who: Identity) -> dict[str, Any]:
    return {
        "application_id": membership.application_id,
        "identity_id": membership.identity_id,
        "role": membership.role.value,
        "name": who.name,
        "kind": who.kind.value,
        "bypass_approval": who.bypass_approval,
        "disabled": who.disabled,
        "created_at": ts(membership.created_at),
    }


def certificate(record: Certificate, now: dt.datetime, *, pem: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "serial": serial_hex(record.serial),
        "status": record.status_at(now).value,
        "ca_id": record.ca_id,
        "application_id": record.application_id,
        "profile_id": record.profile_id,
        "request_id": record.request_id,
        "subject": record.subject,
        "common_name": record.common_name,
        "sans": list(record.sans),
        "not_before": ts(record.not_before),
        "not_after": ts(record.not_after),
        "key_algorithm": record.key_algorithm,
        "signature_algorithm": record.signature_algorithm,
        "fingerprint_sha256": record.fingerprint_sha256,
        "metadata": dict(record.metadata),
        "has_managed_key": record.has_managed_key,
        "is_ca": record.is_ca,
        "replaces_id": record.replaces_id,
        "revoked_at": ts(record.revoked_at),
        "revocation_reason": record.revocation_reason,
        "created_at": ts(record.created_at),
    }
    if pem:
        out["certificate_pem"] = record.certificate_pem
        out["chain_pem"] = record.chain_pem
    return out


def renewal_link(item: Any, now: dt.datetime) -> Any:
    """One entry of a renewal chain, whichever form storage returns (a Certificate or its id)."""
    if isinstance(item, Certificate):
        return {"id": item.id, "serial": serial_hex(item.serial), "status": item.status_at(now).value,
                "not_before": ts(item.not_before), "not_after": ts(item.not_after), "replaces_id": item.replaces_id}
    return item


def certificate_details(details: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    out = certificate(details["certificate"], now, pem=True)
    out["x509"] = details["x509"]
    out["renewal_chain"] = [renewal_link(c, now) for c in details.get("renewal_chain") or ()]
    return out


def request(record: CertificateRequest, *, csr: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "status": record.status.value,
        "application_id": record.application_id,
        "profile_id": record.profile_id,
        "endpoint_id": record.endpoint_id,
        "requester_id": record.requester_id,
        "requester_name": record.requester_name,
        "protocol": record.protocol,
        "managed_key_algorithm": record.managed_key_algorithm,
        "subject": record.subject,
        "sans": list(record.sans),
        "ttl_seconds": record.ttl_seconds,
        "not_before": ts(record.not_before),
        "not_after": ts(record.not_after),
        "metadata": dict(record.metadata),
        "certificate_id": record.certificate_id,
        "decided_by": record.decided_by,
        "decided_at": ts(record.decided_at),
        "reason": record.reason,
        "replaces_id": record.replaces_id,
        "created_at": ts(record.created_at),
    }
    if csr:
        out["csr_pem"] = record.csr_pem
    return out


def audit_event(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": ts(event.at),
        "actor": event.actor,
        "actor_name": event.actor_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "application_id": event.application_id,
        "outcome": event.outcome,
        "details": dict(event.details),
    }


def page(items: list[Any], limit: int, offset: int) -> dict[str, Any]:
    """A listing page; `next_offset` is null once a page comes back short (the last page)."""
    return {"items": items, "limit": limit, "offset": offset,
            "next_offset": offset + len(items) if len(items) >= limit else None}
