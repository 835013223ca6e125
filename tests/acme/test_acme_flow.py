"""Complete orders and what real clients depend on (issue #3), against the in-process server."""

from __future__ import annotations

from cryptography import x509



async def test_http01_order_end_to_end(world):
    acme = await world.client().open()
    reply = await acme.register(contact=["mailto:a@example.com"])
    assert reply.status == 201 and reply.headers["Location"].startswith("https://pki.example.com/acme/")
    order, order_url, pem = await acme.issue("www.example.test", http01=world.http01)
    certs = x509.load_pem_x509_certificates(pem.encode())
    assert len(certs) >= 2
    sans = certs[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["www.example.test"]
