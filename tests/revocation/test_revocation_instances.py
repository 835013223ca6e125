"""Issue 7 item 5: what decides whether to sign, and what OCSP says about child CAs, is current across instances.

Two Gateway instances on one database (an SQLite file, and PostgreSQL), as behind a load balancer: instance A
changes state, instance B, whose caches are warm, must act on it with its very next request.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.core.issuance import IssuanceRequest
from enrollment_gateway.domain import CAStatus, EnrollmentMethod
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.revocation.ocsp import issuer_hashes
from enrollment_gateway.server.app import create_app

from revocation_world import gateway_config, make_csr, world  # noqa: F401 (fixture)


@pytest.fixture
async def instance_b(world, database_target, tmp_path):
    db = await database_target.open()
    gateway = await Gateway.open(gateway_config(tmp_path / "data"), database=db)
    try:
        yield gateway
    finally:
        await gateway.close()
        await db.close()


async def _issue_on(gateway: Gateway, world, name: str = "www.example.com"):
    return await gateway.issuance.issue(IssuanceRequest(actor=world.admin, endpoint_id=world.endpoint_id,
                                                        protocol=EnrollmentMethod.API, csr=make_csr(name)))


async def _refused_on(gateway: Gateway, world) -> GatewayError:
    with pytest.raises(GatewayError) as err:
        await _issue_on(gateway, world)
    assert err.value.kind is ErrorKind.CONFLICT
    return err.value


async def test_a_ca_disabled_on_one_instance_stops_issuing_on_the_others_at_once(world, instance_b):
    a, b = world.gateway, instance_b
    await _issue_on(b, world)  # B has loaded and cached the issuing CA's signer
    await a.authorities.set_status(world.admin, world.issuing_id, CAStatus.DISABLED)
    assert "disabled" in (await _refused_on(b, world)).detail
    await _refused_on(b, world)  # and stays refused
    await a.authorities.set_status(world.admin, world.issuing_id, CAStatus.ACTIVE)
    await _issue_on(b, world)  # re-enabled anywhere: issues again at once


async def test_a_ca_revoked_on_one_instance_stops_issuing_on_the_others_at_once(world, instance_b):
    a, b = world.gateway, instance_b
    await _issue_on(b, world)
    await a.revocation.revoke_ca(world.admin, world.issuing_id, "key_compromise")
    await _refused_on(b, world)


def _ca_request(child: x509.Certificate, parent: x509.Certificate) -> bytes:
    return ocsp.OCSPRequestBuilder().add_certificate(child, parent, hashes.SHA1()).build().public_bytes(
        serialization.Encoding.DER)


async def test_an_intermediate_made_on_one_instance_is_good_at_once_on_the_others(world, instance_b):
    a, b = world.gateway, instance_b
    load = lambda ca: x509.load_pem_x509_certificate(ca.certificate_pem.encode())  # noqa: E731
    root, issuing = load(await a.authorities.get(world.root_id)), load(await a.authorities.get(world.issuing_id))
    warm = await b.ocsp.respond(world.root_id, _ca_request(issuing, root))  # B reads the root's children
    assert ocsp.load_der_ocsp_response(warm.body).certificate_status is ocsp.OCSPCertStatus.GOOD
    fresh = await a.authorities.create_intermediate(world.admin, name="fresh", parent_id=world.root_id,
                                                    subject=[("CN", "Fresh Issuing CA")],
                                                    key_algorithm=KeyAlgorithm.ECDSA_P256)
    answer = await b.ocsp.respond(world.root_id, _ca_request(load(fresh), root))
    assert ocsp.load_der_ocsp_response(answer.body).certificate_status is ocsp.OCSPCertStatus.GOOD


async def test_unknown_is_never_cacheable(world, instance_b, aiohttp_client):
    b = instance_b
    client = await aiohttp_client(create_app(b.config, gateway=b, plain_http_guard_enabled=False))
    issuing = x509.load_pem_x509_certificate((await b.authorities.get(world.issuing_id)).certificate_pem.encode())
    never_issued = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        *issuer_hashes(issuing, "sha1"), 0x1234567890ABCDEF, hashes.SHA1()).build().public_bytes(
        serialization.Encoding.DER)
    for _ in range(2):  # the second time too: nothing kept it
        r = await client.post(f"/ocsp/{world.issuing_id}", data=never_issued,
                              headers={"Content-Type": "application/ocsp-request"})
        assert ocsp.load_der_ocsp_response(await r.read()).certificate_status is ocsp.OCSPCertStatus.UNKNOWN
        assert r.headers["Cache-Control"] == "no-store"
        assert "ETag" not in r.headers and "Expires" not in r.headers


async def test_when_revoke_returns_every_instance_shows_it(world, instance_b):
    """Issue 7 item 6 across instances: B had cached "good" and the old CRL; once A's revoke call has returned,
    B's very next OCSP answer and CRL show the revocation (no waiting, no poking at B's internals)."""
    a, b = world.gateway, instance_b
    cert = await world.issue()
    load = lambda pem: x509.load_pem_x509_certificate(pem.encode())  # noqa: E731
    issuer = load((await a.authorities.get(world.issuing_id)).certificate_pem)
    request = ocsp.OCSPRequestBuilder().add_certificate(load(cert.certificate_pem), issuer, hashes.SHA1()).build() \
        .public_bytes(serialization.Encoding.DER)
    good = await b.ocsp.respond(world.issuing_id, request)
    assert ocsp.load_der_ocsp_response(good.body).certificate_status is ocsp.OCSPCertStatus.GOOD
    before = x509.load_der_x509_crl((await b.crls.current(world.issuing_id)).der)
    assert before.get_revoked_certificate_by_serial_number(cert.serial) is None
    await a.revocation.revoke(world.admin, cert.id, "key_compromise")
    answer = await b.ocsp.respond(world.issuing_id, request)
    assert ocsp.load_der_ocsp_response(answer.body).certificate_status is ocsp.OCSPCertStatus.REVOKED
    after = x509.load_der_x509_crl((await b.crls.current(world.issuing_id)).der)
    assert after.get_revoked_certificate_by_serial_number(cert.serial) is not None
