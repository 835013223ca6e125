"""Rules of issuance, pure: metadata limits, the policy refusal, the binding of managed keys, the canonical
names, the validity asked and what the issuer allows, and the extensions a CSR may ask for."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Iterable, Mapping, Sequence

from cryptography import x509

from ..algorithms import EXTENDED_KEY_USAGES, KEY_USAGES
from ..crypto import builder, names
from ..domain import ProfileDefaults
from ..errors import ErrorKind, GatewayError, Violation, malformed
from ..policy import MAX_DURATION_SECONDS, Candidate, PolicyRules, cabf_tls_rules, evaluate, format_duration


def managed_key_aad(certificate_id: str) -> bytes:
    """Binds a wrapped key to its certificate, so a blob copied onto another row will not unwrap."""
    return f"leaf-key:{certificate_id}".encode()


def check_metadata(metadata: Mapping[str, str]) -> None:
    """Metadata stays small: it is indexed for filtering and travels with every listing."""
    if len(metadata) > 64:
        raise malformed("at most 64 metadata entries")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key or len(key) > 128 or len(value) > 1024:
            raise malformed("metadata must map non-empty strings (keys up to 128, values up to 1024 characters)")
        if not (_is_text(key) and _is_text(value)):
            # A lone surrogate ("\ud800") is no Unicode text: the database driver would fail on it mid-transaction.
            raise malformed("metadata keys and values must be Unicode text (no lone surrogates)")


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def refusal(violations: list[Violation]) -> GatewayError:
    """One error carrying every violation; its kind is the most specific one that covers them all."""
    kinds = {v.kind for v in violations}
    kind = (ErrorKind.REJECTED_IDENTIFIER if kinds == {ErrorKind.REJECTED_IDENTIFIER}
            else ErrorKind.BAD_PUBLIC_KEY if kinds == {ErrorKind.BAD_PUBLIC_KEY}
            else ErrorKind.BAD_CSR if kinds == {ErrorKind.BAD_CSR}
            else ErrorKind.POLICY_VIOLATION)
    detail = violations[0].message if len(violations) == 1 else f"{len(violations)} policy violations"
    if kind is ErrorKind.BAD_CSR:
        return GatewayError(kind, f"CSR refused: {detail}", tuple(violations))
    return GatewayError(kind, f"request refused by policy: {detail}", tuple(violations))


# --- names: one canonical form for every protocol ------------------------------------------------------------------

def canonical_names(subject: Sequence[tuple[str, str]], sans: Sequence[tuple[str, str]]
                    ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], list[Violation]]:
    """The subject and SANs as the certificate will carry them, and a violation per SAN that is no valid name.

    SANs are canonical (`names.canonical_san`: lower-case A-label DNS names, …) and de-duplicated in order; a CN
    that names one of them becomes a byte copy of it (BR §7.1.2.7.2). Done once, here, for every protocol, so the
    policy judges, the store records and the signer signs the same names.
    """
    out, violations = [], []
    for kind, value in sans:
        try:
            out.append(names.canonical_san(kind, value))
        except GatewayError as err:
            violations.append(Violation(err.detail, ErrorKind.REJECTED_IDENTIFIER, (kind, value)))
    unique = tuple(dict.fromkeys(out))
    aligned = tuple((a, names.canonical_common_name(v, unique) if a == "CN" else v) for a, v in subject)
    return aligned, unique, violations


def judge(rules: PolicyRules, defaults: ProfileDefaults, candidate: Candidate) -> list[Violation]:
    """Every violation of the policy, and of the CA/B TLS BRs when the profile stamps one of their OIDs (each
    said once: what the policy already refuses is not repeated)."""
    out = list(evaluate(rules, candidate))
    br = cabf_tls_rules(defaults.certificate_policies)
    if br is not None:
        seen = {v.message for v in out}
        out += [replace(v, message=f"{v.message} (the profile claims the CA/B Forum TLS Baseline Requirements)")
                for v in evaluate(br, candidate) if v.message not in seen]
    return out


# --- validity: every number range-checked before any date arithmetic ------------------------------------------------

NOT_AFTER_BEHAVIORS = ("refuse", "truncate")
_MAX_BACKDATING = dt.timedelta(days=1)


def requested_validity(not_before: dt.datetime | None, not_after: dt.datetime | None, ttl_seconds: int | None,
                       defaults: ProfileDefaults, rules: PolicyRules, now: dt.datetime, skew_seconds: int
                       ) -> tuple[dt.datetime, dt.datetime, int]:
    """(notBefore, notAfter, seconds of forward dating) as asked, before backdating; MALFORMED when out of range.

    The forward dating is how far notBefore lies ahead of now beyond `skew_seconds` (client clocks run ahead);
    the policy bounds it (`max_forward_dating`).
    """
    horizon = dt.timedelta(seconds=MAX_DURATION_SECONDS)
    if ttl_seconds is not None and (isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int)
                                    or not 0 < ttl_seconds <= MAX_DURATION_SECONDS):
        raise malformed(f"ttl must be between 1s and {format_duration(MAX_DURATION_SECONDS)}")
    if any(t is not None and t.tzinfo is None for t in (not_before, not_after)):
        raise malformed("notBefore and notAfter need a time zone")
    start = not_before or now
    if start < now - _MAX_BACKDATING:
        raise malformed("notBefore may not lie more than a day in the past")
    if start > now + horizon:
        raise malformed(f"notBefore lies more than {format_duration(MAX_DURATION_SECONDS)} ahead")
    if not_after is not None:
        end = not_after
    else:
        ttl = ttl_seconds if ttl_seconds is not None else defaults.ttl_seconds
        if ttl_seconds is None and rules.max_ttl_seconds is not None:
            ttl = min(ttl, rules.max_ttl_seconds)  # a profile default never exceeds its own policy
        if ttl <= 0:
            raise malformed("ttl must be positive")
        end = start + dt.timedelta(seconds=min(ttl, MAX_DURATION_SECONDS))
    if end <= start:
        raise malformed("notAfter must be later than notBefore")
    if end - start > horizon:
        raise malformed(f"the validity may not exceed {format_duration(MAX_DURATION_SECONDS)}")
    ahead = int((start - now).total_seconds())
    forward = ahead if ahead > skew_seconds else 0  # within the skew allowance: "now" by the client's clock
    return start, end, forward


def fit_to_issuer(not_before: dt.datetime, not_after: dt.datetime, issuer_not_after: dt.datetime,
                  behavior: str) -> tuple[dt.datetime, Violation | None]:
    """notAfter within the issuing CA's own validity (RFC 5280 §6.1.3: a path is valid only while every
    certificate in it is), or the violation saying why it cannot be. Truncated only when the profile says
    "truncate" (as Vault's leaf_not_after_behavior), and never to nothing."""
    if not_after <= issuer_not_after:
        return not_after, None
    if behavior == "truncate" and not_before < issuer_not_after:
        return issuer_not_after, None
    return not_after, Violation(
        f"Requested notAfter {not_after.isoformat()} lies beyond the issuing CA's notAfter "
        f"{issuer_not_after.isoformat()}; ask for a validity that ends by then (this profile does not truncate)"
        if behavior != "truncate" else
        f"Requested notBefore {not_before.isoformat()} is not before the issuing CA's notAfter "
        f"{issuer_not_after.isoformat()}")


# --- extensions a CSR asks for --------------------------------------------------------------------------------------

_TLS_FEATURES = {x509.TLSFeatureType.status_request, x509.TLSFeatureType.status_request_v2}


def extension_requests(requested: Iterable[x509.Extension], defaults: ProfileDefaults, public_key,
                       issuer_has_ocsp: bool) -> tuple[list[tuple[x509.ExtensionType, bool]], list[Violation]]:
    """What the certificate adds for the CSR's extension requests, and a BAD_CSR violation for each it cannot honour.

    Never dropped silently. Carried: subjectAltName (the names), the TLS feature must-staple (RFC 7633) when the
    issuer runs an OCSP responder. Honoured because the certificate says it anyway: keyUsage and extendedKeyUsage
    within what the profile issues for this key, basicConstraints asking for what the profile issues, a
    subjectKeyIdentifier equal to ours (RFC 5280 §4.2.1.2 method 1). Anything else is refused.
    """
    extras: list[tuple[x509.ExtensionType, bool]] = []
    violations: list[Violation] = []

    def refuse(message: str) -> None:
        violations.append(Violation(f"CSR requests {message}", ErrorKind.BAD_CSR))

    for ext in requested:
        value = ext.value
        if isinstance(value, x509.TLSFeature):
            unknown = [f for f in value if f not in _TLS_FEATURES]
            if unknown:
                refuse(f"TLS features {', '.join(str(f.value) for f in unknown)}, which this gateway does not carry")
            elif not issuer_has_ocsp:
                refuse("must-staple (TLS feature), but this profile's issuer has no OCSP responder to staple from")
            else:
                extras.append((value, False))  # RFC 7633 §4.2: SHOULD NOT be critical
        elif isinstance(value, x509.KeyUsage):
            issued = set(builder.key_usages_for(public_key, defaults.key_usages))
            asked = [u for u in KEY_USAGES if _key_usage_bit(value, u)]
            extra = [u for u in asked if u not in issued]
            if extra:
                refuse(f"key usage {', '.join(extra)}, which this profile does not issue for this key "
                       f"(it issues {', '.join(sorted(issued)) or 'none'})")
        elif isinstance(value, x509.ExtendedKeyUsage):
            issued_oids = {EXTENDED_KEY_USAGES[u] for u in defaults.extended_key_usages if u in EXTENDED_KEY_USAGES}
            extra = [o.dotted_string for o in value if o.dotted_string not in issued_oids]
            if extra:
                refuse(f"extended key usage {', '.join(_eku_name(o) for o in extra)}, which this profile does not "
                       f"issue (it issues {', '.join(defaults.extended_key_usages) or 'none'})")
        elif isinstance(value, x509.BasicConstraints):
            if value.ca != defaults.is_ca or (value.ca and value.path_length is not None):
                refuse(f"basicConstraints cA={value.ca}"
                       + (f", pathLen={value.path_length}" if value.path_length is not None else "")
                       + f", but this profile issues cA={defaults.is_ca} without a path length")
        elif isinstance(value, x509.SubjectKeyIdentifier):
            if value.digest != x509.SubjectKeyIdentifier.from_public_key(public_key).digest:
                refuse("a subjectKeyIdentifier other than the SHA-1 of its key, which is the one this gateway issues")
        else:
            name = getattr(ext.oid, "_name", None)
            label = f"{name} ({ext.oid.dotted_string})" if name and name != "Unknown OID" else ext.oid.dotted_string
            refuse(f"extension {label}, which this gateway does not carry")
    return extras, violations


def _key_usage_bit(value: x509.KeyUsage, name: str) -> bool:
    try:
        return bool(getattr(value, name))
    except ValueError:  # encipher_only/decipher_only read without key_agreement
        return False


def _eku_name(dotted: str) -> str:
    return next((n for n, o in EXTENDED_KEY_USAGES.items() if o == dotted), dotted)
