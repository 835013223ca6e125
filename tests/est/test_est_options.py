"""What an endpoint can ask of devices: approval (202 + Retry-After, then the same request), proof-of-possession
over TLS 1.2 (RFC 7030 §3.5), csrattrs (RFC 9908), and a TLS-terminating proxy's client certificate header."""

from __future__ import annotations

import asyncio
import base64
import http.client
import urllib.parse
from dataclasses import replace

from asn1crypto import core
from cryptography.hazmat.primitives import serialization

from enrollment_gateway.domain import RequestStatus
from protocols.est.csrattrs import CsrAttrs
from protocols.est.wire import EST

from est_helpers import b64, certs_from, csr


async def test_approval_answers_202_then_the_same_request_then_the_certificate(est_world) -> None:
    w = est_world
    endpoint = await w.endpoint("approved-devices", approval=True)
    cred = await w.est.create_credential(w.admin, w.app_id, endpoint, username="approved-1")
    auth = (cred.credential.username, cred.password)
    request, _ = csr("waiting-1")
    first = await w.client.enroll(b64(request), auth=auth, label=endpoint)
    assert first.status == 202, first
    assert first.headers["Retry-After"] == "7" and "awaits approval" in first.text
    again = await w.client.enroll(b64(request), auth=auth, label=endpoint)
    assert again.status == 202
    pending = await w.gateway.issuance.list_requests(w.admin, application_id=w.app_id, status=RequestStatus.PENDING)
    assert len(pending) == 1  # the retry found the same request
    await w.gateway.issuance.approve(w.admin, pending[0].id)
    issued = await w.client.enroll(b64(request), auth=auth, label=endpoint)
    assert issued.status == 200, issued
    (leaf,) = certs_from(issued.body)
    assert leaf.public_key() == request.public_key()

    refused, _ = csr("waiting-2")
    assert (await w.client.enroll(b64(refused), auth=auth, label=endpoint)).status == 202
    pending = await w.gateway.issuance.list_requests(w.admin, application_id=w.app_id, status=RequestStatus.PENDING)
    await w.gateway.issuance.reject(w.admin, pending[0].id, "unknown device")
    rejected = await w.client.enroll(b64(refused), auth=auth, label=endpoint)
    assert rejected.status == 403 and "rejected: unknown device" in rejected.text, rejected


