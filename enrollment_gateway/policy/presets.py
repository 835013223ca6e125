"""Ready-made policies for the usual certificate kinds, and profile defaults that satisfy them.

A profile created from a preset takes its rules from `PRESETS` and its defaults from `PRESET_DEFAULTS`; a test
checks that each preset's defaults pass its own rules, so the two cannot drift apart. The TLS-server preset
requires the subject CN to be one of the SANs (`common_name_in_sans`, BR §7.1.2.7.2); a profile that claims a CA/B
TLS policy OID has the core require it whatever its policy says.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from ..algorithms import KeyAlgorithm as K
from ..errors import ErrorKind, GatewayError
from .model import ANY_OTHER_ATTRIBUTE, FieldRule, PolicyRules

__all__ = ["PRESETS", "PRESET_DEFAULTS", "preset", "preset_defaults"]

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
