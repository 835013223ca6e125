"""Issue 7 items 3 and 4: the PKI handlers work without optional middleware (access log off), every OCSP URL
answers in OCSP, and a request naming several certificates is refused as a whole (malformedRequest)."""

from __future__ import annotations

import base64

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.server.app import create_app

from revocation_world import build_world, gateway_config
from test_revocation_service import issuer_pem, ocsp_request

OCSP_REQ = {"Content-Type": "application/ocsp-request"}
MALFORMED = ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.fixture(params=[False, True], ids=["access-log-off", "access-log-on"])
async def served(request, aiohttp_client, sqlite_database, tmp_path):
    """The real app factory with the plain-HTTP guard on (the test client speaks plain HTTP, like relying parties)."""
    config = gateway_config(tmp_path / "data", EG_LOGGING__ACCESS_LOG=str(request.param).lower())
    assert config.logging.access_log is request.param
    gateway = await Gateway.open(config, database=sqlite_database)
    world = await build_world(gateway)
    client = await aiohttp_client(create_app(config, gateway=gateway))
    try:
        yield world, client
    finally:
        await gateway.close()


async def test_every_pki_url_answers_without_the_access_log(served):
    world, client = served
    cert = await world.issue()
    request = ocsp_request(cert.certificate_pem, issuer_pem(cert))
    b64 = base64.b64encode(request).decode()
    for method, path in [
        ("GET", f"/crl/{world.issuing_id}.crl"), ("GET", f"/crl/{world.issuing_id}.pem"),
        ("GET", f"/crl/{world.root_id}.crl?format=pem"), ("GET", f"/ca/{world.issuing_id}.crt"),
        ("GET", f"/ca/{world.issuing_id}.pem"), ("GET", f"/ocsp/{world.issuing_id}/{b64}"), ("GET", "/healthz"),
    ]:
        r = await client.request(method, path)
        assert r.status == 200, (path, r.status, await r.text())
    for path in ("/ocsp", f"/ocsp/{world.issuing_id}"):
        r = await client.post(path, data=request, headers=OCSP_REQ)
        assert r.status == 200
        assert ocsp.load_der_ocsp_response(await r.read()).certificate_status is ocsp.OCSPCertStatus.GOOD
    # The same CRL twice: the second a conditional request answered 304.
    r = await client.get(f"/crl/{world.issuing_id}.crl")
    assert (await client.get(f"/crl/{world.issuing_id}.crl", headers={"If-None-Match": r.headers["ETag"]})).status \
        == 304


@pytest.mark.parametrize("method, path", [
    ("POST", "/ocsp"),  # no CA id, empty body
    ("POST", "/ocsp/"),
    ("GET", "/ocsp"),  # no request at all
    ("GET", "/ocsp/"),
    ("GET", "/ocsp/{ca}"),
    ("GET", "/ocsp/{ca}/"),  # the GET form with an empty request
    ("GET", "/ocsp/{ca}/%20"),
    ("PUT", "/ocsp/{ca}"),  # a method OCSP does not use
    ("DELETE", "/ocsp"),
    ("POST", "/ocsp/{ca}/extra/depth"),
    ("GET", "/ocsp/not a ca!/MEIwQDA+"),
])
async def test_every_ocsp_url_answers_in_ocsp(served, method, path):
    world, client = served
    r = await client.request(method, path.format(ca=world.issuing_id))
    assert r.status == 200 and r.content_type == "application/ocsp-response", (r.status, await r.text())
    assert ocsp.load_der_ocsp_response(await r.read()).response_status is MALFORMED
    assert r.headers["Cache-Control"] == "no-store"


def _multi(pairs) -> bytes:
    """An OCSPRequest listing several CertIDs (cryptography builds one; asn1crypto's structure holds many)."""
    requests = []
    for cert, issuer in pairs:
        single = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        parsed = asn1_ocsp.OCSPRequest.load(single.public_bytes(serialization.Encoding.DER))
        requests.append(parsed["tbs_request"]["request_list"][0])
    return asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": requests}}).dump()


@pytest.mark.parametrize("shape", ["two certificates", "one certificate twice", "two issuers"])
async def test_several_certids_are_refused_as_a_whole(served, shape):
    world, client = served
    a, b = await world.issue("a.example.com"), await world.issue("b.example.com")
    load = lambda pem: x509.load_pem_x509_certificate(pem.encode())  # noqa: E731
    issuing, root = load(issuer_pem(a)), load((await world.gateway.authorities.get(world.root_id)).certificate_pem)
    pairs = {
        "two certificates": [(load(a.certificate_pem), issuing), (load(b.certificate_pem), issuing)],
        "one certificate twice": [(load(a.certificate_pem), issuing)] * 2,
        "two issuers": [(load(a.certificate_pem), issuing), (issuing, root)],
    }[shape]
    body = _multi(pairs)
    for r in (await client.post("/ocsp", data=body, headers=OCSP_REQ),
              await client.post(f"/ocsp/{world.issuing_id}", data=body, headers=OCSP_REQ),
              await client.get(f"/ocsp/{world.issuing_id}/{base64.b64encode(body).decode()}")):
        assert r.status == 200
        assert ocsp.load_der_ocsp_response(await r.read()).response_status is MALFORMED
