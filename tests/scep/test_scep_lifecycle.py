"""Pending approval and CertPoll; renewal (RenewalReq, and PKCSReq signed by our certificate); GetCert; GetCRL;
one-time challenges."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

import scep_helpers as h
from scep_helpers import CHALLENGE
from enrollment_gateway.domain import RequestStatus


async def _poll(w, key, cert, tid: str, name: str = "approval") -> h.Reply:
    ra, _ = await w.ra(name)
    env = h.openssl_envelope(h.issuer_and_serial(cert), ra)  # IssuerAndSubject's content is not used; any DER
    resp = await w.operation(h.pki_message(env, cert, key, 20, tid), name)
    assert resp.status == 200
    reply = h.read_reply(await resp.read())
    reply.requester = cert
    return reply


async def test_pending_then_approved_then_polled(world):
    key = h.rsa_key(fresh=True)
    first = await world.enrol(key, name="approval", tid="wait-1")
    assert first.status == "3"  # PENDING
    again = await world.enrol(key, name="approval", tid="wait-1")
    assert again.status == "3"  # a re-send is still pending, and no second request is made
    requests = await world.gateway.issuance.list_requests(world.admin, application_id=world.app_id,
                                                          status=RequestStatus.PENDING)
    assert len(requests) == 1
    assert (await _poll(world, key, first.requester, "wait-1")).status == "3"
    await world.gateway.issuance.approve(world.admin, requests[0].id)
    polled = await _poll(world, key, first.requester, "wait-1")
    assert polled.status == "0"
    [cert] = polled.certificates(key)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()


async def test_pending_then_rejected_polls_failure(sqlite_world):
    w = sqlite_world
    key = h.rsa_key(fresh=True)
    first = await w.enrol(key, name="approval", tid="wait-2")
    [request] = await w.gateway.issuance.list_requests(w.admin, application_id=w.app_id, status=RequestStatus.PENDING)
    await w.gateway.issuance.reject(w.admin, request.id, "not this one")
    polled = await _poll(w, key, first.requester, "wait-2")
    assert (polled.status, polled.fail_info) == ("2", "2")


async def test_certpoll_for_unknown_transaction_is_badcertid(sqlite_world):
    key = h.rsa_key()
    polled = await _poll(sqlite_world, key, h.self_signed(key), "never-sent", name="static")
    assert (polled.status, polled.fail_info) == ("2", "4")


async def _issued(w, key, cn="renew-me", name="static"):
    reply = await w.enrol(key, cn=cn, name=name)
    assert reply.status == "0", reply.fail_info
    [cert] = reply.certificates(key)
    return cert


async def _record(w, cert):
    async with w.gateway.db.transaction(readonly=True) as tx:
        return await tx.certificates.get_by_serial(w.ca_id, cert.serial_number)


async def test_renewalreq_signed_by_our_certificate_needs_no_challenge(world):
    old_key = h.rsa_key(fresh=True)
    old = await _issued(world, old_key)
    new_key = h.rsa_key(fresh=True)
    reply = await world.enrol(new_key, cn="renew-me", challenge=None, signer=(old, old_key), message_type=17)
    assert reply.status == "0", reply.fail_info
    [new] = reply.certificates(old_key, old)  # enveloped to the signer certificate, whose key is the old one
    assert new.subject == old.subject and new.serial_number != old.serial_number
    assert (await _record(world, new)).replaces_id == (await _record(world, old)).id  # the renewal chain


async def test_pkcsreq_signed_by_our_certificate_renews_like_apple(sqlite_world):
    w = sqlite_world
    old_key = h.rsa_key(fresh=True)
    old = await _issued(w, old_key, cn="mac-1")
    reply = await w.enrol(old_key, cn="mac-1", challenge=None, signer=(old, old_key), message_type=19)
    assert reply.status == "0", reply.fail_info
    [new] = reply.certificates(old_key, old)
    assert (await _record(w, new)).replaces_id == (await _record(w, old)).id


async def test_renewal_refused_when_signer_is_foreign_other_subject_revoked_or_expired(sqlite_world):
    w = sqlite_world
    key = h.rsa_key(fresh=True)
    old = await _issued(w, key, cn="renewer")
    other_app = await _issued(w, key, cn="renewer", name="other_app")

    async def renew(signer, cn="renewer"):
        reply = await w.enrol(h.rsa_key(), cn=cn, challenge=None, signer=signer, message_type=17)
        return reply.status, reply.fail_info

    assert await renew((old, key), cn="someone-else") == ("2", "2")  # another subject
    assert await renew((other_app, key)) == ("2", "2")  # a certificate of another application's endpoint
    assert await renew((h.self_signed(key, "renewer"), key)) == ("2", "2")  # not ours at all
    await w.gateway.revocation.revoke(w.admin, (await _record(w, old)).id, "superseded")
    assert await renew((old, key)) == ("2", "2")  # revoked
    fresh = await _issued(w, key, cn="renewer")
    w.gateway.clock.advance(dt.timedelta(days=31))  # the profile's TTL is 30 days
    try:
        assert await renew((fresh, key)) == ("2", "2")  # expired
    finally:
        w.gateway.clock.advance(-dt.timedelta(days=31))


async def test_getcert_returns_own_certificate_only(sqlite_world):
    w = sqlite_world
    key = h.rsa_key(fresh=True)
    mine = await _issued(w, key, cn="owner")
    ra, _ = await w.ra()

    async def get_cert(signer, signer_key, wanted):
        env = h.openssl_envelope(h.issuer_and_serial(wanted), ra)
        resp = await w.operation(h.pki_message(env, signer, signer_key, 21, f"getcert-{wanted.serial_number}"))
        reply = h.read_reply(await resp.read())
        reply.requester = signer
        return reply

    reply = await get_cert(h.self_signed(key, "owner"), key, mine)  # proves possession of the certificate's key
    assert reply.status == "0"
    assert reply.certificates(key) == [mine]
    reply = await get_cert(mine, key, mine)
    assert reply.status == "0"
    stranger = h.rsa_key(fresh=True)
    reply = await get_cert(h.self_signed(stranger, "stranger"), stranger, mine)
    assert (reply.status, reply.fail_info) == ("2", "4")  # someone else's: badCertId, as if it did not exist


async def test_getcrl_returns_the_cas_crl(sqlite_world):
    w = sqlite_world
    key = h.rsa_key(fresh=True)
    mine = await _issued(w, key, cn="crl-reader")
    ra, certs = await w.ra()
    env = h.openssl_envelope(h.issuer_and_serial(mine), ra)
    resp = await w.operation(h.pki_message(env, mine, key, 22, "getcrl-1"))
    reply = h.read_reply(await resp.read())
    assert reply.status == "0"
    from asn1crypto import cms
    inner = cms.ContentInfo.load(h.openssl_decrypt(reply.envelope, key, mine))
    [crl] = inner["content"]["crls"]
    parsed = x509.load_der_x509_crl(crl.chosen.dump())
    [ca] = [c for c in certs if c.subject == mine.issuer]
    assert parsed.issuer == ca.subject and parsed.is_signature_valid(ca.public_key())


async def test_one_time_challenges(world):
    challenges = world.gateway.scep.challenges
    endpoint = world.endpoints["one_time"]
    minted = await challenges.mint(world.admin, world.app_id, endpoint)
    assert (await world.enrol(h.rsa_key(fresh=True), name="one_time", challenge=minted.challenge)).status == "0"
    reused = await world.enrol(h.rsa_key(fresh=True), name="one_time", challenge=minted.challenge)
    assert (reused.status, reused.fail_info) == ("2", "2")  # used once already
    wrong = await world.enrol(h.rsa_key(fresh=True), name="one_time", challenge="made-up")
    assert (wrong.status, wrong.fail_info) == ("2", "2")
    expiring = await challenges.mint(world.admin, world.app_id, endpoint, ttl=dt.timedelta(minutes=5))
    world.gateway.clock.advance(dt.timedelta(minutes=6))
    expired = await world.enrol(h.rsa_key(fresh=True), name="one_time", challenge=expiring.challenge)
    assert (expired.status, expired.fail_info) == ("2", "2")
    # A challenge given with a request refused by the policy is given back.
    world.gateway.clock.advance(-dt.timedelta(minutes=6))
    kept = await challenges.mint(world.admin, world.app_id, endpoint)
    weak = await world.enrol(h.rsa_key(1024), name="one_time", challenge=kept.challenge)
    assert (weak.status, weak.fail_info) == ("2", "2")
    assert (await world.enrol(h.rsa_key(fresh=True), name="one_time", challenge=kept.challenge)).status == "0"


async def test_static_challenge_of_one_endpoint_is_not_another_mode(sqlite_world):
    reply = await sqlite_world.enrol(h.rsa_key(fresh=True), name="one_time", challenge=CHALLENGE)
    assert (reply.status, reply.fail_info) == ("2", "2")
