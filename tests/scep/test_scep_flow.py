"""PKCSReq end to end through the HTTP front end: envelopes in every cipher and key transport, replies mirrored."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

import scep_helpers as h
from scep_helpers import CHALLENGE


async def test_getcacaps_lists_what_clients_look_for(sqlite_world):
    resp = await sqlite_world.http.get(sqlite_world.url(), params={"operation": "GetCACaps"})
    assert resp.status == 200 and resp.content_type == "text/plain"
    caps = (await resp.text()).split()
    for cap in ("AES", "DES3", "SHA-1", "SHA-256", "SHA-512", "POSTPKIOperation", "Renewal", "SCEPStandard"):
        assert cap in caps


async def test_pkcsreq_with_static_challenge_issues(world):
    key = h.rsa_key()
    reply = await world.enrol(key, cn="router-1", tid="tid-1", nonce=b"n" * 16)
    assert (reply.status, reply.message_type, reply.transaction_id) == ("0", "3", "tid-1")
    assert reply.recipient_nonce == b"n" * 16 and len(reply.sender_nonce) == 16
    ra, _ = await world.ra()
    assert reply.signer == ra
    [cert] = reply.certificates(key)
    assert cert.subject.rfc4514_string() == "CN=router-1"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()


@pytest.mark.parametrize("cipher, oaep, digest", [
    ("aes256", False, "sha256"),
    ("aes128", True, "sha256"),  # Windows / Intune: RSAES-OAEP key transport
    ("aes192", False, "sha512"),
    ("des3", False, "sha1"),
    ("des", False, "sha1"),  # micromdm's scepclient, whatever GetCACaps says
    ("des", True, "sha512"),
])
async def test_envelopes_in_and_replies_mirror_cipher_and_digest(sqlite_world, cipher, oaep, digest):
    key = h.rsa_key()
    reply = await sqlite_world.enrol(key, cipher=cipher, oaep=oaep, digest=digest)
    assert reply.status == "0", reply.fail_info
    assert reply.digest == digest
    assert reply.content_cipher() == {"aes256": "aes256_cbc", "aes128": "aes128_cbc", "aes192": "aes192_cbc",
                                      "des3": "tripledes_3key", "des": "des"}[cipher]
    [cert] = reply.certificates(key)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()


@pytest.mark.parametrize("suffix", ["", "/pkiclient.exe", "/cgi-bin/pkiclient.exe", "/pkiclient.exe/pkiclient.exe",
                                    "/pkiclient.exe/cgi-bin/pkiclient.exe"])
async def test_every_path_clients_use_answers(sqlite_world, suffix):
    resp = await sqlite_world.http.get(sqlite_world.url(suffix=suffix), params={"operation": "GetCACaps"})
    assert resp.status == 200


async def test_getcacert_ignores_message_and_root_is_a_setting(sqlite_world):
    w = sqlite_world
    resp = await w.http.get(w.url(), params={"operation": "GetCACert", "message": "cisco-trustpoint"})
    assert resp.status == 200 and resp.content_type == "application/x-x509-ca-ra-cert"
    ra, certs = await w.ra()
    assert len(certs) == 2  # RA and issuing CA; the root only when the endpoint asks for it
    assert isinstance(ra.public_key(), rsa.RSAPublicKey) and ra.public_key().key_size >= 2048
    usage = ra.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment
    await w.gateway.scep.challenges.configure(
        w.admin, w.app_id, w.endpoints["static"], mode="static", static_challenge=CHALLENGE, include_root=True)
    _, with_root = await w.ra()
    assert len(with_root) == 3 and any(c.issuer == c.subject for c in with_root)


async def test_pkioperation_over_get_decodes_tolerantly(sqlite_world):
    """Percent-encoding, '+' turned into spaces, wrapped lines, URL-safe alphabet, no padding: all accepted."""
    import base64
    import urllib.parse

    w = sqlite_world
    for variant in range(4):
        key = h.rsa_key(fresh=True)
        ra, _ = await w.ra()
        env = h.openssl_envelope(h.make_csr(key, "get-client", CHALLENGE), ra, "aes128")
        msg = h.pki_message(env, h.self_signed(key, "get-client"), key, 19, f"get-{variant}")
        text = base64.b64encode(msg).decode()
        if variant == 0:
            query = "message=" + urllib.parse.quote(text, safe="")
        elif variant == 1:  # '+' left raw: decoded as spaces by the query parser
            query = "message=" + text.replace("/", "%2F").replace("=", "%3D")
        elif variant == 2:  # wrapped at 64 characters with %0A
            lines = (urllib.parse.quote(text[i:i + 64], safe="") for i in range(0, len(text), 64))
            query = "message=" + "%0A".join(lines)
        else:  # URL-safe alphabet, padding dropped
            query = "message=" + base64.urlsafe_b64encode(msg).decode().rstrip("=")
        resp = await w.http.get(w.url() + "?operation=PKIOperation&" + query)
        assert resp.status == 200, await resp.text()
        reply = h.read_reply(await resp.read())
        assert reply.status == "0" and reply.transaction_id == f"get-{variant}"


async def test_resent_pkcsreq_returns_the_same_certificate(world):
    key = h.rsa_key(fresh=True)
    first = await world.enrol(key, tid="same-tid")
    again = await world.enrol(key, tid="same-tid")
    assert first.status == again.status == "0"
    assert first.certificates(key) == again.certificates(key)
    async with world.gateway.db.transaction(readonly=True) as tx:
        from enrollment_gateway.storage.repositories.certificates import CertificateFilter
        issued = await tx.certificates.list(
            CertificateFilter(now=world.gateway.clock.now(), application_ids=(world.app_id,)), 10)
    assert len(issued) == 1


async def test_same_transaction_id_with_another_key_is_refused(sqlite_world):
    await sqlite_world.enrol(h.rsa_key(fresh=True), tid="taken")
    reply = await sqlite_world.enrol(h.rsa_key(fresh=True), tid="taken")
    assert (reply.status, reply.fail_info) == ("2", "2")  # FAILURE badRequest
