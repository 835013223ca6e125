"""Bad input (issue 8's table): each case gets its EST status and a plain-text reason, and changes nothing.

Every case runs against the real TLS server on both engines; "changes nothing" is checked by counting the
certificates and requests before and after (a refusal is audited, which is the only write it may cause).
"""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse

import pytest
from cryptography.hazmat.primitives import serialization

from est_helpers import Issuer, b64, certs_from, csr


async def _enrolled(world, cn="bad-1", dns=("bad-1.example.test",)):
    """A certificate issued over EST (before the counts are taken), with its key."""
    request, key = csr(cn, dns=dns)
    (cert,) = certs_from((await world.client.enroll(b64(request), auth=world.basic)).body)
    return cert, key


def _broken_signature(cn: str) -> bytes:
    request, _ = csr(cn)
    der = bytearray(request.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the ECDSA signature, past the signed part
    return base64.b64encode(bytes(der))


async def no_certificate_where_required(w):
    await w.settings(auth="certificate")
    return await w.client.enroll(b64(csr("x")[0]), auth=w.basic)


async def certificate_from_untrusted_chain(w):
    key, cert = Issuer.create("Nobody's CA").device("rogue")
    return await w.client.enroll(b64(csr("rogue")[0]), cert=cert, key=key)


async def expired_certificate_on_reenroll(w):
    cert, key = w.enrolled
    w.clock.advance(dt.timedelta(days=31))  # the device profile issues for 30 days
    return await w.client.call("POST", "simplereenroll", b64(csr("bad-1", dns=("bad-1.example.test",))[0]),
                               cert=cert, key=key)


async def revoked_certificate_on_reenroll(w):
    cert, key = w.enrolled
    async with w.gateway.db.transaction(readonly=True) as tx:
        record = next(r for r in [await tx.certificates.get_by_serial(ca.id, cert.serial_number)
                                  for ca in await tx.cas.list()] if r)
    await w.gateway.revocation.revoke(w.admin, record.id, "key_compromise")
    w.before = await w.counts()
    return await w.client.call("POST", "simplereenroll", b64(csr("bad-1", dns=("bad-1.example.test",))[0]),
                               cert=cert, key=key)


async def reenroll_with_another_subject(w):
    cert, key = w.enrolled
    return await w.client.call("POST", "simplereenroll", b64(csr("other", dns=("bad-1.example.test",))[0]),
                               cert=cert, key=key)


async def reenroll_with_other_sans(w):
    cert, key = w.enrolled
    return await w.client.call("POST", "simplereenroll", b64(csr("bad-1", dns=("evil.example.test",))[0]),
                               cert=cert, key=key)


async def reenroll_with_a_password_only(w):
    return await w.client.call("POST", "simplereenroll", b64(csr("bad-1")[0]), auth=w.basic)


async def wrong_password(w):
    return await w.client.enroll(b64(csr("x")[0]), auth=(w.username, "not-the-password"))


async def unknown_username(w):
    return await w.client.enroll(b64(csr("x")[0]), auth=("nobody", "secret"))


async def body_not_base64(w):
    return await w.client.enroll(b"this is not base64 at all!", auth=w.basic)


async def base64_not_a_csr(w):
    return await w.client.enroll(base64.b64encode(b"\x30\x03\x02\x01\x00 not a CSR"), auth=w.basic)


async def csr_signature_fails(w):
    return await w.client.enroll(_broken_signature("x"), auth=w.basic)


async def csr_the_policy_refuses(w):
    # No CN, an IP SAN and an email SAN: three violations, all listed.
    request, _ = csr(None, ips=("10.0.0.1",), dns=("ok.example.test",))
    return await w.client.enroll(b64(request), auth=w.basic)


async def unknown_label(w):
    return await w.client.enroll(b64(csr("x")[0]), auth=w.basic, label="no-such-label")


async def one_megabyte_body(w):
    return await w.client.enroll(b"A" * (1024 * 1024), auth=w.basic)


async def wrong_content_type(w):
    return await w.client.enroll(b64(csr("x")[0]), auth=w.basic, content_type="application/json")


async def serverkeygen_disabled(w):
    await w.settings(serverkeygen=False)
    return await w.client.call("POST", "serverkeygen", b64(csr("x")[0]), auth=w.basic)


async def serverkeygen_asking_for_key_encryption(w):
    from cryptography import x509
    request, _ = csr("x", attributes=((x509.ObjectIdentifier("1.2.840.113549.1.9.16.2.54"), b"\x04\x02ab"),))
    return await w.client.call("POST", "serverkeygen", b64(request), auth=w.basic)


async def certificate_of_another_label(w):
    other = await w.endpoint("other-device")
    await w.est.update_settings(w.admin, w.app_id, other, {"auth": "certificate"})
    cert, key = w.enrolled
    return await w.client.enroll(b64(csr("bad-1")[0]), cert=cert, key=key, label=other)


async def proxy_header_from_an_untrusted_address(w):
    # No trusted proxies are configured: the header is ignored, so nothing authenticates the device.
    await w.settings(auth="certificate")
    cert, _ = w.enrolled
    header = urllib.parse.quote(cert.public_bytes(serialization.Encoding.PEM).decode())
    return await w.client.enroll(b64(csr("bad-1")[0]), headers={"X-SSL-Client-Cert": header})


CASES = [
    (no_certificate_where_required, 401, "TLS client certificate is required"),
    (certificate_from_untrusted_chain, 401, "does not chain to this endpoint's trust anchors"),
    (expired_certificate_on_reenroll, 401, "not within its validity"),
    (revoked_certificate_on_reenroll, 401, "revoked"),
    (reenroll_with_another_subject, 403, "subject 'CN=other' differs"),
    (reenroll_with_other_sans, 403, "not in it: evil.example.test; missing: bad-1.example.test"),
    (reenroll_with_a_password_only, 401, "needs the current certificate"),
    (wrong_password, 401, "wrong username or password"),
    (unknown_username, 401, "wrong username or password"),
    (body_not_base64, 400, "not base64"),
    (base64_not_a_csr, 400, "cannot decode CSR"),
    (csr_signature_fails, 400, "signature does not verify"),
    (csr_the_policy_refuses, 403, "policy"),
    (unknown_label, 404, "EST label not found"),
    (one_megabyte_body, 413, "larger than"),
    (wrong_content_type, 415, "application/pkcs10"),
    (serverkeygen_disabled, 403, "not enabled"),
    (serverkeygen_asking_for_key_encryption, 501, "AsymmetricDecryptKeyIdentifier"),
    (certificate_of_another_label, 403, "another EST label"),
    (proxy_header_from_an_untrusted_address, 401, "TLS client certificate is required"),
]


@pytest.mark.parametrize("case,status,reason", CASES, ids=[c[0].__name__ for c in CASES])
async def test_bad_input_is_refused_with_its_status_and_reason(est_world, case, status, reason) -> None:
    est_world.enrolled = await _enrolled(est_world)
    est_world.before = await est_world.counts()
    reply = await case(est_world)
    assert reply.status == status, reply
    assert reply.headers["Content-Type"].startswith("text/plain"), reply
    assert reason in reply.text, reply
    assert await est_world.counts() == est_world.before  # nothing issued, nothing parked


async def test_the_policy_refusal_lists_every_violation(est_world) -> None:
    request, _ = csr(None, ips=("10.0.0.1",), dns=("ok.example.test",))
    reply = await est_world.client.enroll(b64(request), auth=est_world.basic)
    assert reply.status == 403
    lines = reply.text.splitlines()
    assert lines[0].startswith("request refused by policy"), reply
    assert any("CN" in line for line in lines[1:]) and any("10.0.0.1" in line for line in lines[1:]), reply


async def test_wrong_passwords_are_rate_limited_per_source_and_audited(est_world) -> None:
    request = b64(csr("x")[0])
    for _ in range(3):  # EG_EST__BASIC_FAILURES_ALLOWED=3 in the fixture
        assert (await est_world.client.enroll(request, auth=(est_world.username, "wrong"))).status == 401
    limited = await est_world.client.enroll(request, auth=est_world.basic)  # even the right one, for a while
    assert limited.status == 429, limited
    assert int(limited.headers["Retry-After"]) >= 1 and "too many wrong passwords" in limited.text
    from sqlalchemy import text
    async with est_world.gateway.db.transaction(readonly=True) as tx:
        count = (await tx.connection.execute(
            text("SELECT count(*) FROM audit_events WHERE action = 'est.auth.failed'"))).scalar_one()
    assert count == 4


async def test_a_401_on_a_basic_endpoint_challenges_and_says_why(est_world) -> None:
    reply = await est_world.client.enroll(b64(csr("x")[0]), auth=(est_world.username, "wrong"))
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Basic realm=")


async def test_an_rsa_client_certificate_from_an_unknown_ca_is_refused_with_a_reason(est_world) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

    from est_helpers import name

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name("rsa-device")).issuer_name(name("EST Test Issuing CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))  # claims our issuing CA's name, signed by itself
    before = await est_world.counts()
    reply = await est_world.client.enroll(b64(csr("rsa-device")[0]), cert=cert, key=key)
    assert reply.status == 401 and "trust anchors" in reply.text, reply
    assert await est_world.counts() == before