def _pop_enroll(w, *, tls12: bool, right: bool) -> tuple[int, bytes]:
    """simpleenroll on one connection whose tls-unique goes into the CSR, as RFC 7030 §3.5 has the client do."""
    url = urllib.parse.urlsplit(w.client.base_url)
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=w.client.ssl_context(tls12=tls12), timeout=30)
    try:
        conn.connect()
        unique = conn.sock.get_channel_binding("tls-unique") or b"none"
        password = base64.b64encode(unique if right else b"\x00" * len(unique)).decode()
        request, _ = csr("pop-1", challenge_password=password)
        basic = base64.b64encode(f"{w.username}:{w.password}".encode()).decode()
        conn.request("POST", f"/.well-known/est/{w.endpoint_id}/simpleenroll", body=b64(request),
                     headers={"Content-Type": "application/pkcs10", "Authorization": f"Basic {basic}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


async def test_proof_of_possession_binds_the_csr_to_the_tls_12_session(est_world) -> None:
    await est_world.settings(proof_of_possession=True)
    status, body = await asyncio.to_thread(_pop_enroll, est_world, tls12=True, right=True)
    assert status == 200, body
    status, body = await asyncio.to_thread(_pop_enroll, est_world, tls12=True, right=False)
    assert status == 400 and b"not this TLS session's tls-unique" in body
    status, body = await asyncio.to_thread(_pop_enroll, est_world, tls12=False, right=True)
    assert status == 400 and b"TLS 1.2" in body  # tls-unique does not exist in TLS 1.3


def _decode(body: bytes) -> list:
    out = []
    for item in CsrAttrs.load(base64.b64decode(body)):
        if item.name == "oid":
            out.append(item.chosen.dotted)
        else:
            out.append((item.chosen["type"].dotted, sorted(v.dump() for v in item.chosen["values"])))
    return out


async def test_csrattrs_says_what_the_policy_wants(est_world) -> None:
    w = est_world
    rules = {"subject": {"CN": {"require": []}, "O": {"require": ["Acme"]}},
             "san": {"DNS": {"require": []}}, "key_algorithms": ["ECDSA_P256", "ECDSA_P384", "RSA_2048"],
             "signature_algorithms": ["ECDSA_SHA256"]}
    endpoint = await w.endpoint("strict-devices", rules)
    await w.est.update_settings(w.admin, w.app_id, endpoint, {"proof_of_possession": True})
    reply = await w.client.call("GET", "csrattrs", label=endpoint, content_type=None)
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/csrattrs", reply
    assert reply.headers["Content-Transfer-Encoding"] == "base64"
    attrs = _decode(reply.body)
    assert "1.2.840.113549.1.9.7" in attrs  # challengePassword: proof-of-possession is on
    curves = sorted(core.ObjectIdentifier(c).dump() for c in ("1.2.840.10045.3.1.7", "1.3.132.0.34"))
    assert ("1.2.840.10045.2.1", curves) in attrs  # id-ecPublicKey with P-256 and P-384
    assert ("1.2.840.113549.1.1.1", [core.Integer(2048).dump()]) in attrs  # RSA of 2048 bits
    assert "1.2.840.10045.4.3.2" in attrs  # ecdsa-with-SHA256
    assert "2.5.4.3" in attrs and "2.5.4.10" in attrs  # CN and O are required
    assert "2.5.29.17" in attrs  # a DNS SAN is required


async def test_csrattrs_is_204_when_the_policy_constrains_nothing(est_world) -> None:
    endpoint = await est_world.endpoint("anything", {})
    reply = await est_world.client.call("GET", "csrattrs", label=endpoint, content_type=None)
    assert reply.status == 204 and reply.body == b""


async def test_a_trusted_proxy_header_carries_the_client_certificate(est_world) -> None:
    w = est_world
    request, key = csr("proxied-1")
    (cert,) = certs_from((await w.client.enroll(b64(request), auth=w.basic)).body)
    state = w.app[EST]
    state.settings = replace(state.settings, client_certificate_header="X-SSL-Client-Cert",
                             trusted_proxies=("127.0.0.0/8",))
    header = urllib.parse.quote(cert.public_bytes(serialization.Encoding.PEM).decode())
    renewal, _ = csr("proxied-1")
    reply = await w.client.call("POST", "simplereenroll", b64(renewal), headers={"X-SSL-Client-Cert": header})
    assert reply.status == 200, reply
    # Behind the proxy the TLS session is the proxy's: a certificate on it is not the device's.
    no_header = await w.client.call("POST", "simplereenroll", b64(renewal), cert=cert, key=key)
    assert no_header.status == 401, no_header


async def test_the_configured_default_label_answers_without_a_label(est_world) -> None:
    state = est_world.app[EST]
    state.settings = replace(state.settings, default_endpoint=est_world.endpoint_id)
    cacerts = await est_world.client.call("GET", "cacerts", label="", content_type=None)
    assert cacerts.status == 200, cacerts
    request, _ = csr("no-label-1")
    enrolled = await est_world.client.enroll(b64(request), auth=est_world.basic, label="")
    assert enrolled.status == 200, enrolled


async def test_behind_a_trusted_proxy_wrong_passwords_count_per_forwarded_address(est_world) -> None:
    w = est_world
    state = w.app[EST]
    state.settings = replace(state.settings, trusted_proxies=("127.0.0.0/8",))
    request = b64(csr("fwd-1")[0])
    for _ in range(3):  # EG_EST__BASIC_FAILURES_ALLOWED=3
        reply = await w.client.enroll(request, auth=(w.username, "wrong"), headers={"X-Forwarded-For": "192.0.2.7"})
        assert reply.status == 401
    blocked = await w.client.enroll(request, auth=w.basic, headers={"X-Forwarded-For": "192.0.2.7"})
    assert blocked.status == 429 and "192.0.2.7" in blocked.text
    other = await w.client.enroll(request, auth=w.basic, headers={"X-Forwarded-For": "198.51.100.1, 192.0.2.8"})
    assert other.status == 200, other  # another device behind the same proxy is not locked out
