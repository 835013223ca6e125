"""The plain-HTTP PKI front end and the revocation API, through aiohttp's test client on the real app factory."""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse
from email.utils import format_datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from enrollment_gateway.core.bootstrap import create_admin
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.server.app import create_app

from revocation_world import build_world, gateway_config
from test_revocation_service import issuer_pem, ocsp_request

OCSP_REQ = {"Content-Type": "application/ocsp-request"}


@pytest.fixture(params=[False, True], ids=["delegated", "ca-signed"])
async def served(request, aiohttp_client, sqlite_database, tmp_path):
    extra = {"EG_REVOCATION__OCSP_SIGNED_BY_CA": "true"} if request.param else {}
    gateway = await Gateway.open(gateway_config(tmp_path / "data", **extra), database=sqlite_database)
    world = await build_world(gateway)
    client = await aiohttp_client(create_app(gateway.config, gateway=gateway, plain_http_guard_enabled=False))
    token = (await create_admin(gateway, "http-admin")).token
    try:
        yield world, client, {"Authorization": f"Bearer {token}"}
    finally:
        await gateway.close()


def status_of(body: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(body)


async def post_ocsp(client, ca_id, data: bytes, **kw) -> ocsp.OCSPResponse:
    r = await client.post(f"/ocsp/{ca_id}", data=data, headers=OCSP_REQ, **kw)
    assert r.status == 200 and r.content_type == "application/ocsp-response"
    return status_of(await r.read())


async def test_crl_der_pem_and_conditional_get(served):
    world, client, _ = served
    r = await client.get(f"/crl/{world.issuing_id}.crl")
    assert r.status == 200 and r.content_type == "application/pkix-crl"
    der = await r.read()
    crl = x509.load_der_x509_crl(der)
    issuing = await world.gateway.authorities.get(world.issuing_id)
    ca_cert = x509.load_pem_x509_certificate(issuing.certificate_pem.encode())
    assert crl.is_signature_valid(ca_cert.public_key())
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(hours=24)
    # A cache revalidates on every use (a revocation supersedes the CRL long before nextUpdate); Expires still
    # says when it runs out.
    assert r.headers["Cache-Control"] == "public, no-cache, no-transform"
    assert "max-age" not in r.headers["Cache-Control"]
    assert r.headers["Expires"] == format_datetime(crl.next_update_utc, usegmt=True)
    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    assert (await client.get(f"/crl/{world.issuing_id}.crl", headers={"If-None-Match": etag})).status == 304
    assert (await client.get(f"/crl/{world.issuing_id}.crl", headers={"If-Modified-Since": modified})).status == 304
    assert (await client.get(f"/crl/{world.issuing_id}.crl", headers={"If-None-Match": '"other"'})).status == 200
    for url, headers in ((f"/crl/{world.issuing_id}.pem", {}), (f"/crl/{world.issuing_id}.crl?format=pem", {}),
                         (f"/crl/{world.issuing_id}.crl", {"Accept": "application/x-pem-file"})):
        r = await client.get(url, headers=headers)
        assert r.status == 200 and r.content_type == "application/x-pem-file", url
        assert x509.load_pem_x509_crl(await r.read()).public_bytes(serialization.Encoding.DER) == der
        assert r.headers["ETag"] != etag


@pytest.mark.parametrize("path", ["/crl/0123456789abcdef.crl", "/crl/nothing", "/crl/..%2f.crl", "/crl/x.txt"])
async def test_crl_unknown_or_odd_paths_are_404(served, path):
    _, client, _ = served
    assert (await client.get(path)).status == 404


async def test_ca_certificate_der_and_pem(served):
    world, client, _ = served
    r = await client.get(f"/ca/{world.issuing_id}.crt")
    assert r.status == 200 and r.content_type == "application/pkix-cert"
    cert = x509.load_der_x509_certificate(await r.read())
    r = await client.get(f"/ca/{world.issuing_id}.pem")
    assert x509.load_pem_x509_certificate(await r.read()) == cert
    assert (await client.get("/ca/ffff.crt")).status == 404


async def test_ocsp_post_get_good_revoked_unknown_unauthorized(served, pki):
    world, client, auth = served
    cert = await world.issue()
    request = ocsp_request(cert.certificate_pem, issuer_pem(cert))
    good = await post_ocsp(client, world.issuing_id, request)
    assert good.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD and good.serial_number == cert.serial
    issuer = x509.load_pem_x509_certificate(issuer_pem(cert).encode())
    signer = good.certificates[0] if good.certificates else issuer
    signer.public_key().verify(good.signature, good.tbs_response_bytes,
                               __import__("cryptography.hazmat.primitives.asymmetric.ec",
                                          fromlist=["ECDSA"]).ECDSA(good.signature_hash_algorithm))
    if good.certificates:  # a delegated responder: issued by the CA, OCSPSigning, nocheck
        assert signer.issuer == issuer.subject
        assert ExtendedKeyUsageOID.OCSP_SIGNING in signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        signer.extensions.get_extension_for_class(x509.OCSPNoCheck)
    # GET, base64 raw and percent-encoded, SHA-256 CertID as well.
    b64 = base64.b64encode(ocsp_request(cert.certificate_pem, issuer_pem(cert), hashes.SHA256())).decode()
    for tail in (b64, urllib.parse.quote(b64, safe="")):
        r = await client.get(f"/ocsp/{world.issuing_id}/{tail}")
        assert r.status == 200, tail
        for header in ("Cache-Control", "ETag", "Last-Modified", "Expires"):
            assert header in r.headers, header
        assert "max-age=" in r.headers["Cache-Control"]
        answer = status_of(await r.read())
        assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert answer.hash_algorithm.name == "sha256"
        r304 = await client.get(f"/ocsp/{world.issuing_id}/{tail}", headers={"If-None-Match": r.headers["ETag"]})
        assert r304.status == 304
    # Revoked through the API: visible on the very next OCSP request, POST and GET alike.
    r = await client.post(f"/api/v1/certificates/{cert.id}/revoke", json={"reason": "keyCompromise"}, headers=auth)
    assert r.status == 200 and (await r.json())["revocation_reason"] == "key_compromise"
    revoked = await post_ocsp(client, world.issuing_id, request)
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise
    r = await client.get(f"/ocsp/{world.issuing_id}/{b64}")
    assert status_of(await r.read()).certificate_status is ocsp.OCSPCertStatus.REVOKED
    # An issuer we do not hold, and a CA id we do not know.
    foreign = ocsp_request(pki.leaf().public_bytes(serialization.Encoding.PEM).decode(),
                           pki.cert.public_bytes(serialization.Encoding.PEM).decode())
    assert (await post_ocsp(client, world.issuing_id, foreign)).response_status is \
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert (await post_ocsp(client, "0123abcd", request)).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


async def test_nonce_is_echoed(served):
    world, client, _ = served
    cert = await world.issue()
    nonce = b"\x01" * 16
    answer = await post_ocsp(client, world.issuing_id, ocsp_request(cert.certificate_pem, issuer_pem(cert),
                                                                     nonce=nonce))
    assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


def _many(cert_pem: str, issuer: str, count: int) -> bytes:
    """A DER OCSPRequest listing `count` CertIDs (cryptography builds only one, so splice the Request list)."""
    from asn1crypto import ocsp as asn1_ocsp
    one = asn1_ocsp.OCSPRequest.load(ocsp_request(cert_pem, issuer))
    item = one["tbs_request"]["request_list"][0]
    return asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [item] * count}}).dump()


