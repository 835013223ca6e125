"""Issue 7 item 2: every key algorithm offered for CAs works end to end (issue, CRL, OCSP, restart), a CA whose key
cannot sign status is refused at creation, and one broken CA never takes the others down."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from sqlalchemy import text

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.core.authorities import check_status_signing
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.crypto import keys
from enrollment_gateway.crypto.signer import LocalSigner
from enrollment_gateway.domain import ProfileDefaults
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.revocation.ocsp import issuer_hashes
from enrollment_gateway.server.app import create_app
from enrollment_gateway.storage import Database

from revocation_world import ANY_DNS, build_world, gateway_config
from test_revocation_service import issuer_pem, ocsp_request

OCSP_REQ = {"Content-Type": "application/ocsp-request"}


def _verify(public_key, signature: bytes, data: bytes, hash_algorithm) -> None:
    """Check a signature by any key the gateway offers (raises InvalidSignature)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hash_algorithm))
    else:  # Ed25519, ML-DSA: the message itself
        public_key.verify(signature, data)


def _pem_cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


async def _ocsp(client, cert, expected_issuer: x509.Certificate) -> ocsp.OCSPResponse:
    r = await client.post("/ocsp", data=ocsp_request(cert.certificate_pem, issuer_pem(cert)), headers=OCSP_REQ)
    assert r.status == 200 and r.content_type == "application/ocsp-response"
    answer = ocsp.load_der_ocsp_response(await r.read())
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    signer = answer.certificates[0] if answer.certificates else expected_issuer
    if answer.certificates:  # a delegated responder, certified by the CA it answers for (RFC 6960 §4.2.2.2)
        signer.verify_directly_issued_by(expected_issuer)
    _verify(signer.public_key(), answer.signature, answer.tbs_response_bytes, answer.signature_hash_algorithm)
    return answer


async def _crl(client, ca_id: str, ca_cert: x509.Certificate) -> x509.CertificateRevocationList:
    r = await client.get(f"/crl/{ca_id}.crl")
    assert r.status == 200, await r.text()
    crl = x509.load_der_x509_crl(await r.read())
    assert crl.is_signature_valid(ca_cert.public_key())
    return crl


