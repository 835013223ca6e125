"""An endpoint's EST settings (RFC 7030 §3.3.2): which credentials devices present, which manufacturer CAs are
trusted, and the optional operations. Stored per endpoint (storage/est_tables.py), changed through the admin API.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, Mapping

from cryptography import x509

from ..errors import malformed

MAX_ANCHORS = 32  # manufacturer CAs per endpoint; a real deployment has a handful
MAX_ANCHORS_PEM = 256 * 1024
class EstAuth(str, enum.Enum):
    """Which credentials an endpoint accepts for simpleenroll and serverkeygen (RFC 7030 §3.3.2)."""

    BASIC = "basic"
    CERTIFICATE = "certificate"
    BASIC_OR_CERTIFICATE = "basic_or_certificate"
    BASIC_AND_CERTIFICATE = "basic_and_certificate"

    @property
    def accepts_basic(self) -> bool:
        return self is not EstAuth.CERTIFICATE

    @property
    def accepts_certificate(self) -> bool:
        return self is not EstAuth.BASIC


@dataclass(frozen=True)
class EstEndpointSettings:
    """An endpoint's EST behaviour. Without a stored row every endpoint has these defaults."""

    auth: EstAuth = EstAuth.BASIC_OR_CERTIFICATE
    anchors_pem: str = ""  # manufacturer (IDevID) CAs whose certificates may enrol with simpleenroll
    trust_gateway_certificates: bool = True  # a live certificate this gateway issued under the endpoint also may
    reenroll: bool = True  # simplereenroll (RFC 7030 §4.2.2)
    serverkeygen: bool = False  # RFC 7030 §4.4
    proof_of_possession: bool = False  # CSR challengePassword = tls-unique (RFC 7030 §3.5)

    def to_json(self) -> dict[str, Any]:
        return {"auth": self.auth.value, "anchors_pem": self.anchors_pem,
                "trust_gateway_certificates": self.trust_gateway_certificates, "reenroll": self.reenroll,
                "serverkeygen": self.serverkeygen, "proof_of_possession": self.proof_of_possession}

    @classmethod
    def from_json(cls, data: Any, *, base: "EstEndpointSettings | None" = None) -> "EstEndpointSettings":
        """Strict: unknown keys and wrong types are MALFORMED; absent keys keep `base`'s values (a PATCH)."""
        if not isinstance(data, Mapping):
            raise malformed("EST settings must be an object")
        out = base or cls()
        known = set(out.to_json())
        unknown = sorted(set(data) - known)
        if unknown:
            raise malformed(f"unknown EST setting(s): {', '.join(unknown)}")
        changes: dict[str, Any] = {}
        if "auth" in data:
            try:
                changes["auth"] = EstAuth(data["auth"])
            except ValueError:
                raise malformed(f"auth must be one of {', '.join(a.value for a in EstAuth)}") from None
        if "anchors_pem" in data:
            if not isinstance(data["anchors_pem"], str):
                raise malformed("anchors_pem must be a string of PEM certificates")
            load_anchors(data["anchors_pem"])  # refuse anything that would not work later
            changes["anchors_pem"] = data["anchors_pem"]
        for key in ("trust_gateway_certificates", "reenroll", "serverkeygen", "proof_of_possession"):
            if key in data:
                if not isinstance(data[key], bool):
                    raise malformed(f"{key} must be true or false")
                changes[key] = data[key]
        return replace(out, **changes)


def load_anchors(pem: str) -> tuple[x509.Certificate, ...]:
    """The CA certificates in `pem`; MALFORMED unless each is a CA certificate (basicConstraints cA)."""
    if not pem.strip():
        return ()
    if len(pem) > MAX_ANCHORS_PEM:
        raise malformed(f"anchors_pem is larger than {MAX_ANCHORS_PEM} bytes")
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except (ValueError, UnicodeEncodeError):
        raise malformed("anchors_pem holds something that is not a PEM certificate") from None
    if len(certs) > MAX_ANCHORS:
        raise malformed(f"at most {MAX_ANCHORS} trust anchors per endpoint")
    for cert in certs:
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except (x509.ExtensionNotFound, ValueError):
            ca = False
        if not ca:
            raise malformed(f"trust anchor {cert.subject.rfc4514_string()} is not a CA certificate")
    return tuple(certs)
