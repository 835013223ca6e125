"""What the core issues is what the policy and the standards say (issue 7, items 7, 9, 10, 13).

Names are canonical for every protocol (item 7), a validity the CA cannot give is refused unless the profile
truncates and forward dating is bounded (item 9), every extension a CSR asks for is carried or refused (item 10),
and client numbers are range-checked before any arithmetic (item 13).
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.core.issuance import IssuanceRequest, Issued
from enrollment_gateway.crypto.builder import CABF_DV_POLICY_OID
from enrollment_gateway.domain import EnrollmentMethod, ProfileDefaults
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.policy import preset, preset_defaults
from enrollment_gateway.storage.repositories import CertificateFilter

from test_issuance_lint import VENV_BIN, findings

PERMISSIVE = {"max_ttl": "397d"}
TLS_SERVER = preset("tls_server").to_json()
DV = ProfileDefaults(**preset_defaults("tls_server"), certificate_policies=(CABF_DV_POLICY_OID,))
pkilint = pytest.mark.skipif(not (VENV_BIN / "lint_cabf_serverauth_cert").exists(), reason="pkilint missing")


def csr(cn: str | None, dns=(), *, extensions=(), key=None) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
    if dns:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    for value, critical in extensions:
        b = b.add_extension(value, critical=critical)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def request(world, ep, protocol=EnrollmentMethod.API, **kw) -> IssuanceRequest:
    return IssuanceRequest(actor=world.admin, endpoint_id=ep, protocol=protocol, **kw)


async def stored(world) -> int:
    async with world.gateway.db.transaction() as tx:
        return len(await tx.certificates.list(CertificateFilter(now=world.gateway.clock.now()), 1000, 0))


async def refused(world, req) -> GatewayError:
    before = await stored(world)
    with pytest.raises(GatewayError) as err:
        await world.gateway.issuance.issue(req)
    assert await stored(world) == before
    return err.value


def leaf(outcome) -> x509.Certificate:
    assert isinstance(outcome, Issued)
    return x509.load_pem_x509_certificate(outcome.certificate.certificate_pem.encode())


def cn_and_sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return cns, [str(v) for v in san.get_values_for_type(x509.DNSName)] + [
        str(v) for v in san.get_values_for_type(x509.IPAddress)]


# --- item 7: names normalised once, in the core, for every protocol --------------------------------------------------

@pytest.mark.parametrize("protocol", [EnrollmentMethod.API, EnrollmentMethod.ACME, EnrollmentMethod.EST])
async def test_upper_case_cn_becomes_a_byte_copy_of_its_san(world, tmp_path, protocol):
    # What ACME finalize sends today: the CSR's CN as the subject, the order's names as the SANs.
    _, ep = await world.profile("tls", TLS_SERVER, defaults=DV)
    outcome = await world.gateway.issuance.issue(request(
        world, ep, protocol, csr=csr("UP.EXAMPLE.COM", ["Up.Example.com"]), subject=[("CN", "UP.EXAMPLE.COM")]))
    cert = leaf(outcome)
    assert cn_and_sans(cert) == (["up.example.com"], ["up.example.com"])
    assert outcome.certificate.common_name == "up.example.com"
    assert outcome.certificate.sans == ("DNS:up.example.com",)
    if (VENV_BIN / "lint_cabf_serverauth_cert").exists():
        (tmp_path / "leaf.pem").write_text(outcome.certificate.certificate_pem)
        assert findings("lint_cabf_serverauth_cert", tmp_path / "leaf.pem", "-t", "DV-FINAL-CERTIFICATE") == []


async def test_sans_are_deduplicated_after_normalising(world):
    _, ep = await world.profile("dup", PERMISSIVE)
    outcome = await world.gateway.issuance.issue(request(
        world, ep, subject=[("CN", "A.example.com")],
        sans=[("DNS", "a.example.com"), ("DNS", "a.example.com"), ("DNS", "A.EXAMPLE.COM."), ("IP", "::0:1"),
              ("IP", "::1"), ("DNS", "bücher.example.com")],
        managed_key=KeyAlgorithm.ECDSA_P256))
    assert outcome.certificate.sans == ("DNS:a.example.com", "IP:::1", "DNS:xn--bcher-kva.example.com")
    assert cn_and_sans(leaf(outcome))[0] == ["a.example.com"]


@pytest.mark.parametrize("cn, sans", [
    ("other.example.com", ["www.example.com"]),  # a CN naming no SAN
    ("www.example.com", ["other.example.com"]),
])
async def test_tls_server_preset_checks_cn_against_sans(world, cn, sans):
    _, ep = await world.profile("tls", TLS_SERVER, defaults=ProfileDefaults(**preset_defaults("tls_server")))
    err = await refused(world, request(world, ep, subject=[("CN", cn)], sans=[("DNS", s) for s in sans],
                                       managed_key=KeyAlgorithm.ECDSA_P256))
    assert err.kind is ErrorKind.POLICY_VIOLATION
    assert [v.message for v in err.subproblems] == [f"Subject CN {cn} is not one of the certificate's DNS or IP SANs"]


async def test_a_br_policy_oid_brings_the_cn_rule_whatever_the_policy(world):
    _, ep = await world.profile("br", PERMISSIVE, defaults=replace(DV, key_usages=("digital_signature",)))
    err = await refused(world, request(world, ep, csr=csr("My Server", ["www.example.com"])))
    assert "Subject CN My Server" in err.subproblems[0].message
    # Without the OID a private profile may name its subject as it likes.
    _, private = await world.profile("private", PERMISSIVE)
    assert cn_and_sans(leaf(await world.gateway.issuance.issue(
        request(world, private, csr=csr("My Server", ["www.example.com"])))))[0] == ["My Server"]


async def test_invalid_names_are_rejected_identifiers_not_500s(world):
    _, ep = await world.profile("names", PERMISSIVE)
    err = await refused(world, request(world, ep, subject=[("CN", "x")], managed_key=KeyAlgorithm.ECDSA_P256,
                                       sans=[("DNS", "-lead.example.com"), ("DNS", " pad.example.com"),
                                             ("IP", "fe80::1%eth0"), ("DNS", "ok.example.com")]))
    assert err.kind is ErrorKind.REJECTED_IDENTIFIER
    assert [v.identifier for v in err.subproblems] == [("DNS", "-lead.example.com"), ("DNS", " pad.example.com"),
                                                       ("IP", "fe80::1%eth0")]


# --- item 9: the CA's end, and forward dating ---------------------------------------------------------------------

async def short_lived_issuer(world, days=10) -> str:
    ca = await world.gateway.authorities.create_intermediate(
        world.admin, name=f"short-{days}", parent_id=world.root_id, subject=[("CN", f"Short {days}")],
        key_algorithm=KeyAlgorithm.ECDSA_P256, validity_days=days)
    return ca.id


async def test_validity_past_the_issuer_is_refused_by_default(world):
    ca = await short_lived_issuer(world)
    _, ep = await world.profile("short", PERMISSIVE, ca_id=ca)
    err = await refused(world, request(world, ep, csr=csr("a.example.com", ["a.example.com"]), ttl_seconds=30 * 86400))
    assert err.kind is ErrorKind.POLICY_VIOLATION
    assert "beyond the issuing CA's notAfter" in err.subproblems[0].message
    # The profile default (90 days) is refused the same way: a request is never quietly shortened.
    await refused(world, request(world, ep, csr=csr("a.example.com", ["a.example.com"])))
    # The ACME newOrder precheck says so before any validation.
    with pytest.raises(GatewayError) as early:
        await world.gateway.issuance.precheck(
            request(world, ep, EnrollmentMethod.ACME, sans=[("DNS", "a.example.com")]))
    assert "beyond the issuing CA's notAfter" in early.value.subproblems[0].message
    # What fits is issued.
    assert leaf(await world.gateway.issuance.issue(request(world, ep, csr=csr("a.example.com", ["a.example.com"]),
                                                           ttl_seconds=5 * 86400)))


async def test_a_profile_may_opt_into_truncation(world):
    ca = await short_lived_issuer(world)
    ca_end = (await world.gateway.authorities.load(ca)).certificate.not_valid_after_utc
    _, ep = await world.profile("trunc", PERMISSIVE, ca_id=ca, defaults=ProfileDefaults(not_after_behavior="truncate"))
    cert = leaf(await world.gateway.issuance.issue(request(world, ep, csr=csr("a.example.com", ["a.example.com"]),
                                                           ttl_seconds=30 * 86400)))
    assert cert.not_valid_after_utc == ca_end
    # Truncation never makes an empty validity: a notBefore past the CA's end is refused.
    err = await refused(world, request(world, ep, csr=csr("a.example.com", ["a.example.com"]),
                                       not_before=ca_end + dt.timedelta(hours=1), ttl_seconds=86400))
    assert any("is not before the issuing CA's notAfter" in v.message for v in err.subproblems)


async def test_an_unknown_not_after_behavior_is_refused(world):
    with pytest.raises(GatewayError) as err:
        await world.profile("bad", PERMISSIVE, defaults=ProfileDefaults(not_after_behavior="permit"))
    assert err.value.kind is ErrorKind.MALFORMED


async def test_forward_dating_is_bounded_by_the_policy(world):
    now = world.gateway.clock.now()
    _, ep = await world.profile("fwd", PERMISSIVE)
    err = await refused(world, request(world, ep, csr=csr("a.example.com", ["a.example.com"]),
                                       not_before=now + dt.timedelta(days=30), ttl_seconds=86400))
    [violation] = err.subproblems
    assert violation.message.startswith("Requested notBefore lies ")
    assert violation.message.endswith(" ahead; the policy allows at most 1d")
    with pytest.raises(GatewayError):  # ACME newOrder with notBefore 30 days ahead
        await world.gateway.issuance.precheck(request(world, ep, EnrollmentMethod.ACME, sans=[("DNS", "a.example.com")],
                                                      not_before=now + dt.timedelta(days=30)))
    _, wide = await world.profile("wide", {**PERMISSIVE, "max_forward_dating": "60d"})
    cert = leaf(await world.gateway.issuance.issue(request(world, wide, csr=csr("a.example.com", ["a.example.com"]),
                                                           not_before=now + dt.timedelta(days=30), ttl_seconds=86400)))
    assert cert.not_valid_before_utc > now + dt.timedelta(days=29)


# --- item 10: extension requests are carried or refused ------------------------------------------------------------

MUST_STAPLE = (x509.TLSFeature([x509.TLSFeatureType.status_request]), False)


async def test_must_staple_is_carried(world, tmp_path):
    _, ep = await world.profile("tls", TLS_SERVER, defaults=DV)
    cert = leaf(await world.gateway.issuance.issue(request(
        world, ep, csr=csr("www.example.com", ["www.example.com"], extensions=[MUST_STAPLE]))))
    ext = cert.extensions.get_extension_for_class(x509.TLSFeature)
    assert list(ext.value) == [x509.TLSFeatureType.status_request] and not ext.critical
    if (VENV_BIN / "lint_cabf_serverauth_cert").exists():
        (tmp_path / "leaf.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        assert findings("lint_cabf_serverauth_cert", tmp_path / "leaf.pem", "-t", "DV-FINAL-CERTIFICATE") == []


async def test_openssl_must_staple_csr_is_carried(world, tmp_path):
    # The openssl CLI's own encoding of the request (tlsfeature = status_request), not ours.
    made = subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         str(tmp_path / "k.pem"), "-subj", "/CN=www.example.com", "-addext", "subjectAltName=DNS:www.example.com",
         "-addext", "tlsfeature=status_request", "-addext", "basicConstraints=CA:FALSE",
         "-addext", "keyUsage=digitalSignature", "-addext", "extendedKeyUsage=serverAuth"],
        capture_output=True, timeout=60)
    assert made.returncode == 0, made.stderr
    _, ep = await world.profile("tls", TLS_SERVER, defaults=DV)
    cert = leaf(await world.gateway.issuance.issue(request(world, ep, csr=made.stdout)))
    assert list(cert.extensions.get_extension_for_class(x509.TLSFeature).value) == [
        x509.TLSFeatureType.status_request]


def _ku(**on):
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


@pytest.mark.parametrize("extension, message", [
    # keyEncipherment on an EC key: RFC 5480 §3 forbids it, so the profile cannot issue it.
    ((_ku(digital_signature=True, key_encipherment=True), True), "key usage key_encipherment"),
    ((_ku(digital_signature=True, content_commitment=True), True), "key usage content_commitment"),
    ((x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False), "extended key usage code_signing"),
    ((x509.BasicConstraints(ca=True, path_length=None), True), "basicConstraints cA=True"),
    ((x509.TLSFeature([x509.TLSFeatureType.status_request_v2, x509.TLSFeatureType.status_request]), False), None),
    ((x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2"), b"\x1e\x00"), False),
     "extension 1.3.6.1.4.1.311.20.2"),
    ((x509.OCSPNoCheck(), False), "extension OCSPNoCheck"),
])
async def test_extension_requests_we_cannot_honour_are_bad_csrs(world, extension, message):
    _, ep = await world.profile("tls", TLS_SERVER, defaults=DV)
    req = request(world, ep, csr=csr("www.example.com", ["www.example.com"], extensions=[extension]))
    if message is None:  # both OCSP stapling features are carried
        assert leaf(await world.gateway.issuance.issue(req))
        return
    err = await refused(world, req)
    assert err.kind is ErrorKind.BAD_CSR
    assert [v.kind for v in err.subproblems] == [ErrorKind.BAD_CSR]
    assert message in err.subproblems[0].message


async def test_extension_requests_within_the_profile_are_honoured(world):
    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    _, ep = await world.profile("tls", TLS_SERVER, defaults=DV)
    cert = leaf(await world.gateway.issuance.issue(request(world, ep, csr=csr(
        "www.example.com", ["www.example.com"], key=key, extensions=[
            (x509.BasicConstraints(ca=False, path_length=None), True), (_ku(digital_signature=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False), (ski, False)]))))
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value == ski


# --- item 13: numbers range-checked before use ---------------------------------------------------------------------

@pytest.mark.parametrize("field", [
    {"ttl_seconds": 10**12},
    {"ttl_seconds": -1},
    {"ttl_seconds": 0},
    {"not_before": dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc)},
    {"not_before": dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)},
])
async def test_out_of_range_numbers_are_malformed(world, field):
    _, ep = await world.profile("range", PERMISSIVE)
    err = await refused(world, request(world, ep, csr=csr("a.example.com", ["a.example.com"]), **field))
    assert err.kind is ErrorKind.MALFORMED


async def test_a_far_not_after_is_refused_not_a_crash(world):
    _, ep = await world.profile("far", PERMISSIVE)
    err = await refused(world, request(world, ep, csr=csr("a.example.com", ["a.example.com"]),
                                       not_after=dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)))
    assert err.kind in (ErrorKind.MALFORMED, ErrorKind.POLICY_VIOLATION)


@pytest.mark.parametrize("limit, offset", [(0, 0), (10**12, 0), (10, -1), (10, 10**12)])
async def test_request_pages_are_range_checked(world, limit, offset):
    with pytest.raises(GatewayError) as err:
        await world.gateway.issuance.list_requests(world.admin, limit=limit, offset=offset)
    assert err.value.kind is ErrorKind.MALFORMED


async def test_metadata_with_a_lone_surrogate_never_reaches_storage(world):
    # Whatever front end forgot to check: the core refuses it before any transaction.
    _, ep = await world.profile("meta", PERMISSIVE)
    err = await refused(world, request(world, ep, csr=csr("a.example.com", ["a.example.com"]),
                                       metadata={"team": "web\ud800"}))
    assert err.kind is ErrorKind.MALFORMED


# --- item 11's kind: a profile stamping a CA/B OID issues only what the BRs allow, whatever its policy -------------

@pytest.mark.parametrize("change, message", [
    ({"subject": [("CN", "www.example.com"), ("O", "Acme")]}, "Attribute O=Acme is not allowed by policy"),
    ({"managed_key": KeyAlgorithm.ED25519}, "Key algorithm ED25519 is not allowed by policy"),
    ({"ttl_seconds": 300 * 86400}, "Requested TTL 300d exceeds the policy maximum 200d"),
    ({"sans": [("DNS", "www.example.com"), ("email", "a@example.com")]}, "SAN email:a@example.com is not allowed"),
])
async def test_a_br_oid_on_a_permissive_policy_still_issues_only_br_certificates(world, change, message):
    _, ep = await world.profile("br-open", {"max_ttl": "825d"}, defaults=replace(DV, key_usages=("digital_signature",)))
    fields = {"subject": [("CN", "www.example.com")], "sans": [("DNS", "www.example.com")],
              "managed_key": KeyAlgorithm.ECDSA_P256, **change}
    err = await refused(world, request(world, ep, **fields))
    [violation] = err.subproblems
    assert violation.message.startswith(message) and "Baseline Requirements" in violation.message
