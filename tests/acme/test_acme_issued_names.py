"""What ACME gets from the core's issuance rules (issue 7, items 7, 9, 10): a CN that is a byte copy of its SAN,
must-staple carried, notBefore forward-dated past the policy's window refused at newOrder."""

from __future__ import annotations

import datetime as dt

from acme_helpers import b64, ec_key
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID


def csr(name: str, cn: str, *extensions) -> bytes:
    b = (x509.CertificateSigningRequestBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False))
    for ext in extensions:
        b = b.add_extension(ext, critical=False)
    return b.sign(ec_key(), hashes.SHA256()).public_bytes(serialization.Encoding.DER)


async def finalize(world, acme, name: str, der: bytes) -> x509.Certificate:
    reply = await acme.new_order(name)
    assert reply.status == 201, reply.body
    order, order_url = reply.json, reply.headers["Location"]
    await acme.authorize(order, world.http01)
    await acme.poll(order_url, {"ready"})
    await acme.ok(order["finalize"], {"csr": b64(der)})
    order = await acme.poll(order_url, {"valid"})
    pem = (await acme.ok(order["certificate"])).body.decode()
    return x509.load_pem_x509_certificates(pem.encode())[0]


async def test_upper_case_csr_cn_is_issued_as_the_san(sqlite_world):
    acme = await sqlite_world.client().open()
    await acme.register()
    cert = await finalize(sqlite_world, acme, "up.example.test", csr("up.example.test", "UP.EXAMPLE.TEST"))
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["up.example.test"]


async def test_must_staple_is_carried(sqlite_world):
    acme = await sqlite_world.client().open()
    await acme.register()
    staple = x509.TLSFeature([x509.TLSFeatureType.status_request])
    cert = await finalize(sqlite_world, acme, "staple.example.test", csr("staple.example.test", "staple.example.test",
                                                                         staple))
    assert cert.extensions.get_extension_for_class(x509.TLSFeature).value == staple


async def test_not_before_past_the_forward_dating_window_is_refused_at_new_order(sqlite_world):
    acme = await sqlite_world.client().open()
    await acme.register()
    ahead = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reply = await acme.new_order("later.example.test", notBefore=ahead)
    assert reply.status == 400, reply.body
    assert reply.json["type"] == "urn:ietf:params:acme:error:malformed"
    assert "notBefore" in reply.json["detail"]
