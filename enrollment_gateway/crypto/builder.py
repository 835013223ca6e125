"""Certificate construction (RFC 5280 profile): leaves, self-signed roots, intermediates and CA CSRs.

Everything here is deterministic given its inputs (serial and times are passed in), so the core decides the
numbers and this module only lays out the extensions. Signing goes through the Signer seam.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID

from ..algorithms import EXTENDED_KEY_USAGES, KEY_USAGES
from ..errors import ErrorKind, GatewayError
from .keys import public_key_fingerprint
from .names import sans_to_general_names
from .signer import Signer

# CA/Browser Forum reserved policy identifiers (BR §7.1.6.1): a TLS leaf carries exactly one of them.
CABF_DV_POLICY_OID = "2.23.140.1.2.1"
CABF_OV_POLICY_OID = "2.23.140.1.2.2"
CABF_IV_POLICY_OID = "2.23.140.1.2.3"

# Which KeyUsage bits each key family can honour. RFC 4055 §1.2 (RSA): no keyAgreement. RFC 5480 §3 (EC): no
# keyEncipherment or dataEncipherment, since ECDSA/ECDH keys cannot encrypt. RFC 8410 §5 (Ed25519) and RFC 9881
# §5 (ML-DSA): signature bits only. Asserting a bit the key cannot do is a linter error (pkilint, zlint) and a
# promise the certificate cannot keep, so a profile written for RSA (digital_signature + key_encipherment, the
# classic TLS 1.2 RSA key exchange) quietly drops key_encipherment for an ECDSA CSR, as Let's Encrypt does.
_SIGNATURE_BITS = {"digital_signature", "content_commitment", "key_cert_sign", "crl_sign"}
_USAGES_BY_FAMILY = {
    "RSA": _SIGNATURE_BITS | {"key_encipherment", "data_encipherment"},
    "EC": _SIGNATURE_BITS | {"key_agreement", "encipher_only", "decipher_only"},
    "OTHER": _SIGNATURE_BITS,
}
CA_KEY_USAGES = ("digital_signature", "key_cert_sign", "crl_sign")


@dataclass(frozen=True)
class CAUrls:
    """Where relying parties find the issuer's CRL, OCSP responder and certificate (RFC 5280 §4.2.1.13, §4.2.2.1)."""

    crl_url: str | None = None
    ocsp_url: str | None = None
    ca_issuers_url: str | None = None


def random_serial() -> int:
    """A positive serial of up to 159 random bits (RFC 5280 §4.1.2.2: at most 20 octets; BR §7.1: ≥ 64 bits of
    CSPRNG output). Values below 2**64 are redrawn (chance 2**-95) so the encoding is never short."""
    while True:
        value = secrets.randbits(159)
        if value >= 1 << 64:
            return value


def key_usages_for(public_key: PublicKeyTypes, usages: Iterable[str]) -> tuple[str, ...]:
    """`usages` less the bits the subject key's family cannot honour (see _USAGES_BY_FAMILY); unknown names are
    MALFORMED. If filtering leaves nothing, digital_signature remains: an empty KeyUsage is invalid (§4.2.1.3)."""
    requested = tuple(dict.fromkeys(usages))
    unknown = [u for u in requested if u not in KEY_USAGES]
    if unknown:
        raise GatewayError(ErrorKind.MALFORMED, f"unknown key usage(s): {', '.join(unknown)}")
    if isinstance(public_key, rsa.RSAPublicKey):
        family = "RSA"
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        family = "EC"
    else:
        family = "OTHER"
    kept = tuple(u for u in requested if u in _USAGES_BY_FAMILY[family])
    if "key_agreement" not in kept:
        kept = tuple(u for u in kept if u not in ("encipher_only", "decipher_only"))  # meaningless without it
    return kept or (("digital_signature",) if requested else ())


def _key_usage(usages: Sequence[str]) -> x509.KeyUsage:
    flags = {name: name in usages for name in KEY_USAGES}
    return x509.KeyUsage(**flags)