async def test_bad_requests_get_ocsp_errors_never_500(served):
    world, client, _ = served
    cert = await world.issue()
    good = ocsp_request(cert.certificate_pem, issuer_pem(cert))
    malformed = ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    cases = {
        "garbage": b"\x00\xffgarbage",
        "empty": b"",
        "truncated": good[:-5],
        "trailing octets": good + b"\x00",
        "oversized": b"\x30" * 20_000,
        "1,000 CertIDs": _many(cert.certificate_pem, issuer_pem(cert), 1000),
    }
    for name, data in cases.items():
        assert (await post_ocsp(client, world.issuing_id, data)).response_status is malformed, name
    for tail in ("!!!notbase64", "AAAA", "%ZZ"):
        r = await client.get(f"/ocsp/{world.issuing_id}/{tail}")
        assert r.status == 200 and status_of(await r.read()).response_status is malformed, tail
    # Two CertIDs: refused as a whole (one SingleResponse per CertID or none, RFC 6960 §4.2.2.3).
    two = await post_ocsp(client, world.issuing_id, _many(cert.certificate_pem, issuer_pem(cert), 2))
    assert two.response_status is malformed


async def test_crl_follows_revocations_promptly(served):
    world, client, auth = served
    cert = await world.issue()
    first = x509.load_der_x509_crl(await (await client.get(f"/crl/{world.issuing_id}.crl")).read())
    r = await client.post(f"/api/v1/cas/{world.issuing_id}/revoke-serial",
                          json={"serial": format(cert.serial, "x"), "reason": "superseded"}, headers=auth)
    assert r.status == 200, await r.text()
    # The revoke call returned only once the CRL showing it was published: the very next download lists it.
    crl = x509.load_der_x509_crl(await (await client.get(f"/crl/{world.issuing_id}.crl")).read())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial) is not None
    number = lambda c: c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(crl) > number(first)


async def test_revocation_api_refusals(served):
    world, client, auth = served
    cert = await world.issue()
    cases = [
        (f"/api/v1/certificates/{cert.id}/revoke", {"reason": "bored"}, 400, "bad_revocation_reason"),
        (f"/api/v1/certificates/{cert.id}/revoke", {"reason": 1}, 400, "malformed"),
        (f"/api/v1/certificates/{cert.id}/release-hold", None, 409, "conflict"),
        ("/api/v1/certificates/0000/revoke", {}, 404, "not_found"),
        (f"/api/v1/cas/{world.issuing_id}/revoke-serial", {"serial": "xyz"}, 400, "malformed"),
        (f"/api/v1/cas/{world.issuing_id}/revoke-serial", {"serial": "01"}, 404, "not_found"),
        (f"/api/v1/cas/{world.root_id}/revoke", {"reason": "ca_compromise"}, 409, "conflict"),
    ]
    for url, body, status, kind in cases:
        r = await client.post(url, json=body, headers=auth) if body is not None else await client.post(url, headers=auth)
        problem = await r.json()
        assert (r.status, problem["type"].rsplit(":", 1)[1]) == (status, kind), (url, problem)
    assert (await client.post(f"/api/v1/certificates/{cert.id}/revoke", json={}, headers=auth)).status == 200
    r = await client.post(f"/api/v1/certificates/{cert.id}/revoke", json={"reason": "superseded"}, headers=auth)
    assert r.status == 409 and (await r.json())["type"].endswith("already_revoked")
    listed = await (await client.get("/api/v1/certificates?status=revoked", headers=auth)).json()
    assert [(c["id"], c["status"], c["revocation_reason"]) for c in listed["items"]] == \
        [(cert.id, "revoked", "unspecified")]
    r = await client.post(f"/api/v1/cas/{world.issuing_id}/revoke", json={"reason": "superseded"}, headers=auth)
    assert r.status == 200 and (await r.json())["status"] == "disabled"
