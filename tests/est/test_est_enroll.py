"""EST happy paths over real TLS (RFC 7030 §4.1, §4.2, §4.4): cacerts, simpleenroll with Basic and with a
manufacturer certificate, simplereenroll with the issued certificate, serverkeygen; every certificate verifies."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store

from est_helpers import b64, certs_from, csr, multipart

CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only"


def verifies(world, leaf: x509.Certificate, chain: list[x509.Certificate]) -> None:
    root = x509.load_pem_x509_certificate(world.root_pem.encode())
    verifier = PolicyBuilder().store(Store([root])).time(world.clock.now().replace(tzinfo=None)) \
        .build_client_verifier()
    verifier.verify(leaf, chain)


async def test_cacerts_is_the_chain_as_certs_only_without_authentication(est_world) -> None:
    reply = await est_world.client.call("GET", "cacerts", content_type=None)
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"] == CERTS_ONLY  # exact spacing, RFC 7030 §4.1.3
    assert reply.headers["Content-Transfer-Encoding"] == "base64"
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    subjects = {c.subject.rfc4514_string() for c in certs_from(reply.body)}  # a SET OF: no order
    assert subjects == {"CN=EST Test Issuing CA", "CN=EST Test Root"}


@pytest.mark.parametrize("encoding", ["lines", "one_line", "pem", "cte_header"])
async def test_simpleenroll_with_basic_accepts_every_rfc8951_encoding(est_world, encoding) -> None:
    request, _ = csr("sensor-1", dns=("sensor-1.example.test",))
    body = {"lines": b64(request), "one_line": b64(request, line_breaks=False),
            "pem": request.public_bytes(serialization.Encoding.PEM), "cte_header": b64(request)}[encoding]
    headers = {"Content-Transfer-Encoding": "base64"} if encoding == "cte_header" else None
    reply = await est_world.client.enroll(body, auth=est_world.basic, headers=headers)
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"] == CERTS_ONLY
    assert "chunked" not in reply.headers.get("Transfer-Encoding", "")
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    (leaf,) = certs_from(reply.body)
    assert leaf.subject == request.subject and leaf.public_key() == request.public_key()
    chain = certs_from((await est_world.client.call("GET", "cacerts", content_type=None)).body)
    verifies(est_world, leaf, chain)


async def test_basic_is_sent_after_an_empty_401_challenge(est_world) -> None:
    request, _ = csr("sensor-2")
    reply = await est_world.client.enroll(b64(request))
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == f'Basic realm="EST {est_world.endpoint_id}"'
    assert reply.body == b""


async def test_simpleenroll_with_a_manufacturer_certificate(est_world) -> None:
    key, idevid = est_world.manufacturer.device("serial-0042")
    request, _ = csr("serial-0042")
    reply = await est_world.client.enroll(b64(request), cert=idevid, key=key)
    assert reply.status == 200, reply
    (leaf,) = certs_from(reply.body)
    assert leaf.subject == request.subject


async def test_simplereenroll_with_the_current_certificate_renews_it(est_world) -> None:
    first, key = csr("sensor-3", dns=("sensor-3.example.test",))
    (old,) = certs_from((await est_world.client.enroll(b64(first), auth=est_world.basic)).body)
    renewal, _ = csr("sensor-3", dns=("sensor-3.example.test",))  # a new key, the same identity
    reply = await est_world.client.call("POST", "simplereenroll", b64(renewal), cert=old, key=key)
    assert reply.status == 200, reply
    (new,) = certs_from(reply.body)
    assert new.subject == old.subject and new.public_key() == renewal.public_key()
    async with est_world.gateway.db.transaction(readonly=True) as tx:
        records = {c.serial: c for c in [await tx.certificates.get_by_serial(ca.id, s) for ca in
                                          await tx.cas.list() for s in (old.serial_number, new.serial_number)] if c}
    assert records[new.serial_number].replaces_id == records[old.serial_number].id
    assert records[old.serial_number].revoked_at is None  # the old one is not revoked


async def test_serverkeygen_returns_the_key_and_its_certificate(est_world) -> None:
    request, _ = csr("sensor-4", dns=("sensor-4.example.test",))
    reply = await est_world.client.call("POST", "serverkeygen", b64(request), auth=est_world.basic)
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    (key_type, key_der), (cert_type, cert_b64) = multipart(reply)
    assert key_type == "application/pkcs8" and cert_type == CERTS_ONLY
    key = serialization.load_der_private_key(key_der, None)
    (leaf,) = pkcs_certs(cert_b64)
    assert leaf.public_key() == key.public_key()
    assert leaf.subject == request.subject and leaf.public_key() != request.public_key()
    # The key is kept, wrapped, like every managed key: the API can export it later.
    async with est_world.gateway.db.transaction(readonly=True) as tx:
        record = await tx.certificates.get_by_serial((await _issuing(est_world)).id, leaf.serial_number)
    assert record.has_managed_key


def pkcs_certs(der: bytes) -> list[x509.Certificate]:
    from cryptography.hazmat.primitives.serialization import pkcs7
    return pkcs7.load_der_pkcs7_certificates(der)


async def _issuing(world):
    return next(ca for ca in await world.gateway.authorities.list() if ca.name == "issuing")


async def test_fullcmc_is_not_offered(est_world) -> None:
    reply = await est_world.client.call("POST", "fullcmc", b"MAA=", content_type="application/pkcs7-mime",
                                        auth=est_world.basic)
    assert reply.status == 501 and "fullcmc" in reply.text


async def test_default_label_is_404_with_a_reason_when_none_is_configured(est_world) -> None:
    reply = await est_world.client.call("GET", "cacerts", label="", content_type=None)
    assert reply.status == 404 and "no default EST label" in reply.text


_ = base64
