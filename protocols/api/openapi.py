"""The OpenAPI 3.1 document for the API, served at GET /api/v1/openapi.json (public, no token).

Built from one table of operations; a test walks the router and checks every route is described here, and
validates the document with openapi-spec-validator.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from enrollment_gateway.algorithms import (EXTENDED_KEY_USAGES, KEY_USAGES, HashAlgorithm, KeyAlgorithm,
                                           SignatureAlgorithm)
from enrollment_gateway.domain import (CAStatus, CertificateStatus, IdentityKind, RequestStatus,
                                       RevocationReason, Role)
from enrollment_gateway.policy.model import ANY_OTHER_ATTRIBUTE, SAN_TYPES, SUBJECT_ATTRIBUTES

from .middleware import public
from .problems import CONTENT_TYPE as PROBLEM_TYPE
from .profiles import ENROLLMENT_SETTINGS
from .wire import API_PREFIX, ID_PATTERN, json_response


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), extra: bool = False,
         description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": extra}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    return out


def _items(name: str, paged: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {"items": {"type": "array", "items": _ref(name)}}
    if paged:
        props.update(PAGED)
    return _obj(props, tuple(props))


S = {"type": "string"}
NS = {"type": ["string", "null"]}
TS = {"type": ["string", "null"], "format": "date-time"}
B = {"type": "boolean"}
I = {"type": "integer"}
NI = {"type": ["integer", "null"]}
MAP = {"type": "object", "additionalProperties": {"type": "string"}}
STRS = {"type": "array", "items": S}
DURATION = {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^\s*\d+\s*[smhd]?\s*$"}],
            "description": "seconds, or a duration such as 90d, 12h, 30m"}
SUBJECT = {"oneOf": [MAP, {"type": "array", "items": {"type": "array", "items": S, "minItems": 2, "maxItems": 2}}],
           "description": 'e.g. {"CN": "web.example.com", "O": "Acme"} or [["CN", "x"], ["OU", "a"]]'}


def _enum(values) -> dict[str, Any]:
    return {"type": "string", "enum": [getattr(v, "value", v) for v in values]}


def _out(props: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A response object: every property is always sent, except those in `optional` (absent, not null)."""
    return _obj(props, tuple(k for k in props if k not in optional))


def _strs(item: dict[str, Any], description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "items": item}
    if description:
        out["description"] = description
    return out


ID = {"type": "string", "pattern": f"^{ID_PATTERN}$"}
OID = {"type": "string", "pattern": r"^[0-2](\.(0|[1-9][0-9]*))+$"}
KEY_USAGE_LIST = _strs(_enum(KEY_USAGES))
EKU_LIST = _strs(_enum(EXTENDED_KEY_USAGES))

# policy.model.PolicyRules' JSON form. Each list has three states: absent or null allows anything, [] forbids
# everything, values are a whitelist. A test checks these keys against what PolicyRules.from_json accepts.
FIELD_RULE = _obj({
    "allow": {"type": ["array", "null"], "items": S,
              "description": "patterns a value must match (e.g. *.example.com, 10.0.0.0/8); [] forbids any"},
    "deny": {"type": ["array", "null"], "items": S, "description": "patterns refused before allow is read"},
    "require": {"type": ["array", "null"], "items": S,
                "description": "[]: at least one value must be present; patterns: each must be matched"},
})
POLICY_RULES = _obj({
    "subject": _obj({name: _ref("FieldRule") for name in (*SUBJECT_ATTRIBUTES, ANY_OTHER_ATTRIBUTE)},
                    description="subject attribute -> rule; '*' governs every attribute not named"),
    "san": _obj({name: _ref("FieldRule") for name in SAN_TYPES},
                description="subjectAltName type -> rule; an absent type allows anything"),
    "key_algorithms": {"type": ["array", "null"], "items": _enum(KeyAlgorithm)},
    "signature_algorithms": {"type": ["array", "null"], "items": _enum(SignatureAlgorithm)},
    "key_usages": {"type": ["array", "null"], "items": _enum(KEY_USAGES)},
    "extended_key_usages": {"type": ["array", "null"], "items": _enum(EXTENDED_KEY_USAGES)},
    "max_ttl": {**DURATION, "description": "longest validity, e.g. 397d; absent: no limit"},
    "common_name_in_sans": {"type": "boolean", "description": "the subject CN must name one of the SANs (CA/B BR "
                                                              "§7.1.2.7.2); absent: false"},
    # Not DURATION: the parser takes 0 here (no forward-dating at all), which max_ttl refuses.
    "max_forward_dating": {"oneOf": [{"type": "integer", "minimum": 0},
                                     {"type": "string", "pattern": r"^\s*\d+\s*[smhd]?\s*$"}],
                           "description": "how far ahead of now a notBefore may lie (0: not at all); absent: one day"},
}, description="what a profile using this policy may certify; absent settings allow anything")