def _extended_key_usage(names: Sequence[str]) -> x509.ExtendedKeyUsage:
    oids = []
    for name in dict.fromkeys(names):
        dotted = EXTENDED_KEY_USAGES.get(name)
        if dotted is None:
            raise GatewayError(ErrorKind.MALFORMED, f"unknown extended key usage {name!r}")
        oids.append(x509.ObjectIdentifier(dotted))
    return x509.ExtendedKeyUsage(oids)


def certificate_policies(oids: Iterable[str]) -> x509.CertificatePolicies:
    """A certificatePolicies extension value with bare policy identifiers (no qualifiers, as BR §7.1.2.7.9 likes)."""
    return x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(o), None) for o in oids])


def _url_extensions(urls: CAUrls) -> list[tuple[x509.ExtensionType, bool]]:
    out: list[tuple[x509.ExtensionType, bool]] = []
    if urls.crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(urls.crl_url)], None, None, None)
        out.append((x509.CRLDistributionPoints([point]), False))
    access = []
    if urls.ocsp_url:
        access.append(
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp_url))
        )
    if urls.ca_issuers_url:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(urls.ca_issuers_url)
            )
        )
    if access:
        out.append((x509.AuthorityInformationAccess(access), False))
    return out


def _authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]


def build_certificate(
    *,
    signer: Signer,
    issuer: x509.Certificate | None,
    public_key: PublicKeyTypes,
    subject: x509.Name,
    sans: Sequence[tuple[str, str]],
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_usages: Sequence[str],
    extended_key_usages: Sequence[str],
    is_ca: bool = False,
    path_length: int | None = None,
    urls: CAUrls | None = None,
    extra_extensions: Iterable[x509.Extension | tuple[x509.ExtensionType, bool]] = (),
) -> x509.Certificate:
    """Lay out and sign one certificate; `issuer=None` self-signs (issuer name = subject, AKI = own key)."""
    if not_before.tzinfo is None or not_after.tzinfo is None:
        raise GatewayError(ErrorKind.INTERNAL, "certificate validity times must be timezone-aware")
    if not_after <= not_before:
        raise GatewayError(ErrorKind.MALFORMED, "certificate notAfter must be after notBefore")
    if not 0 < serial < 1 << 159:
        raise GatewayError(ErrorKind.INTERNAL, "serial must be positive and fit in 20 octets")
    signer_fp = public_key_fingerprint(signer.public_key())
    if issuer is not None and public_key_fingerprint(issuer.public_key()) != signer_fp:  # type: ignore[arg-type]
        raise GatewayError(ErrorKind.INTERNAL, "signer key does not match the issuer certificate")
    if issuer is None and public_key_fingerprint(public_key) != signer_fp:
        raise GatewayError(ErrorKind.INTERNAL, "a self-signed certificate must be signed by its own key")
    general_names = sans_to_general_names(sans)
    if not general_names and len(subject) == 0:
        raise GatewayError(ErrorKind.MALFORMED, "a certificate needs a subject or at least one subjectAltName")

    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(not_before.astimezone(dt.timezone.utc).replace(microsecond=0))
        .not_valid_after(not_after.astimezone(dt.timezone.utc).replace(microsecond=0))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length if is_ca else None), critical=True)
    )
    usages = key_usages_for(public_key, key_usages)
    if usages:
        builder = builder.add_extension(_key_usage(usages), critical=True)
    if extended_key_usages:
        builder = builder.add_extension(_extended_key_usage(extended_key_usages), critical=False)
    if general_names:
        # RFC 5280 §4.2.1.6: with an empty subject the SAN carries the identity and MUST be critical.
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=len(subject) == 0)
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)  # type: ignore[arg-type]
    builder = builder.add_extension(ski, critical=False)
    aki = (
        _authority_key_identifier(issuer)
        if issuer is not None
        else x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    )
    builder = builder.add_extension(aki, critical=False)
    for value, critical in _url_extensions(urls) if urls else ():
        builder = builder.add_extension(value, critical=critical)
    for extra in extra_extensions:
        value, critical = (extra.value, extra.critical) if isinstance(extra, x509.Extension) else extra
        builder = builder.add_extension(value, critical=critical)
    try:
        return signer.sign_certificate(builder)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise GatewayError(ErrorKind.INTERNAL, f"signing failed: {e}") from None


