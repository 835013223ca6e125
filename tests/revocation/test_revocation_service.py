"""The revocation service through real storage on both engines: revoke, hold and release, refusals, CA revocation,
CRL numbering across a re-open, and the OCSP responder's answers and invalidation."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from enrollment_gateway.core.audit import query_audit
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.core.revocation import parse_reason
from enrollment_gateway.domain import CAStatus, RevocationReason, Role
from enrollment_gateway.errors import ErrorKind, GatewayError

from revocation_world import build_world, gateway_config, world  # noqa: F401 (fixture)


def crl_of(published) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(published.der)


def ocsp_request(cert_pem: str, issuer_pem: str, algorithm=hashes.SHA1(), nonce: bytes | None = None) -> bytes:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    issuer = x509.load_pem_x509_certificate(issuer_pem.encode())
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def issuer_pem(cert) -> str:
    return x509.load_pem_x509_certificates(cert.chain_pem.encode())[0].public_bytes(
        serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("value, expected", [
    (None, RevocationReason.UNSPECIFIED),  # absent: unspecified
    ("key_compromise", RevocationReason.KEY_COMPROMISE),  # the enum's (API) spelling
    ("keyCompromise", RevocationReason.KEY_COMPROMISE),  # the RFC 5280 spelling
    ("cACompromise", RevocationReason.CA_COMPROMISE),  # the RFC's odd capitals
    (6, RevocationReason.CERTIFICATE_HOLD),  # a reason code (ACME sends these)
    (10, RevocationReason.AA_COMPROMISE),
])
def test_reasons_parse(value, expected):
    assert parse_reason(value) is expected


@pytest.mark.parametrize("value", [
    "compromised",  # not a reason
    8,  # removeFromCRL is release_hold, not a revocation
    7,  # unused code
    True,  # a bool is not a code
    "",
])
def test_bad_reasons_are_refused(value):
    with pytest.raises(GatewayError) as err:
        parse_reason(value)
    assert err.value.kind is ErrorKind.BAD_REVOCATION_REASON


async def test_revoke_shows_on_crl_and_ocsp_and_is_audited(world):
    g = world.gateway
    cert = await world.issue()
    good = ocsp.load_der_ocsp_response((await g.ocsp.respond(world.issuing_id, ocsp_request(
        cert.certificate_pem, issuer_pem(cert)))).body)
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    invalid = g.clock.now() - dt.timedelta(days=1)
    revoked = await g.revocation.revoke(world.admin, cert.id, "key_compromise", invalidity_date=invalid)
    assert revoked.revoked_at is not None and revoked.revocation_reason == "key_compromise"
    # The cached "good" is gone at once.
    answer = await g.ocsp.respond(world.issuing_id, ocsp_request(cert.certificate_pem, issuer_pem(cert)))
    parsed = ocsp.load_der_ocsp_response(answer.body)
    assert parsed.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert parsed.revocation_reason is x509.ReasonFlags.key_compromise
    crl = crl_of(await g.crls.publish(world.issuing_id))
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == \
        invalid.replace(microsecond=0)
    events = await query_audit(g.db, application_ids=None, action="certificate.revoked")
    assert [e.object_id for e in events] == [cert.id]


async def test_already_revoked_is_refused_and_audited(world):
    g = world.gateway
    cert = await world.issue()
    await g.revocation.revoke(world.admin, cert.id, "superseded")
    with pytest.raises(GatewayError) as err:
        await g.revocation.revoke(world.admin, cert.id, "key_compromise")
    assert err.value.kind is ErrorKind.ALREADY_REVOKED
    refusals = await query_audit(g.db, application_ids=None, action="certificate.revoke_refused")
    assert refusals and refusals[0].outcome == "refused"


async def test_hold_release_and_hold_made_final(world):
    g = world.gateway
    cert = await world.issue()
    await g.revocation.revoke(world.admin, cert.id, "certificateHold")
    assert cert.serial in {r.serial_number for r in crl_of(await g.crls.publish(world.issuing_id))}
    released = await g.revocation.release_hold(world.admin, cert.id)
    assert released.revoked_at is None
    # removeFromCRL semantics: gone from the next CRL, good again on OCSP.
    assert cert.serial not in {r.serial_number for r in crl_of(await g.crls.publish(world.issuing_id))}
    answer = ocsp.load_der_ocsp_response((await g.ocsp.respond(None, ocsp_request(
        cert.certificate_pem, issuer_pem(cert)))).body)
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert await query_audit(g.db, application_ids=None, action="certificate.hold_released")
    # A hold may become final; a final revocation may not be released.
    await g.revocation.revoke(world.admin, cert.id, "certificate_hold")
    final = await g.revocation.revoke(world.admin, cert.id, "key_compromise")
    assert final.revocation_reason == "key_compromise"
    with pytest.raises(GatewayError) as err:
        await g.revocation.release_hold(world.admin, cert.id)
    assert err.value.kind is ErrorKind.CONFLICT


async def test_unknown_reason_other_application_and_auditor(world):
    g = world.gateway
    cert = await world.issue()
    with pytest.raises(GatewayError) as err:
        await g.revocation.revoke(world.admin, cert.id, "because")
    assert err.value.kind is ErrorKind.BAD_REVOCATION_REASON
    stranger = await world.member(Role.ADMIN, world.other_app_id)
    with pytest.raises(GatewayError) as err:
        await g.revocation.revoke(stranger, cert.id, "superseded")
    assert err.value.kind is ErrorKind.NOT_FOUND  # not FORBIDDEN: it must not learn the certificate exists
    with pytest.raises(GatewayError) as err:
        await g.revocation.revoke_by_serial(stranger, world.issuing_id, cert.serial, "superseded")
    assert err.value.kind is ErrorKind.NOT_FOUND
    auditor = await world.member(Role.AUDITOR)
    with pytest.raises(GatewayError) as err:
        await g.revocation.revoke(auditor, cert.id, "superseded")
    assert err.value.kind is ErrorKind.FORBIDDEN
    operator = await world.member(Role.OPERATOR)
    done = await g.revocation.revoke_by_serial(operator, world.issuing_id, cert.serial, "superseded")
    assert done.id == cert.id and done.revocation_reason == "superseded"


async def test_protocol_revocation_skips_roles_but_is_audited(world):
    g = world.gateway
    cert = await world.issue()
    from enrollment_gateway.domain import Actor
    acme = Actor(id="acme:acct1", name="acme account 1", via="acme")
    await g.revocation.revoke_as_protocol(cert.id, 1, acme)
    events = await query_audit(g.db, application_ids=None, action="certificate.revoked")
    assert events[0].actor == "acme:acct1" and events[0].details["via"] == "acme"


async def test_ca_revocation_on_parents_crl_and_ocsp(world):
    g = world.gateway
    issuing = await g.authorities.get(world.issuing_id)
    root = await g.authorities.get(world.root_id)
    revoked = await g.revocation.revoke_ca(world.admin, world.issuing_id, "ca_compromise")
    assert revoked.status is CAStatus.DISABLED
    serial = x509.load_pem_x509_certificate(issuing.certificate_pem.encode()).serial_number
    entry = crl_of(await g.crls.publish(world.root_id)).get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    request = ocsp_request(issuing.certificate_pem, root.certificate_pem, hashes.SHA256())
    answer = ocsp.load_der_ocsp_response((await g.ocsp.respond(world.root_id, request)).body)
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is x509.ReasonFlags.ca_compromise
    with pytest.raises(GatewayError) as err:
        await g.revocation.revoke_ca(world.admin, world.issuing_id, "ca_compromise")
    assert err.value.kind is ErrorKind.ALREADY_REVOKED
    with pytest.raises(GatewayError) as err:
        await g.revocation.revoke_ca(world.admin, world.root_id, "ca_compromise")
    assert err.value.kind is ErrorKind.CONFLICT  # a root has no parent CRL here
    # The disabled CA still publishes a CRL for what it issued.
    assert crl_of(await g.crls.publish(world.issuing_id)).issuer == \
        x509.load_pem_x509_certificate(issuing.certificate_pem.encode()).subject


async def test_unrevoked_intermediate_is_good_and_unissued_serial_unknown(world):
    g = world.gateway
    issuing = await g.authorities.get(world.issuing_id)
    root = await g.authorities.get(world.root_id)
    request = ocsp_request(issuing.certificate_pem, root.certificate_pem)
    assert ocsp.load_der_ocsp_response((await g.ocsp.respond(world.root_id, request)).body).certificate_status \
        is ocsp.OCSPCertStatus.GOOD
    cert = await world.issue()
    forged = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        *_hashes(forged, x509.load_pem_x509_certificate(issuer_pem(cert).encode())), cert.serial + 1, hashes.SHA1())
    answer = ocsp.load_der_ocsp_response((await g.ocsp.respond(world.issuing_id, builder.build().public_bytes(
        serialization.Encoding.DER))).body)
    assert answer.certificate_status is ocsp.OCSPCertStatus.UNKNOWN


def _hashes(cert, issuer):
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    return request.issuer_name_hash, request.issuer_key_hash


async def test_crl_numbers_grow_across_reopen_and_instances(world, database_target, tmp_path):
    first = await world.gateway.crls.publish(world.issuing_id)
    second = await world.gateway.crls.publish(world.issuing_id)
    assert second.number > first.number
    # A second instance on the same database (a restart, or another node) continues the sequence.
    other_db = await database_target.open()
    other = await Gateway.open(gateway_config(tmp_path / "data"), database=other_db)
    try:
        seen = await other.crls.current(world.issuing_id)
        assert seen.number == second.number  # serves the stored one rather than building its own
        third = await other.crls.publish(world.issuing_id)
        assert third.number > second.number
        assert x509.load_der_x509_crl(third.der).extensions.get_extension_for_class(x509.CRLNumber).value \
            .crl_number == third.number
        # A revocation made on one instance reaches the other's OCSP cache through the shared generation.
        cert = await world.issue()
        request = ocsp_request(cert.certificate_pem, issuer_pem(cert))
        good = await other.ocsp.respond(world.issuing_id, request)
        assert ocsp.load_der_ocsp_response(good.body).certificate_status is ocsp.OCSPCertStatus.GOOD
        await world.gateway.revocation.revoke(world.admin, cert.id, "superseded")
        other.ocsp._synced_at -= 2  # as if a second had passed
        again = await other.ocsp.respond(world.issuing_id, request)
        assert ocsp.load_der_ocsp_response(again.body).certificate_status is ocsp.OCSPCertStatus.REVOKED
    finally:
        await other.close()
        await other_db.close()


async def test_expired_entries_leave_after_one_crl(world):
    """RFC 5280 §3.3: once a CRL issued after notAfter has listed the entry, the next CRL may drop it."""
    g = world.gateway
    cert = await world.issue()
    await g.revocation.revoke(world.admin, cert.id, "superseded")
    await g.crls.publish(world.issuing_id)
    from enrollment_gateway.core.clock import FixedClock
    later = FixedClock(cert.not_after + dt.timedelta(hours=2))
    g.crls._clock = later  # the publisher's injected clock, moved past the certificate's expiry
    listed = crl_of(await g.crls.publish(world.issuing_id))
    assert listed.get_revoked_certificate_by_serial_number(cert.serial) is not None  # first CRL past notAfter
    later.advance(dt.timedelta(hours=2))
    dropped = crl_of(await g.crls.publish(world.issuing_id))
    assert dropped.get_revoked_certificate_by_serial_number(cert.serial) is None