DEFAULTS_FIELDS: dict[str, Any] = {
    "key_algorithm": {**_enum(KeyAlgorithm), "description": "for server-generated keys"},
    "hash_algorithm": {"type": ["string", "null"], "enum": [h.value for h in HashAlgorithm] + [None],
                       "description": "null: the one matching the CA key"},
    "key_usages": KEY_USAGE_LIST, "extended_key_usages": EKU_LIST, "is_ca": B,
    "certificate_policies": _strs(OID, "certificatePolicies OIDs, e.g. 2.23.140.1.2.1"),
    "not_after_behavior": {"type": "string", "enum": ["refuse", "truncate"], "default": "refuse",
                           "description": "a validity ending after the issuing CA's: refused, or cut to its end"},
}


def _enrollment_schemas() -> dict[str, Any]:
    """Each method's settings object, from profiles.ENROLLMENT_SETTINGS (the table the API validates with)."""
    out: dict[str, Any] = {}
    for method, settings in ENROLLMENT_SETTINGS.items():
        props = {name: {"type": kind, "description": text} for name, (kind, text) in settings.items()}
        out[f"{method.capitalize()}EnrollmentSettings"] = _obj(props)
    out["Enrollment"] = _obj({m: _ref(f"{m.capitalize()}EnrollmentSettings") for m in ENROLLMENT_SETTINGS},
                             description="the enrollment methods this profile offers: a method is enabled by being "
                                         "present (and not \"enabled\": false)")
    return out


PAGED = {"limit": I, "offset": I, "next_offset": {"type": ["integer", "null"], "description": "null on the last page"}}