MAX_VALIDITY_DAYS = 36500  # a century: beyond it the end date leaves what datetime and GeneralizedTime hold


def _validity(now: dt.datetime | None, validity_days: int) -> tuple[dt.datetime, dt.datetime]:
    if isinstance(validity_days, bool) or not isinstance(validity_days, int) \
            or not 1 <= validity_days <= MAX_VALIDITY_DAYS:
        raise GatewayError(ErrorKind.MALFORMED, f"validity_days must be between 1 and {MAX_VALIDITY_DAYS}")
    start = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    return start, start + dt.timedelta(days=validity_days)


def build_root_ca(
    signer: Signer,
    subject: x509.Name,
    validity_days: int,
    path_length: int | None = None,
    urls: CAUrls | None = None,
    *,
    now: dt.datetime | None = None,
    serial: int | None = None,
) -> x509.Certificate:
    """A self-signed root (BR §7.1.2.1): CA:TRUE critical, keyCertSign+cRLSign+digitalSignature, no EKU."""
    not_before, not_after = _validity(now, validity_days)
    return build_certificate(
        signer=signer,
        issuer=None,
        public_key=signer.public_key(),
        subject=subject,
        sans=(),
        serial=serial or random_serial(),
        not_before=not_before,
        not_after=not_after,
        key_usages=CA_KEY_USAGES,
        extended_key_usages=(),
        is_ca=True,
        path_length=path_length,
        urls=urls,
    )


def build_ca_csr(signer: Signer, subject: x509.Name) -> x509.CertificateSigningRequest:
    """A CSR for an intermediate whose parent is an external (offline) root; asks for CA:TRUE."""
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(CA_KEY_USAGES), critical=True)
    )
    return signer.sign_csr(builder)


def build_intermediate_ca(
    parent_signer: Signer,
    parent_cert: x509.Certificate,
    public_key: PublicKeyTypes,
    subject: x509.Name,
    validity_days: int,
    path_length: int | None,
    urls: CAUrls | None,
    *,
    extended_key_usages: Sequence[str] = (),
    extra_extensions: Iterable[x509.Extension | tuple[x509.ExtensionType, bool]] = (),
    now: dt.datetime | None = None,
    serial: int | None = None,
) -> x509.Certificate:
    """A subordinate CA signed by `parent_signer` (BR §7.1.2.2): `urls` are the *parent's* CRL/OCSP/issuer URLs."""
    not_before, not_after = _validity(now, validity_days)
    return build_certificate(
        signer=parent_signer,
        issuer=parent_cert,
        public_key=public_key,
        subject=subject,
        sans=(),
        serial=serial or random_serial(),
        not_before=not_before,
        not_after=not_after,
        key_usages=CA_KEY_USAGES,
        extended_key_usages=extended_key_usages,
        is_ca=True,
        path_length=path_length,
        urls=urls,
        extra_extensions=extra_extensions,
    )


def certificate_matches_key(cert: x509.Certificate, public_key: PublicKeyTypes) -> bool:
    """Whether `cert` certifies `public_key` (compared by SubjectPublicKeyInfo)."""
    try:
        return public_key_fingerprint(cert.public_key()) == public_key_fingerprint(public_key)  # type: ignore[arg-type]
    except (ValueError, UnsupportedAlgorithm):
        return False


def issued_by(cert: x509.Certificate, issuer_cert: x509.Certificate) -> bool:
    """Whether `issuer_cert` issued `cert`: names chain and the signature verifies under the issuer's key."""
    try:
        cert.verify_directly_issued_by(issuer_cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True