@pytest.mark.parametrize("signed_by_ca", [False, True], ids=["delegated", "ca-signed"])
@pytest.mark.parametrize("algorithm", list(KeyAlgorithm), ids=[a.value for a in KeyAlgorithm])
async def test_every_ca_key_algorithm_works_end_to_end_across_a_restart(algorithm, signed_by_ca, aiohttp_client,
                                                                        tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    extra = {"EG_REVOCATION__OCSP_SIGNED_BY_CA": "true"} if signed_by_ca else {}
    config = gateway_config(tmp_path / "data", **extra)
    db = await Database.open(url)
    gateway = await Gateway.open(config, database=db)
    try:
        world = await build_world(gateway)
        g, admin = gateway, world.admin
        root = await g.authorities.create_root(admin, name="alg-root", subject=[("CN", f"{algorithm.value} Root")],
                                               key_algorithm=algorithm, path_length=1)
        issuing = await g.authorities.create_intermediate(admin, name="alg-issuing", parent_id=root.id,
                                                          subject=[("CN", f"{algorithm.value} Issuing")],
                                                          key_algorithm=algorithm)
        policy = await g.catalog.create_policy(admin, name="alg-policy", rules=ANY_DNS)
        profile = await g.catalog.create_profile(admin, name="alg", ca_id=issuing.id, policy_id=policy.id,
                                                 defaults=ProfileDefaults(), enrollment={"api": {}})
        endpoint = await g.applications.attach_profile(admin, world.app_id, profile.id)
        good = await world.issue("good.example.com", endpoint=endpoint.id)
        bad = await world.issue("bad.example.com", endpoint=endpoint.id)
        other = await world.issue("other.example.com")  # from the P-256 CA beside it
        await g.revocation.revoke(admin, bad.id, "key_compromise")
    finally:
        await gateway.close()
        await db.close()

    # A restart: every signer and cache is rebuilt from storage.
    db = await Database.open(url)
    gateway = await Gateway.open(config, database=db)
    try:
        client = await aiohttp_client(create_app(config, gateway=gateway, plain_http_guard_enabled=False))
        root_cert, issuing_cert = _pem_cert(root.certificate_pem), _pem_cert(issuing.certificate_pem)
        other_ca = _pem_cert((await gateway.authorities.get(world.issuing_id)).certificate_pem)
        assert (await _ocsp(client, other, other_ca)).certificate_status is ocsp.OCSPCertStatus.GOOD
        assert (await _ocsp(client, good, issuing_cert)).certificate_status is ocsp.OCSPCertStatus.GOOD
        revoked = await _ocsp(client, bad, issuing_cert)
        assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert (await _crl(client, issuing.id, issuing_cert)).get_revoked_certificate_by_serial_number(bad.serial)
        assert (await _crl(client, root.id, root_cert)).get_revoked_certificate_by_serial_number(1) is None
        assert (await _crl(client, world.issuing_id, other_ca)) is not None
        # The intermediate's own status, from its root's responder.
        request = ocsp.OCSPRequestBuilder().add_certificate(issuing_cert, root_cert, hashes.SHA1()).build()
        r = await client.post("/ocsp", headers=OCSP_REQ, data=request.public_bytes(serialization.Encoding.DER))
        assert ocsp.load_der_ocsp_response(await r.read()).certificate_status is ocsp.OCSPCertStatus.GOOD
    finally:
        await gateway.close()
        await db.close()


async def test_one_broken_ca_answers_for_itself_alone(aiohttp_client, tmp_path):
    """A CA whose key cannot be unwrapped (a damaged row, a key from another KEK) gets tryLater and 503; every other
    CA's OCSP and CRL keep working, before and after a restart."""
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    config = gateway_config(tmp_path / "data")
    db = await Database.open(url)
    gateway = await Gateway.open(config, database=db)
    world = await build_world(gateway)
    cert = await world.issue()
    broken = await gateway.authorities.create_root(world.admin, name="broken", subject=[("CN", "Broken Root")],
                                                   key_algorithm=KeyAlgorithm.ECDSA_P256)
    await gateway.close()
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE cas SET key_blob = :blob WHERE id = :id"), {"blob": b"\x00" * 64,
                                                                                     "id": broken.id})
    await db.close()
    db = await Database.open(url)
    gateway = await Gateway.open(config, database=db)
    try:
        client = await aiohttp_client(create_app(config, gateway=gateway, plain_http_guard_enabled=False))
        issuing = _pem_cert((await gateway.authorities.get(world.issuing_id)).certificate_pem)
        assert (await _ocsp(client, cert, issuing)).certificate_status is ocsp.OCSPCertStatus.GOOD
        broken_cert = _pem_cert(broken.certificate_pem)
        request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            *_hashes(broken_cert), 7, hashes.SHA1()).build()
        r = await client.post("/ocsp", data=request.public_bytes(serialization.Encoding.DER), headers=OCSP_REQ)
        assert r.status == 200
        assert ocsp.load_der_ocsp_response(await r.read()).response_status is ocsp.OCSPResponseStatus.TRY_LATER
        r = await client.get(f"/crl/{broken.id}.crl")
        assert r.status == 503 and r.headers["Retry-After"]
        await _crl(client, world.issuing_id, issuing)
        assert (await _ocsp(client, cert, issuing)).certificate_status is ocsp.OCSPCertStatus.GOOD
    finally:
        await gateway.close()
        await db.close()


def _hashes(cert: x509.Certificate) -> tuple[bytes, bytes]:
    return issuer_hashes(cert, "sha1")


class _CannotSignCRLs(LocalSigner):
    """A signer (an HSM, a future algorithm) that signs certificates but not CRLs."""

    def sign_crl(self, builder):
        raise NotImplementedError("no CRL signing for this key")


def test_a_ca_that_cannot_sign_status_is_refused_with_a_reason():
    key = keys.generate_private_key(KeyAlgorithm.ECDSA_P256)
    signer = LocalSigner(key, KeyAlgorithm.ECDSA_P256)
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name.from_rfc4514_string("CN=Probe")
    cert = signer.sign_certificate(
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    check_status_signing(signer, cert, now)  # a usable CA passes
    with pytest.raises(GatewayError) as err:
        check_status_signing(_CannotSignCRLs(key, KeyAlgorithm.ECDSA_P256), cert, now)
    assert err.value.kind is ErrorKind.BAD_PUBLIC_KEY and "cannot sign CRLs or OCSP" in err.value.detail
