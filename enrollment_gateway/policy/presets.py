"""Ready-made policies for the usual certificate kinds, and profile defaults that satisfy them.

A profile created from a preset takes its rules from `PRESETS` and its defaults from `PRESET_DEFAULTS`; a test
checks that each preset's defaults pass its own rules, so the two cannot drift apart. The TLS-server preset
requires the subject CN to be one of the SANs (`common_name_in_sans`, BR §7.1.2.7.2); a profile that claims a CA/B
TLS policy OID has the core require it whatever its policy says.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from ..algorithms import KeyAlgorithm as K
from ..errors import ErrorKind, GatewayError
from .model import ANY_OTHER_ATTRIBUTE, FieldRule, PolicyRules

__all__ = ["PRESETS", "PRESET_DEFAULTS", "cabf_tls_rules", "claims_cabf_tls", "preset", "preset_defaults"]

_DAY = 86400
_NOTHING = FieldRule(allow=())
_ANYTHING = FieldRule()

# The CA/B Forum TLS BRs §6.1.5 allow RSA of 2048 bits or more and the P-256, P-384 and P-521 curves; P-521 and
# Ed25519 are left out because common TLS stacks (browsers, Go, Java) do not all accept them.
_TLS_KEYS = (K.RSA_2048, K.RSA_3072, K.RSA_4096, K.ECDSA_P256, K.ECDSA_P384)
# The Code Signing BRs require RSA of at least 3072 bits.
_CODE_SIGNING_KEYS = (K.RSA_3072, K.RSA_4096, K.ECDSA_P256, K.ECDSA_P384)


def _subject(**rules: FieldRule) -> dict[str, FieldRule]:
    """The named attributes with their rules; every other attribute is refused."""
    return {**rules, ANY_OTHER_ATTRIBUTE: _NOTHING}


def _san(*allowed: str, **rules: FieldRule) -> dict[str, FieldRule]:
    """SAN types in `allowed` are free, those in `rules` as given, the rest refused."""
    return {t: rules.get(t, _ANYTHING if t in allowed else _NOTHING) for t in ("DNS", "IP", "email", "URI")}


PRESETS: Mapping[str, PolicyRules] = MappingProxyType(
    {
        "tls_server": PolicyRules(
            subject=_subject(CN=_ANYTHING),
            san=_san("DNS", "IP"),
            common_name_in_sans=True,
            key_algorithms=_TLS_KEYS,
            key_usages=("digital_signature", "key_encipherment"),
            extended_key_usages=("server_auth",),
            max_ttl_seconds=397 * _DAY,  # BRs §6.3.2: subscriber certificates issued after 2020-09-01
        ),
        "tls_client": PolicyRules(
            subject=_subject(CN=_ANYTHING, O=_ANYTHING, OU=_ANYTHING, emailAddress=_ANYTHING),
            san=_san("DNS", "IP", "email", "URI"),
            key_algorithms=_TLS_KEYS,
            key_usages=("digital_signature", "key_encipherment"),
            extended_key_usages=("client_auth",),
            max_ttl_seconds=397 * _DAY,
        ),
        "tls_server_client": PolicyRules(
            subject=_subject(CN=_ANYTHING),
            san=_san("DNS", "IP", "URI"),  # URI for SPIFFE IDs in service meshes
            key_algorithms=_TLS_KEYS,
            key_usages=("digital_signature", "key_encipherment"),
            extended_key_usages=("server_auth", "client_auth"),
            max_ttl_seconds=397 * _DAY,
        ),
        "code_signing": PolicyRules(
            subject=_subject(
                CN=FieldRule(require=()), O=_ANYTHING, OU=_ANYTHING, C=_ANYTHING, ST=_ANYTHING, L=_ANYTHING
            ),
            san=_san("email"),
            key_algorithms=_CODE_SIGNING_KEYS,
            key_usages=("digital_signature",),
            extended_key_usages=("code_signing",),
            max_ttl_seconds=365 * _DAY,
        ),
        "email_protection": PolicyRules(
            subject=_subject(CN=_ANYTHING, O=_ANYTHING, OU=_ANYTHING, emailAddress=_ANYTHING),
            san=_san(email=FieldRule(require=())),  # RFC 8550 §3: the mailbox goes in the SAN
            key_algorithms=_TLS_KEYS,
            key_usages=("digital_signature", "key_encipherment", "content_commitment"),
            extended_key_usages=("email_protection",),
            max_ttl_seconds=825 * _DAY,  # S/MIME BRs §6.3.2
        ),
        "device_identity": PolicyRules(
            subject=_subject(CN=FieldRule(require=()), O=_ANYTHING, OU=_ANYTHING, serialNumber=_ANYTHING),
            san=_san("DNS", "IP", "URI"),
            key_algorithms=(*_TLS_KEYS, K.ED25519),  # devices talk to our own services, not browsers
            key_usages=("digital_signature", "key_encipherment", "key_agreement"),
            extended_key_usages=("client_auth",),
            max_ttl_seconds=825 * _DAY,
        ),
    }
)

# Profile defaults (domain.ProfileDefaults field names) that each preset's rules accept.
PRESET_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "tls_server": MappingProxyType(
            {"key_usages": ("digital_signature",), "extended_key_usages": ("server_auth",), "ttl_seconds": 90 * _DAY}
        ),
        "tls_client": MappingProxyType(
            {"key_usages": ("digital_signature",), "extended_key_usages": ("client_auth",), "ttl_seconds": 90 * _DAY}
        ),
        "tls_server_client": MappingProxyType(
            {
                "key_usages": ("digital_signature",),
                "extended_key_usages": ("server_auth", "client_auth"),
                "ttl_seconds": 90 * _DAY,
            }
        ),
        "code_signing": MappingProxyType(
            {"key_usages": ("digital_signature",), "extended_key_usages": ("code_signing",), "ttl_seconds": 365 * _DAY}
        ),
        "email_protection": MappingProxyType(
            {
                "key_usages": ("digital_signature", "key_encipherment"),
                "extended_key_usages": ("email_protection",),
                "ttl_seconds": 365 * _DAY,
            }
        ),
        "device_identity": MappingProxyType(
            {"key_usages": ("digital_signature",), "extended_key_usages": ("client_auth",), "ttl_seconds": 825 * _DAY}
        ),
    }
)


# CA/Browser Forum reserved TLS policy identifiers (BR §7.1.6.1): EV, and the DV/OV/IV arc.
_CABF_EV = "2.23.140.1.1"
_CABF_DV = "2.23.140.1.2.1"
_CABF_TLS_ARC = "2.23.140.1.2."


def claims_cabf_tls(policy_oids: Iterable[str]) -> bool:
    """Whether certificatePolicies `policy_oids` promise the CA/B Forum TLS Baseline Requirements."""
    return any(oid == _CABF_EV or oid.startswith(_CABF_TLS_ARC) for oid in policy_oids)


def cabf_tls_rules(policy_oids: Iterable[str]) -> PolicyRules | None:
    """The BR constraints a profile promises by stamping a CA/B TLS OID, checked on top of its own policy, so no
    permissive policy can issue under a BR OID what the BRs forbid; None when it claims none.

    Subject: DV carries at most the CN (§7.1.2.7.2); OV/IV/EV may add the organisation and locality attributes
    but no OU (§7.1.2.7.4, since 2022-09). SANs: DNS and IP only; the CN a byte copy of one. Keys: §6.1.5.
    Usages: serverAuth, optionally clientAuth (§7.1.2.7.10). Validity: 200 days for certificates issued from
    2026-03-15 (SC-081). Not checkable here: that names are public (internal names need the public suffix list).
    """
    oids = set(policy_oids)
    if not claims_cabf_tls(oids):
        return None
    base = replace(PRESETS["tls_server"], extended_key_usages=("server_auth", "client_auth"),
                   max_ttl_seconds=200 * _DAY)
    if oids & {_CABF_EV} or any(o.startswith(_CABF_TLS_ARC) and o != _CABF_DV for o in oids):
        return replace(base, subject=_subject(CN=_ANYTHING, O=_ANYTHING, L=_ANYTHING, ST=_ANYTHING, C=_ANYTHING,
                                               serialNumber=_ANYTHING))
    return base


def preset(name: str) -> PolicyRules:
    """The preset called `name`; GatewayError(NOT_FOUND) lists the known names otherwise."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise GatewayError(
            ErrorKind.NOT_FOUND, f"policy preset {name!r} not found (known: {', '.join(PRESETS)})"
        ) from None


def preset_defaults(name: str) -> Mapping[str, Any]:
    """The profile defaults that go with preset `name`, e.g. `ProfileDefaults(**preset_defaults(name))`."""
    preset(name)  # same NOT_FOUND as preset()
    return PRESET_DEFAULTS[name]