SCHEMAS: dict[str, Any] = {
    "Violation": _obj({"kind": S, "message": S, "identifier": _obj({"type": S, "value": S}, ("type", "value"))},
                      ("kind", "message")),
    "Problem": _obj({"type": S, "title": S, "status": I, "detail": S,
                     "violations": {"type": "array", "items": _ref("Violation")}},
                    ("type", "title", "status", "detail"), True),
    "CA": _out({"id": S, "name": S, "status": _enum(CAStatus), "key_algorithm": S, "hash_algorithm": NS,
                "parent_id": NS, "external_parent": B, "is_root": B, "path_length": NI, "validity_days": I,
                "created_at": TS, "subject": NS, "not_before": TS, "not_after": TS, "serial": NS,
                "certificate_pem": NS, "chain_pem": S, "csr_pem": NS}),
    "CACreate": _obj({
        "type": {**_enum(("root", "intermediate", "external_intermediate", "import")),
                 "description": "import takes certificate_pem and key_pem, or pkcs12 and password; the others take "
                                "subject and the key settings (intermediate: parent_id too)"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200}, "subject": SUBJECT,
        "key_algorithm": _enum(KeyAlgorithm), "hash_algorithm": _enum(HashAlgorithm),
        "validity_days": {"type": "integer", "minimum": 1, "maximum": 36500},
        "path_length": {"type": "integer", "minimum": 0, "maximum": 16}, "parent_id": S, "certificate_pem": S,
        "key_pem": S, "chain_pem": S, "pkcs12": {"type": "string", "contentEncoding": "base64"}, "password": S,
    }, ("type", "name")),
    "CAStatusChange": _obj({"status": _enum((CAStatus.ACTIVE, CAStatus.DISABLED))}, ("status",)),
    "CACertificateUpload": _obj({"certificate_pem": S, "chain_pem": S}, ("certificate_pem",)),
    "FieldRule": FIELD_RULE,
    "PolicyRules": POLICY_RULES,
    "Policy": _out({"id": S, "name": S, "description": S, "rules": _ref("PolicyRules"), "created_at": TS}),
    "PolicyCreate": _obj({"name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": S,
                          "rules": _ref("PolicyRules"),
                          "preset": {"type": "string", "description": "a name from GET /policy-presets"}},
                         ("name",), description="exactly one of rules and preset"),
    "PolicyUpdate": _obj({"name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": S,
                          "rules": _ref("PolicyRules"), "preset": S},
                         description="only the fields given change; rules and preset exclude each other"),
    "PresetDefaults": _obj({"ttl_seconds": I, **DEFAULTS_FIELDS},
                           description="the profile defaults that satisfy the preset"),
    "PolicyPreset": _out({"name": S, "rules": _ref("PolicyRules"), "profile_defaults": _ref("PresetDefaults")}),
    "ProfileDefaults": _out({"ttl": S, "ttl_seconds": I, **DEFAULTS_FIELDS}),
    "ProfileDefaultsWrite": _obj({"ttl": DURATION, **DEFAULTS_FIELDS},
                                 description="only the fields given change; the rest keep the preset's or current"),
    **_enrollment_schemas(),
    "Profile": _out({"id": S, "name": S, "description": S, "ca_id": NS, "policy_id": S,
                     "defaults": _ref("ProfileDefaults"), "enrollment": _ref("Enrollment"), "approval_required": B,
                     "auto_renew": B, "renew_before_days": I, "created_at": TS}),
    "ProfileCreate": _obj({
        "name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": S,
        "ca_id": {**NS, "description": "the issuing CA; null or absent: self-signed"}, "policy_id": S,
        "preset": {"type": "string", "description": "start from this preset's defaults"},
        "defaults": _ref("ProfileDefaultsWrite"),
        "enrollment": {**_ref("Enrollment"), "description": "absent: the API only"},
        "approval_required": B, "auto_renew": B,
        "renew_before_days": {"type": "integer", "minimum": 0, "maximum": 3650}}, ("name", "policy_id")),
    "ProfileUpdate": _obj({
        "name": {"type": "string", "minLength": 1}, "description": S, "ca_id": NS, "policy_id": S,
        "defaults": _ref("ProfileDefaultsWrite"), "enrollment": _ref("Enrollment"), "approval_required": B,
        "auto_renew": B, "renew_before_days": {"type": "integer", "minimum": 0, "maximum": 3650}},
        description="only the fields given change; enrollment is replaced whole"),
    "Application": _out({"id": S, "name": S, "description": S, "created_at": TS}),
    "ApplicationCreate": _obj({"name": {"type": "string", "minLength": 1, "maxLength": 200},
                               "description": {"type": "string", "maxLength": 2000}}, ("name",)),
    "ApplicationUpdate": _obj({"description": {"type": "string", "maxLength": 2000}}, ("description",)),
    "EndpointUrls": _obj({"api": S, "acme_directory": S, "est": S, "scep": S},
                         description="one URL per enrollment method the profile enables, and no other"),
    "EndpointProfile": _out({"name": S, "approval_required": B,
                             "enrollment": _strs(_enum(ENROLLMENT_SETTINGS), "the methods enabled")}),
    "Endpoint": _out({"id": S, "application_id": S, "profile_id": S, "created_at": TS, "urls": _ref("EndpointUrls"),
                      "profile": _ref("EndpointProfile")}, optional=("profile",)),
    "Attach": _obj({"profile_id": S}, ("profile_id",)),
    "Member": _out({"application_id": S, "identity_id": S, "role": _enum(Role), "name": S, "kind": _enum(IdentityKind),
                    "bypass_approval": B, "disabled": B, "created_at": TS}),
    "Membership": _out({"application_id": S, "identity_id": S, "role": _enum(Role), "created_at": TS}),
    "MemberAdd": _obj({"identity_id": S, "role": _enum(Role)}, ("identity_id", "role")),
    "Identity": _out({"id": S, "name": S, "kind": _enum(IdentityKind), "superadmin": B, "bypass_approval": B,
                      "disabled": B, "expires_at": TS, "created_at": TS}),
    "IdentityCreate": _obj({"name": {"type": "string", "minLength": 1, "maxLength": 200}, "kind": _enum(IdentityKind),
                            "superadmin": B, "bypass_approval": B, "application_id": S, "role": _enum(Role),
                            "expires_at": TS}, ("name",)),
    "IdentityChange": _obj({"disabled": {"type": "boolean", "description": "absent: false (enable)"}}),
    "MachineIdentityCreate": _obj({"name": {"type": "string", "minLength": 1, "maxLength": 200},
                                   "role": {**_enum(Role), "description": "absent: operator"}, "bypass_approval": B,
                                   "expires_at": TS}, ("name",)),
    "IssuedToken": _out({"identity": _ref("Identity"), "token": {"type": "string", "description": "shown once"}}),
    "X509Extension": _out({"name": S, "oid": S, "critical": B, "value": {"description": "a readable rendering"}}),
    "X509Description": _out({"subject": S, "issuer": S, "serial": S, "not_before": TS, "not_after": TS,
                             "sans": STRS, "key_algorithm": S, "signature_algorithm": S,
                             "fingerprints": _out({"sha256": S, "sha1": S}),
                             "extensions": {"type": "array", "items": _ref("X509Extension")}}),
    "Certificate": _out({
        "id": S, "serial": {"type": "string", "description": "lowercase hex"}, "status": _enum(CertificateStatus),
        "ca_id": NS, "application_id": S, "profile_id": S, "request_id": NS, "subject": S, "common_name": NS,
        "sans": STRS, "not_before": TS, "not_after": TS, "key_algorithm": S, "signature_algorithm": S,
        "fingerprint_sha256": S, "metadata": MAP, "has_managed_key": B, "is_ca": B, "replaces_id": NS,
        "revoked_at": TS, "revocation_reason": NS, "created_at": TS,
        "certificate_pem": {"type": "string", "description": "on issuance, details and the latest bundle"},
        "chain_pem": {"type": "string", "description": "the issuers, leaf's issuer first"},
        "x509": _ref("X509Description"),
        "renewal_chain": _strs(S, "ids of the certificates linked by replaces, oldest first, this one included"),
    }, optional=("certificate_pem", "chain_pem", "x509", "renewal_chain")),
    "IssueRequest": _obj({
        "csr": {"type": "string", "description": "PKCS#10, PEM or base64 DER; omit for a server-generated key"},
        "key_algorithm": {**_enum(KeyAlgorithm), "description": "a server-generated key (instead of csr)"},
        "subject": SUBJECT,
        "sans": {"type": "array", "items": S, "description": "e.g. DNS:web.example.com, IP:10.0.0.1"},
        "ttl": DURATION, "not_before": TS, "not_after": TS, "metadata": MAP,
        "replaces": {"type": "string", "description": "id of the certificate this one renews"},
    }, description="a csr, or a key_algorithm with subject and sans; every field has a profile default"),
    "CertificateRequest": _out({
        "id": S, "status": _enum(RequestStatus), "application_id": S, "profile_id": S, "endpoint_id": NS,
        "requester_id": S, "requester_name": S, "protocol": S, "managed_key_algorithm": NS, "subject": NS,
        "sans": STRS, "ttl_seconds": NI, "not_before": TS, "not_after": TS, "metadata": MAP, "certificate_id": NS,
        "decided_by": NS, "decided_at": TS, "reason": NS, "replaces_id": NS, "created_at": TS, "csr_pem": NS,
    }, optional=("csr_pem",)),
    "Approval": _out({"request": _ref("CertificateRequest"), "certificate": _ref("Certificate")}),
    "Reject": _obj({"reason": {"type": "string", "maxLength": 2000}}),
    "MetadataUpdate": _obj({"metadata": MAP}, ("metadata",)),
    "Pkcs12Export": _obj({"password": {"type": "string", "minLength": 1, "maxLength": 1024},
                          "alias": {"type": "string", "maxLength": 200}}, ("password",)),
    "Revoke": _obj({"reason": {**_enum(RevocationReason),
                               "description": "RFC 5280 reason; the RFC spelling (keyCompromise) is accepted too; "
                                              "absent: unspecified"},
                    "invalidity_date": TS}),
    "RevokeSerial": _obj({"serial": {"type": "string", "description": "hexadecimal"},
                          "reason": {**_enum(RevocationReason)}, "invalidity_date": TS}, ("serial",)),
    "AcmeEabKey": _out({"kid": S, "endpoint_id": S, "reusable": B, "created_at": TS, "created_by": S,
                        "used_at": TS, "account_id": NS, "revoked_at": TS,
                        "hmac_key": {"type": "string", "description": "base64url, no padding; only at creation"}},
                       optional=("hmac_key",)),
    "AcmeEabKeyCreate": _obj({"reusable": {"type": "boolean",
                                           "description": "bind many accounts (false: the first one only)"}}),
    "ScepSettings": _out({"endpoint_id": S, "challenge_mode": {"type": ["string", "null"],
                                                               "enum": ["static", "one_time", "webhook", None]},
                          "webhook_url": NS, "include_root": B, "updated_at": TS, "updated_by": NS}),
    "ScepSettingsWrite": _obj({
        "challenge_mode": {"type": "string", "enum": ["static", "one_time", "webhook"],
                           "description": "static: one shared password; one_time: minted with POST scep-challenges; "
                                          "webhook: the URL answers {\"allow\": true} for the CSR and challenge"},
        "static_challenge": {"type": "string", "description": "8 to 255 characters; write-only"},
        "webhook_url": S, "include_root": {"type": "boolean", "description": "GetCACert includes the root"}},
        ("challenge_mode",)),
    "ScepChallengeCreate": _obj({"ttl": {"type": ["string", "integer"], "description": "e.g. \"1h\" (default)"}}),
    "ScepChallenge": _out({"challenge": {"type": "string", "description": "shown once"}, "expires_at": TS}),
    "EstSettings": _out({
        "auth": _enum(("basic", "certificate", "basic_or_certificate", "basic_and_certificate")),
        "anchors_pem": {"type": "string", "description": "manufacturer (IDevID) CA certificates, PEM"},
        "trust_gateway_certificates": B, "reenroll": B, "serverkeygen": B, "proof_of_possession": B,
        "url": {"type": "string", "description": "the endpoint's EST base URL"}}),
    "EstSettingsPatch": _obj({
        "auth": _enum(("basic", "certificate", "basic_or_certificate", "basic_and_certificate")),
        "anchors_pem": {"type": "string", "description": "manufacturer (IDevID) CA certificates, PEM"},
        "trust_gateway_certificates": B, "reenroll": B, "serverkeygen": B, "proof_of_possession": B}),
    "EstCredential": _out({"username": S, "endpoint_id": S, "created_at": TS, "created_by": S, "revoked_at": TS,
                           "password": {"type": "string", "description": "only at creation"}},
                          optional=("password",)),
    "EstCredentialCreate": _obj({"username": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"}}),
    "AuditEvent": _out({"id": S, "at": TS, "actor": S, "actor_name": S, "action": S, "object_type": S,
                        "object_id": NS, "application_id": NS, "outcome": S,
                        "details": {"type": "object", "additionalProperties": True,
                                    "description": "what the action recorded; its shape depends on the action"}}),
}
for _name in ("CA", "Policy", "PolicyPreset", "Profile", "Application", "Endpoint", "Member", "Identity",
              "AcmeEabKey", "EstCredential"):
    SCHEMAS[f"{_name}List"] = _items(_name)
for _name in ("Certificate", "CertificateRequest", "AuditEvent"):
    SCHEMAS[f"{_name}Page"] = _items(_name, paged=True)


def _q(name: str, schema: dict[str, Any], description: str = "", *, array: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": "query", "required": False,
                           "schema": {"type": "array", "items": schema} if array else schema}
    if array:
        out.update(style="form", explode=True)
    if description:
        out["description"] = description
    return out


PAGING = (_q("limit", {"type": "integer", "minimum": 1, "maximum": 500}), _q("offset", {"type": "integer", "minimum": 0}))
AUDIT_Q = (_q("actor", S, "identity id"), _q("action", S, "e.g. certificate.issued"),
           _q("since", {"type": "string", "format": "date-time"}), _q("until", {"type": "string", "format": "date-time"}),
           *PAGING)
PEM_CHAIN = {"application/pem-certificate-chain": {"schema": S}}

# (method, path, tag, summary, request schema, {status: response}, query parameters)
OPERATIONS: tuple[tuple[str, str, str, str, str | None, dict[str, Any], tuple[dict, ...]], ...] = (
    ("get", "/openapi.json", "meta", "This document (no token needed)", None, {"200": "object"}, ()),
    ("get", "/cas", "cas", "List certificate authorities (superadmin)", None, {"200": "CAList"}, ()),
    ("post", "/cas", "cas", "Create a root, an intermediate, an intermediate under an external root, or import one",
     "CACreate", {"201": "CA"}, ()),
    ("get", "/cas/{id}", "cas", "One certificate authority", None, {"200": "CA"}, ()),
    ("patch", "/cas/{id}", "cas", "Enable or disable a CA", "CAStatusChange", {"200": "CA"}, ()),
    ("get", "/cas/{id}/csr", "cas", "The CSR of an intermediate awaiting its external root (PEM)", None,
     {"200": {"application/pkcs10": {"schema": S}}}, ()),
    ("get", "/cas/{id}/certificate", "cas", "The CA certificate (PEM), with chain=true its issuers too", None,
     {"200": PEM_CHAIN}, (_q("chain", B),)),
    ("post", "/cas/{id}/certificate", "cas", "Upload the certificate an external root signed", "CACertificateUpload",
     {"200": "CA"}, ()),
    ("get", "/policies", "policies", "List policies", None, {"200": "PolicyList"}, ()),
    ("post", "/policies", "policies", "Create a policy from rules or a preset", "PolicyCreate", {"201": "Policy"}, ()),
    ("get", "/policies/{id}", "policies", "One policy", None, {"200": "Policy"}, ()),
    ("put", "/policies/{id}", "policies", "Change a policy", "PolicyUpdate", {"200": "Policy"}, ()),
    ("delete", "/policies/{id}", "policies", "Delete an unused policy", None, {"204": None}, ()),
    ("get", "/policy-presets", "policies", "Built-in policy presets", None, {"200": "PolicyPresetList"}, ()),
    ("get", "/profiles", "profiles", "List profiles", None, {"200": "ProfileList"}, ()),
    ("post", "/profiles", "profiles", "Create a profile", "ProfileCreate", {"201": "Profile"}, ()),
    ("get", "/profiles/{id}", "profiles", "One profile", None, {"200": "Profile"}, ()),
    ("patch", "/profiles/{id}", "profiles", "Change a profile", "ProfileUpdate", {"200": "Profile"}, ()),
    ("delete", "/profiles/{id}", "profiles", "Delete a detached profile", None, {"204": None}, ()),
    ("get", "/applications", "applications", "Applications the caller belongs to", None,
     {"200": "ApplicationList"}, ()),
    ("post", "/applications", "applications", "Create an application (superadmin)", "ApplicationCreate",
     {"201": "Application"}, ()),
    ("get", "/applications/{id}", "applications", "One application", None, {"200": "Application"}, ()),
    ("patch", "/applications/{id}", "applications", "Change the description", "ApplicationUpdate",
     {"200": "Application"}, ()),
    ("delete", "/applications/{id}", "applications", "Delete an application without endpoints", None,
     {"204": None}, ()),
    ("get", "/applications/{id}/endpoints", "applications", "Attached profiles with their protocol URLs", None,
     {"200": "EndpointList"}, ()),
    ("post", "/applications/{id}/endpoints", "applications", "Attach a profile", "Attach", {"201": "Endpoint"}, ()),
    ("delete", "/applications/{id}/endpoints/{endpoint_id}", "applications", "Detach a profile", None,
     {"204": None}, ()),
    ("post", "/applications/{id}/endpoints/{endpoint_id}/acme-eab-keys", "acme",
     "Create an ACME External Account Binding key for the endpoint (MAC key shown once)", "AcmeEabKeyCreate",
     {"201": "AcmeEabKey"}, ()),
    ("get", "/applications/{id}/endpoints/{endpoint_id}/acme-eab-keys", "acme",
     "The endpoint's ACME EAB key ids and their state", None, {"200": "AcmeEabKeyList"}, ()),
    ("delete", "/applications/{id}/endpoints/{endpoint_id}/acme-eab-keys/{kid}", "acme",
     "Revoke an EAB key: no new account may bind with it", None, {"204": None}, ()),
    ("put", "/applications/{id}/endpoints/{endpoint_id}/scep", "scep",
     "Choose how the endpoint's SCEP service checks challenge passwords", "ScepSettingsWrite",
     {"200": "ScepSettings"}, ()),
    ("get", "/applications/{id}/endpoints/{endpoint_id}/scep", "scep", "The endpoint's SCEP settings", None,
     {"200": "ScepSettings"}, ()),
    ("post", "/applications/{id}/endpoints/{endpoint_id}/scep-challenges", "scep",
     "Mint a one-time SCEP challenge password (shown once)", "ScepChallengeCreate", {"201": "ScepChallenge"}, ()),
    ("get", "/applications/{id}/endpoints/{endpoint_id}/est", "est",
     "The endpoint's EST settings: device authentication, trust anchors, options", None, {"200": "EstSettings"}, ()),
    ("patch", "/applications/{id}/endpoints/{endpoint_id}/est", "est",
     "Change some EST settings of the endpoint", "EstSettingsPatch", {"200": "EstSettings"}, ()),
    ("post", "/applications/{id}/endpoints/{endpoint_id}/est/credentials", "est",
     "Issue a device username and password for HTTP Basic (password shown once)", "EstCredentialCreate",
     {"201": "EstCredential"}, ()),
    ("get", "/applications/{id}/endpoints/{endpoint_id}/est/credentials", "est",
     "The endpoint's EST usernames and their state", None, {"200": "EstCredentialList"}, ()),
    ("delete", "/applications/{id}/endpoints/{endpoint_id}/est/credentials/{username}", "est",
     "Revoke an EST credential", None, {"204": None}, ()),
    ("get", "/applications/{id}/members", "applications", "Members and their roles", None, {"200": "MemberList"}, ()),
    ("post", "/applications/{id}/members", "applications", "Add a member", "MemberAdd", {"201": "Membership"}, ()),
    ("delete", "/applications/{id}/members/{identity_id}", "applications", "Remove a member", None, {"204": None}, ()),
    ("post", "/applications/{id}/machine-identities", "applications",
     "Create a machine identity in the application (token shown once)", "MachineIdentityCreate",
     {"201": "IssuedToken"}, ()),
    ("get", "/applications/{id}/audit", "audit", "The application's audit trail", None, {"200": "AuditEventPage"},
     AUDIT_Q),
    ("get", "/applications/{id}/profiles/{profile_id}/latest", "certificates",
     "Newest active certificate of an application and profile, with chain", None, {"200": "Certificate"}, ()),
    ("get", "/identities", "identities", "List identities (superadmin)", None, {"200": "IdentityList"}, ()),
    ("post", "/identities", "identities", "Create a user or machine identity (token shown once)", "IdentityCreate",
     {"201": "IssuedToken"}, ()),
    ("patch", "/identities/{id}", "identities", "Disable or enable an identity", "IdentityChange",
     {"200": "Identity"}, ()),
    ("post", "/identities/{id}/token", "identities", "Replace the identity's token (shown once)", None,
     {"200": "IssuedToken"}, ()),
    ("post", "/endpoints/{endpoint_id}/certificates", "certificates",
     "Issue from a CSR or a server-generated key; 202 when approval is required", "IssueRequest",
     {"201": "Certificate", "202": "CertificateRequest"}, ()),
    ("get", "/certificates", "certificates", "List certificates with filters", None, {"200": "CertificatePage"}, (
        _q("application_id", S), _q("status", _enum(CertificateStatus)), _q("profile_id", S),
        _q("q", S, "substring of the common name or a SAN"), _q("expiring_within_days", {"type": "integer"}),
        _q("metadata", S, "name=value; repeat for several", array=True), *PAGING)),
    ("get", "/certificates/{id}", "certificates", "Certificate details (X.509 description, renewal chain)", None,
     {"200": "Certificate"}, ()),
    ("patch", "/certificates/{id}", "certificates", "Replace the metadata", "MetadataUpdate",
     {"200": "Certificate"}, ()),
    ("delete", "/certificates/{id}", "certificates", "Remove from the inventory (does not revoke)", None,
     {"204": None}, ()),
    ("get", "/certificates/{id}/pem", "certificates", "PEM: certificate, chain, and the key if managed and asked for",
     None, {"200": {"application/pem-certificate-chain": {"schema": S}, "application/x-pem-file": {"schema": S}}},
     (_q("include_key", B), _q("chain", B))),
    ("post", "/certificates/{id}/pkcs12", "certificates", "PKCS#12 with the managed key, protected by a password",
     "Pkcs12Export", {"200": {"application/x-pkcs12": {"schema": {"type": "string", "format": "binary"}}}}, ()),
    ("post", "/certificates/{id}/revoke", "revocation", "Revoke (operator); shows on the CRL and OCSP within seconds",
     "Revoke", {"200": "Certificate"}, ()),
    ("post", "/certificates/{id}/release-hold", "revocation", "Release a certificateHold (removeFromCRL)", None,
     {"200": "Certificate"}, ()),
    ("post", "/cas/{id}/revoke-serial", "revocation", "Revoke a certificate by its issuer and serial",
     "RevokeSerial", {"200": "Certificate"}, ()),
    ("post", "/cas/{id}/revoke", "revocation",
     "Revoke an intermediate on its parent's CRL and OCSP, and disable it (superadmin)", "Revoke", {"200": "CA"}, ()),
    ("get", "/requests", "requests", "List certificate requests", None, {"200": "CertificateRequestPage"},
     (_q("application_id", S), _q("status", _enum(RequestStatus)), *PAGING)),
    ("get", "/requests/{id}", "requests", "One certificate request", None, {"200": "CertificateRequest"}, ()),
    ("post", "/requests/{id}/approve", "requests", "Approve and issue (application admin)", None,
     {"201": "Approval"}, ()),
    ("post", "/requests/{id}/reject", "requests", "Reject (application admin)", "Reject",
     {"200": "CertificateRequest"}, ()),
    ("get", "/audit", "audit", "The audit trail the caller may read", None, {"200": "AuditEventPage"},
     (_q("application_id", S), *AUDIT_Q)),
)


def _content(spec: Any) -> dict[str, Any]:
    if spec == "object":
        return {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}
    if isinstance(spec, str):
        return {"application/json": {"schema": _ref(spec)}}
    return spec


# Bodies a route reads with allow_empty: the client may send none at all.
OPTIONAL_BODIES = {("post", "/certificates/{id}/revoke"), ("post", "/cas/{id}/revoke"),
                   ("post", "/requests/{id}/reject"), ("post", "/applications/{id}/endpoints/{endpoint_id}/acme-eab-keys")}
# Operations whose body names other objects by id (policy_id, ca_id, parent_id, application_id): 404 if one is unknown.
BODY_REFERENCES = {("post", "/cas"), ("post", "/profiles"), ("post", "/identities")}
# Content refusals (422) beyond what every operation of its kind can answer (see _problems).
UNPROCESSABLE = {("post", "/endpoints/{endpoint_id}/certificates"), ("post", "/requests/{id}/approve"),
                 ("post", "/cas"), ("post", "/cas/{id}/certificate")}


def _problems(method: str, path: str, has_body: bool) -> dict[str, Any]:
    """The 4xx an operation can answer, each with the problem document (RFC 9457) as its body.

    Derived from what the operation reads: a token (401, and 403 for a role it lacks), path ids (404), a body or query
    (400; a body also 413 and 415), a write (409: a name taken, a state that forbids it). 5xx stay under `default`;
    the fuzz and response tests fail on any status an operation answers that is not listed here.
    """
    codes = set()
    if path != "/openapi.json":
        codes |= {400, 401, 403}  # 400: a body or query parameter that does not parse, or one we do not know
    if "{" in path or (method, path) in BODY_REFERENCES:
        codes.add(404)
    if has_body or method in ("post", "put", "patch"):
        codes |= {413, 415}
    if method != "get":
        codes.add(409)
    if (method, path) in UNPROCESSABLE:
        codes.add(422)
    return {str(code): {"description": PROBLEMS_BY_STATUS[code],
                        "content": {PROBLEM_TYPE: {"schema": _ref("Problem")}}} for code in sorted(codes)}


PROBLEMS_BY_STATUS = {400: "malformed request: the detail names the field", 401: "no valid bearer token",
                      403: "the token's identity lacks the role", 404: "no such object, or not visible to the caller",
                      409: "conflicts with the current state", 413: "request body too large",
                      415: "the body must be application/json", 422: "refused content: every violation is listed"}


def build_document() -> dict[str, Any]:
    problem = {"description": "problem document (RFC 9457)", "content": {PROBLEM_TYPE: {"schema": _ref("Problem")}}}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, tag, summary, body, responses, query in OPERATIONS:
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "pattern": f"^{ID_PATTERN}$"}}
                  for n in re.findall(r"\{(\w+)\}", path)]
        op: dict[str, Any] = {
            "tags": [tag], "summary": summary,
            "operationId": method + re.sub(r"[^A-Za-z0-9]+", "_", path).rstrip("_"),
            "parameters": params + list(query),
            "responses": {code: ({"description": "no content"} if spec is None
                                 else {"description": "success", "content": _content(spec)})
                          for code, spec in responses.items()},
        }
        op["responses"].update(_problems(method, path, body is not None))
        op["responses"]["default"] = problem
        if path == "/openapi.json":
            op["security"] = []
        if body is not None:
            op["requestBody"] = {"required": (method, path) not in OPTIONAL_BODIES,
                                 "content": {"application/json": {"schema": _ref(body)}}}
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Enrollment gateway admin API", "version": "1",
                 "description": "Certificate authorities, policies, profiles, applications and certificates. "
                                "Errors are RFC 9457 problem documents listing every policy violation."},
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "an identity token (egt_...)"}}},
    }


@public
async def serve(request: web.Request) -> web.Response:
    return json_response(build_document())


ROUTES = (web.get("/openapi.json", serve),)
