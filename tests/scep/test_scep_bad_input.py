"""Bad input: each gets a signed CertRep FAILURE with the right failInfo, or a 400/413 where no CertRep can be
built; none changes state (no certificate, request or transaction appears) and none is a 500."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

import scep_helpers as h
from scep_helpers import CHALLENGE
from enrollment_gateway.storage.scep_tables import scep_transactions
from enrollment_gateway.storage.tables import audit_events, certificates, requests

DATA = Path(__file__).resolve().parents[1] / "data" / "scep"
BAD_ALG, BAD_MESSAGE_CHECK, BAD_REQUEST, BAD_CERT_ID = "0", "1", "2", "4"


async def _state(w) -> tuple[int, int, int]:
    async with w.gateway.db.transaction(readonly=True) as tx:
        conn = tx.connection
        return tuple([(await conn.execute(select(func.count()).select_from(t))).scalar_one()
                      for t in (certificates, requests, scep_transactions)])


def _nested(depth: int) -> bytes:
    """Adversarial input, made by hand on purpose: SEQUENCE inside SEQUENCE, `depth` times."""
    blob = b"\x05\x00"
    for _ in range(depth):
        n = len(blob)
        length = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
            (n.bit_length() + 7) // 8, "big")
        blob = b"\x30" + length + blob
    return blob


async def _signed(w, content: bytes, *, key=None, message_type=19, digest="sha256", tamper=False, nonce=None,
                  cipher="aes256", envelope=True) -> bytes:
    key = key or h.rsa_key()
    ra, _ = await w.ra()
    env = h.openssl_envelope(content, ra, cipher) if envelope else content
    return h.pki_message(env, h.self_signed(key), key, message_type, "bad-" + os.urandom(4).hex(), nonce, digest,
                         tamper=tamper)


CASES = {
    # name: (builder, expected failInfo)
    "enveloped to another certificate (a real client's request to another server)":
        (lambda w: _ready((DATA / "pkcsreq-request.der").read_bytes()), BAD_MESSAGE_CHECK),
    "tampered signature":
        (lambda w: _signed(w, h.make_csr(h.rsa_key(), challenge=CHALLENGE), tamper=True), BAD_MESSAGE_CHECK),
    "unknown messageType":
        (lambda w: _signed(w, h.make_csr(h.rsa_key(), challenge=CHALLENGE), message_type=99), BAD_REQUEST),
    "CertRep sent to the server":
        (lambda w: _signed(w, h.make_csr(h.rsa_key(), challenge=CHALLENGE), message_type=3), BAD_REQUEST),
    "wrong challenge":
        (lambda w: _signed(w, h.make_csr(h.rsa_key(), challenge="wrong-challenge")), BAD_REQUEST),
    "no challenge":
        (lambda w: _signed(w, h.make_csr(h.rsa_key())), BAD_REQUEST),
    "RSA-1024 requester key refused by the policy":
        (lambda w: _signed(w, h.make_csr(h.rsa_key(1024), challenge=CHALLENGE), key=h.rsa_key(1024)), BAD_REQUEST),
    "envelope holds no CSR":
        (lambda w: _signed(w, b"\x30\x03\x02\x01\x01"), BAD_REQUEST),
    "envelope holds garbage that is not DER":
        (lambda w: _signed(w, os.urandom(300)), BAD_REQUEST),
    "content is not an envelope":
        (lambda w: _signed(w, b"\x04\x02hi", envelope=False), BAD_MESSAGE_CHECK),
    "senderNonce missing its 16 bytes":
        (lambda w: _signed(w, h.make_csr(h.rsa_key(), challenge=CHALLENGE), nonce=b"short"), BAD_REQUEST),
    "content encrypted with RC2":
        (lambda w: _signed(w, h.make_csr(h.rsa_key(), challenge=CHALLENGE), cipher="rc2"), BAD_ALG),
    "signed with MD5":
        (lambda w: _signed(w, h.make_csr(h.rsa_key(), challenge=CHALLENGE), digest="md5"), BAD_ALG),
    "GetCert with a body that is not IssuerAndSerialNumber":
        (lambda w: _signed(w, b"\x30\x00", message_type=21), BAD_REQUEST),
}


async def _ready(value):
    return value


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_messages_get_a_signed_failure_and_change_nothing(sqlite_world, case):
    w = sqlite_world
    build, expected = CASES[case]
    body = await build(w)
    before = await _state(w)
    resp = await w.operation(body)
    assert resp.status == 200 and resp.content_type == "application/x-pki-message"
    reply = h.read_reply(await resp.read())  # signature checked by openssl
    ra, _ = await w.ra()
    assert reply.signer == ra and reply.message_type == "3"
    assert (reply.status, reply.fail_info) == ("2", expected)
    assert await _state(w) == before


@pytest.mark.parametrize("case, body, status", [
    ("base64 that is not DER", b"not DER at all", 400),
    ("truncated DER", (DATA / "pkcsreq-request.der").read_bytes()[:-100], 400),
    ("DER nested 10,000 levels deep", _nested(10_000), 400),
    ("a 1 MB body", b"\x30\x83\x10\x00\x00" + b"\x00" * (1 << 20), 413),
    ("a SignedData without SCEP attributes", None, 400),
    ("empty body", b"", 400),
])
async def test_unparseable_messages_are_400_and_change_nothing(sqlite_world, case, body, status):
    w = sqlite_world
    if body is None:
        from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
        body = pkcs7.serialize_certificates([(await w.ra())[0]], Encoding.DER)
    before = await _state(w)
    resp = await w.operation(body)
    assert resp.status == status, await resp.text()
    assert await _state(w) == before


@pytest.mark.parametrize("message", ["%%%not-base64", base64.b64encode(b"not DER").decode(), ""])
async def test_bad_get_messages_are_400(sqlite_world, message):
    resp = await sqlite_world.http.get(sqlite_world.url(), params={"operation": "PKIOperation", "message": message})
    assert resp.status == 400


async def test_unknown_endpoint_and_operation(sqlite_world):
    w = sqlite_world
    assert (await w.http.get("/scep/nope/pkiclient.exe", params={"operation": "GetCACaps"})).status == 404
    assert (await w.http.get(w.url(), params={"operation": "Bogus"})).status == 400
    assert (await w.http.get(w.url())).status == 400


async def test_wrong_challenges_are_rate_limited_per_source(sqlite_world):
    w = sqlite_world
    device_key = h.rsa_key(fresh=True)
    enrolled = await w.enrol(device_key, cn="behind-nat")
    [device_cert] = enrolled.certificates(device_key)
    for _ in range(10):
        body = await _signed(w, h.make_csr(h.rsa_key(), challenge="guess"))
        assert h.read_reply(await (await w.operation(body)).read()).fail_info == BAD_REQUEST
    # The right challenge from the same address is now refused too, until the window passes.
    body = await _signed(w, h.make_csr(h.rsa_key(), challenge=CHALLENGE))
    reply = h.read_reply(await (await w.operation(body)).read())
    assert (reply.status, reply.fail_info) == ("2", BAD_REQUEST)
    # A renewal signed by a certificate of ours needs no challenge, and still gets through.
    renewed = await w.enrol(h.rsa_key(), cn="behind-nat", challenge=None, signer=(device_cert, device_key),
                            message_type=17)
    assert renewed.status == "0"
    async with w.gateway.db.transaction(readonly=True) as tx:  # each wrong challenge is in the audit trail
        rows = (await tx.connection.execute(select(audit_events.c.details).where(
            audit_events.c.action == "scep.enrolment.refused"))).all()
    assert len(rows) == 10 and all(r.details["wrong_challenge"] and r.details["source"] for r in rows)


async def test_concurrent_twins_get_one_certificate(world):
    """The same PKCSReq sent 6 times at once: one certificate, and every answer carries it."""
    import asyncio

    w = world
    key = h.rsa_key(fresh=True)
    ra, _ = await w.ra()
    env = h.openssl_envelope(h.make_csr(key, "twin", CHALLENGE), ra)
    signer = h.self_signed(key, "twin")
    body = h.pki_message(env, signer, key, 19, "twin-tid")
    before = await _state(w)
    responses = await asyncio.gather(*(w.operation(body) for _ in range(6)))
    replies = [h.read_reply(await r.read()) for r in responses]
    issued = {tuple(c.serial_number for c in r.certificates(key, signer)) for r in replies if r.status == "0"}
    assert len(issued) == 1 and all(r.status in ("0", "3") for r in replies)
    assert await _state(w) == (before[0] + 1, before[1] + 1, before[2] + 1)
