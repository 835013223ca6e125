"""The captured micromdm exchange (tests/data/scep) replayed through the parser and the response builder: bytes a
real client produced must parse, verify and decrypt; the CertRep we build for them must carry what the real
server's did (type, status, transactionID, recipientNonce, digest, cipher) and decrypt with the client's key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AttributeOID

import scep_helpers as h
from protocols.scep import degenerate, envelope
from protocols.scep.pki_message import CertRep, MessageType, PkiStatus, cert_rep, parse_pki_message

DATA = Path(__file__).resolve().parents[1] / "data" / "scep"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture(scope="module")
def capture():
    ra = x509.load_pem_x509_certificate(load("ca-ra.pem"))
    ra_key = serialization.load_pem_private_key(load("ca-ra.plain.key"), None)
    client_key = serialization.load_pem_private_key(load("client.key"), None)
    return ra, ra_key, client_key


@pytest.mark.parametrize("name, message_type, issued", [
    ("pkcsreq-request.der", MessageType.PKCSReq, None),  # signed by a self-signed "SCEP SIGNER"
    ("renewalreq-request.der", MessageType.RenewalReq, "client-issued-by-pkcsreq.pem"),  # signed by the issued cert
])
def test_captured_requests_parse_verify_and_decrypt(capture, name, message_type, issued):
    ra, ra_key, client_key = capture
    msg = parse_pki_message(load(name))
    assert msg.known_type is message_type and msg.signature_valid and msg.problem is None
    assert msg.digest_algorithm == "sha1" and len(msg.sender_nonce) == 16 and msg.transaction_id
    if issued:
        assert msg.signer == x509.load_pem_x509_certificate(load(issued))
    else:
        assert msg.signer.subject.rfc4514_string() == "CN=SCEP SIGNER,O=scep-client"
    opened = envelope.open_envelope(msg.envelope, [envelope.Recipient(ra, ra_key)])
    assert opened.content_cipher == "des"  # scepclient sends DES-CBC whatever GetCACaps offers
    csr = x509.load_der_x509_csr(opened.content)
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=device-0001,OU=MDM,O=scep-client,C=US"
    assert csr.public_key().public_numbers() == client_key.public_key().public_numbers()
    if message_type is MessageType.PKCSReq:
        assert csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value == b"secret123"


def test_captured_certrep_verifies_with_our_reader():
    msg = parse_pki_message(load("pkcsreq-certrep-response.der"))
    assert msg.known_type is MessageType.CertRep and msg.signature_valid


@pytest.mark.parametrize("request_name, response_name, issued_name", [
    ("pkcsreq-request.der", "pkcsreq-certrep-response.der", "client-issued-by-pkcsreq.pem"),
    ("renewalreq-request.der", "renewalreq-certrep-response.der", "client-issued-by-renewalreq.pem"),
])
def test_our_certrep_matches_the_real_servers(capture, request_name, response_name, issued_name):
    ra, ra_key, client_key = capture
    msg = parse_pki_message(load(request_name))
    opened = envelope.open_envelope(msg.envelope, [envelope.Recipient(ra, ra_key)])
    issued = x509.load_pem_x509_certificate(load(issued_name))
    sealed = envelope.seal(degenerate.certificates_only([issued]), msg.signer, opened.content_cipher)
    ours = h.read_reply(cert_rep(CertRep(PkiStatus.SUCCESS, envelope=sealed), msg, ra, ra_key,
                                 now=dt.datetime.now(dt.timezone.utc)))
    theirs = h.read_reply(load(response_name))
    for reply in (ours, theirs):
        assert (reply.message_type, reply.status, reply.fail_info) == ("3", "0", None)
        assert reply.transaction_id == msg.transaction_id
        assert reply.recipient_nonce == msg.sender_nonce
        assert reply.digest == "sha1" and reply.content_cipher() == "des"
        assert reply.signer == ra
        # What the client does with it: decrypt with its key and take the certificate.
        assert issued in reply.certificates(client_key, msg.signer)
    assert ours.sender_nonce != msg.sender_nonce  # fresh, where micromdm echoes the request's


def test_getcacaps_offers_at_least_what_the_capture_did():
    from protocols.scep.capabilities import CAPABILITIES

    assert set(load("getcacaps-response.txt").decode().split()) <= set(CAPABILITIES)
