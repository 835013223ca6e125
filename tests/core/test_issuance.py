"""The one issuance entry point, end to end through real storage: CSR and managed keys, policy, approval, audit."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.core.audit import query_audit
from enrollment_gateway.core.inventory import Query
from enrollment_gateway.core.issuance import IssuanceRequest, Issued, Pending
from enrollment_gateway.domain import EnrollmentMethod, IdentityKind, ProfileDefaults, RequestStatus, Role
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.storage.repositories import CertificateFilter

ANY_DNS = {"san": {"DNS": {"allow": ["*.example.com", "example.com"]}}, "max_ttl": "365d"}


def make_csr(names=("www.example.com",), cn: str | None = "www.example.com", key=None) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    b = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def issue(world, endpoint, actor=None, **kw) -> IssuanceRequest:
    return IssuanceRequest(actor=actor or world.admin, endpoint_id=endpoint, protocol=EnrollmentMethod.API, **kw)


async def counts(world) -> tuple[int, int]:
    async with world.gateway.db.transaction() as tx:
        reqs = await tx.requests.list(None, None, 1000, 0)
        certs = await tx.certificates.list(CertificateFilter(now=world.gateway.clock.now()), 1000, 0)
    return len(reqs), len(certs)


def openssl_verify(tmp_path, leaf_pem: str, chain_pem: str) -> str:
    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    (tmp_path / "root.pem").write_bytes(chain[-1].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "chain.pem").write_text(chain_pem)
    (tmp_path / "leaf.pem").write_text(leaf_pem)
    r = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                        str(tmp_path / "chain.pem"), str(tmp_path / "leaf.pem")], capture_output=True, text=True)
    return r.stdout + r.stderr


async def test_csr_issuance_verifies_and_is_stored_and_audited(world, tmp_path):
    _, ep = await world.profile("web", ANY_DNS)
    outcome = await world.gateway.issuance.issue(issue(world, ep, csr=make_csr(), metadata={"team": "web"}))
    assert isinstance(outcome, Issued)
    cert = outcome.certificate
    assert cert.sans == ("DNS:www.example.com",) and cert.metadata == {"team": "web"}
    assert "OK" in openssl_verify(tmp_path, cert.certificate_pem, cert.chain_pem)
    parsed = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    assert parsed.serial_number.bit_length() > 64  # CSPRNG serial with at least 64 bits of entropy
    # Backdated against client clock skew, by minutes, not more.
    skew = world.gateway.clock.now() - parsed.not_valid_before_utc
    assert dt.timedelta(minutes=1) < skew < dt.timedelta(minutes=10)
    ext = {e.oid.dotted_string for e in parsed.extensions}
    assert {"2.5.29.31", "1.3.6.1.5.5.7.1.1", "2.5.29.35", "2.5.29.14"} <= ext  # CDP, AIA, AKI, SKI
    events = await query_audit(world.gateway.db, application_ids=None, action="certificate.issued")
    assert [e.object_id for e in events] == [cert.id]


async def test_every_violation_is_reported_and_nothing_is_stored(world):
    _, ep = await world.profile("strict", {"san": {"DNS": {"allow": ["*.example.com"]}}, "max_ttl": "30d",
                                           "key_algorithms": ["ECDSA_P384"]})
    before = await counts(world)
    with pytest.raises(GatewayError) as err:
        await world.gateway.issuance.issue(issue(world, ep, csr=make_csr(("evil.com", "a.example.com")),
                                                 ttl_seconds=400 * 86400))
    messages = [v.message for v in err.value.subproblems]
    assert "SAN DNS:evil.com is not allowed by policy" in messages
    assert "Key algorithm ECDSA_P256 is not allowed by policy" in messages
    assert "Requested TTL 400d exceeds the policy maximum 30d" in messages
    assert err.value.kind is ErrorKind.POLICY_VIOLATION
    assert await counts(world) == before
    refused = await query_audit(world.gateway.db, application_ids=None, action="request.refused")
    assert refused and refused[0].outcome == "refused"


async def test_rsa_1024_and_broken_csrs_are_refused(world):
    _, ep = await world.profile("web", ANY_DNS)
    weak = make_csr(key=rsa.generate_private_key(65537, 1024))
    with pytest.raises(GatewayError) as err:
        await world.gateway.issuance.issue(issue(world, ep, csr=weak))
    assert err.value.kind is ErrorKind.BAD_PUBLIC_KEY
    with pytest.raises(GatewayError) as err:
        await world.gateway.issuance.issue(issue(world, ep, csr=b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"))
    assert err.value.kind is ErrorKind.BAD_CSR


async def test_csr_without_subject_gets_critical_san(world):
    _, ep = await world.profile("web", ANY_DNS)
    outcome = await world.gateway.issuance.issue(issue(world, ep, csr=make_csr(cn=None)))
    parsed = x509.load_pem_x509_certificate(outcome.certificate.certificate_pem.encode())
    assert len(parsed.subject) == 0
    assert parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical  # RFC 5280 §4.2.1.6


@pytest.mark.parametrize("alg", [KeyAlgorithm.ECDSA_P256, KeyAlgorithm.RSA_2048, KeyAlgorithm.ED25519,
                                 KeyAlgorithm.ML_DSA_65])
async def test_managed_keys_are_generated_kept_encrypted_and_exportable(world, alg):
    _, ep = await world.profile("managed", {})
    outcome = await world.gateway.issuance.issue(issue(world, ep, managed_key=alg, subject=[("CN", "svc")],
                                                       sans=[("DNS", "svc.example.com")]))
    assert outcome.certificate.has_managed_key and outcome.certificate.key_algorithm == alg.value
    pem = await world.gateway.inventory.export_pem(world.admin, outcome.certificate.id, include_key=True)
    assert "PRIVATE KEY" in pem
    async with world.gateway.db.transaction() as tx:
        blob = await tx.certificates.managed_key_blob(outcome.certificate.id)
    assert b"PRIVATE KEY" not in blob  # wrapped with the KEK, never in clear


async def test_approval_pending_then_approved_or_rejected(world):
    app_id, ep = await world.profile("gated", ANY_DNS, approval=True)
    g = world.gateway
    op = await g.applications.create_identity(world.admin, name="op", kind=IdentityKind.USER,
                                              application_id=app_id, role=Role.OPERATOR)
    operator = await g.applications.authenticate(op.token)
    pending = await g.issuance.issue(issue(world, ep, actor=operator, csr=make_csr()))
    assert isinstance(pending, Pending) and pending.request.status is RequestStatus.PENDING
    with pytest.raises(GatewayError) as err:  # an operator may not approve
        await g.issuance.approve(operator, pending.request.id)
    assert err.value.kind is ErrorKind.FORBIDDEN
    issued = await g.issuance.approve(world.admin, pending.request.id)
    assert issued.request.status is RequestStatus.ISSUED and issued.certificate.request_id == pending.request.id
    with pytest.raises(GatewayError):  # decided once
        await g.issuance.approve(world.admin, pending.request.id)
    second = await g.issuance.issue(issue(world, ep, actor=operator, csr=make_csr()))
    rejected = await g.issuance.reject(world.admin, second.request.id, "no")
    assert rejected.status is RequestStatus.REJECTED
    # A machine identity marked to bypass approval is issued at once.
    bot = await g.applications.create_identity(world.admin, name="ci-bot", kind=IdentityKind.MACHINE,
                                               application_id=app_id, role=Role.OPERATOR, bypass_approval=True)
    direct = await g.issuance.issue(issue(world, ep, actor=await g.applications.authenticate(bot.token),
                                          csr=make_csr()))
    assert isinstance(direct, Issued)


async def test_scope_other_application_cannot_issue_or_see(world):
    app_a, ep_a = await world.profile("a-prof", ANY_DNS, app_name="a")
    app_b, ep_b = await world.profile("b-prof", ANY_DNS, app_name="b")
    g = world.gateway
    member_a = await g.applications.authenticate(
        (await g.applications.create_identity(world.admin, name="alice", kind=IdentityKind.USER,
                                              application_id=app_a, role=Role.ADMIN)).token)
    b_cert = (await g.issuance.issue(issue(world, ep_b, csr=make_csr()))).certificate
    with pytest.raises(GatewayError) as err:
        await g.issuance.issue(issue(world, ep_b, actor=member_a, csr=make_csr()))
    assert err.value.kind is ErrorKind.NOT_FOUND
    with pytest.raises(GatewayError):
        await g.inventory.get(member_a, b_cert.id)
    assert await g.inventory.list(member_a, Query()) == []


async def test_ttl_defaults_are_clamped_and_notafter_never_outlives_the_ca(world):
    _, ep = await world.profile("long", {"max_ttl": "10d"}, defaults=ProfileDefaults(ttl_seconds=90 * 86400))
    cert = (await world.gateway.issuance.issue(issue(world, ep, csr=make_csr()))).certificate
    assert cert.not_after - world.gateway.clock.now() <= dt.timedelta(days=10)


async def test_self_signed_profile_issues_managed_keys_only(world):
    _, ep = await world.profile("self", {}, ca_id=None)
    cert = (await world.gateway.issuance.issue(issue(world, ep, managed_key=KeyAlgorithm.ECDSA_P256,
                                                     subject=[("CN", "self.example.com")],
                                                     sans=[("DNS", "self.example.com")]))).certificate
    parsed = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    assert parsed.issuer == parsed.subject
    with pytest.raises(GatewayError) as err:
        await world.gateway.issuance.issue(issue(world, ep, csr=make_csr()))
    assert err.value.kind is ErrorKind.MALFORMED
