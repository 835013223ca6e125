"""PKCSReq end to end through the HTTP front end: envelopes in every cipher and key transport, replies mirrored."""

from __future__ import annotations

import pytest
from cryptography import x509

import scep_helpers as h
from conftest import CHALLENGE


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
