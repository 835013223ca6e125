"""OCSP responses (RFC 6960 §4.2, RFC 5019 §2.2) and delegated responder certificates (RFC 6960 §4.2.2.2)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.crypto.signer import LocalSigner
from enrollment_gateway.domain import RevocationReason
from enrollment_gateway.revocation.ocsp import (
    CertID,
    build_responder_certificate,
    build_response,
    error_response,
    issuer_hashes,
    parse_ocsp_request,
    responder_needs_rotation,
)
from revocation_pki import NOW, lint_findings, run, write_pem

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def responder(pki):
    """A delegated responder: its own key and a certificate from the root."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build_responder_certificate(ca_signer=pki.signer, ca_cert=pki.cert, responder_public_key=key.public_key(),
                                       validity=4 * DAY, now=NOW - HOUR)
    return LocalSigner(key, KeyAlgorithm.ECDSA_P256), cert


def _cert_id(pki, leaf, digest="sha1") -> CertID:
    return CertID(digest, *issuer_hashes(pki.cert, digest), leaf.serial_number)


def _respond(pki, responder, cert_id, *, delegated=True, status="good", **kwargs) -> bytes:
    signer, cert = responder if delegated else (pki.signer, pki.cert)
    revoked = {"revoked_at": NOW - HOUR, "reason": RevocationReason.KEY_COMPROMISE} if status == "revoked" else {}
    return build_response(
        responder_signer=signer, responder_cert=cert, issuer_cert=pki.cert, cert_id=cert_id, status=status,
        this_update=NOW - HOUR, next_update=NOW + DAY, responder_is_issuer=not delegated, **{**revoked, **kwargs},
    )


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
@pytest.mark.parametrize("delegated", [True, False], ids=["delegated", "ca-signed"])
@pytest.mark.parametrize("status", ["good", "revoked", "unknown"])
def test_openssl_accepts_response(pki, responder, tmp_path, openssl, digest, delegated, status):
    leaf = pki.leaf()
    root, leaf_pem = write_pem(tmp_path / "root.pem", pki.cert), write_pem(tmp_path / "leaf.pem", leaf)
    (tmp_path / "resp.der").write_bytes(_respond(pki, responder, _cert_id(pki, leaf, digest),
                                                 delegated=delegated, status=status))
    digest_arg = ["-sha256"] if digest == "sha256" else []  # openssl looks the status up by a CertID it computes
    result = run(openssl, "ocsp", "-respin", tmp_path / "resp.der", "-issuer", root, "-CAfile", root,
                 *digest_arg, "-cert", leaf_pem)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr
    assert f"{leaf_pem}: {status}" in result.stdout
    if status == "revoked":
        assert "Reason: keyCompromise" in result.stdout
    assert lint_findings("lint_ocsp_response", tmp_path / "resp.der") == ""


@pytest.mark.parametrize("delegated", [True, False], ids=["delegated", "ca-signed"])
def test_response_fields(pki, responder, delegated):
    leaf = pki.leaf()
    cert_id = _cert_id(pki, leaf, "sha256")
    response = ocsp.load_der_ocsp_response(_respond(pki, responder, cert_id, delegated=delegated, status="revoked"))
    signer_cert = responder[1] if delegated else pki.cert
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    # the CertID echoes the request's algorithm and hashes exactly
    assert isinstance(response.hash_algorithm, hashes.SHA256)
    assert (response.issuer_name_hash, response.issuer_key_hash, response.serial_number) == (
        cert_id.issuer_name_hash, cert_id.issuer_key_hash, cert_id.serial)
    ski = signer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert response.responder_key_hash == ski and response.responder_name is None  # byKey
    assert response.certificates == ([responder[1]] if delegated else [])
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == NOW - HOUR
    assert response.revocation_reason is x509.ReasonFlags.key_compromise
    assert response.this_update_utc == NOW - HOUR and response.next_update_utc == NOW + DAY
    signer_cert.public_key().verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("reason", [None, RevocationReason.UNSPECIFIED])
def test_unspecified_reason_is_left_out(pki, responder, reason):
    der = _respond(pki, responder, _cert_id(pki, pki.leaf()), status="revoked", reason=reason)
    assert ocsp.load_der_ocsp_response(der).revocation_reason is None


def test_nonce_is_echoed(pki, responder, tmp_path, openssl):
    leaf = pki.leaf()
    root, leaf_pem = write_pem(tmp_path / "root.pem", pki.cert), write_pem(tmp_path / "leaf.pem", leaf)
    made = run(openssl, "ocsp", "-issuer", root, "-cert", leaf_pem, "-reqout", tmp_path / "req.der")
    assert made.returncode == 0, made.stderr
    request = parse_ocsp_request((tmp_path / "req.der").read_bytes())
    der = _respond(pki, responder, request.cert_ids[0], nonce=request.nonce)
    nonce = ocsp.load_der_ocsp_response(der).extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == request.nonce
    (tmp_path / "resp.der").write_bytes(der)
    # with -reqin, openssl checks the response's nonce against the request's (no -cert: that makes a new request)
    result = run(openssl, "ocsp", "-reqin", tmp_path / "req.der", "-respin", tmp_path / "resp.der",
                 "-CAfile", root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr and "nonce" not in (result.stdout + result.stderr).lower()
    # and the check is real: another nonce fails it
    (tmp_path / "resp.der").write_bytes(_respond(pki, responder, request.cert_ids[0], nonce=b"\x00" * 16))
    result = run(openssl, "ocsp", "-reqin", tmp_path / "req.der", "-respin", tmp_path / "resp.der",
                 "-CAfile", root)
    assert "Nonce Verify error" in result.stderr


def test_no_nonce_without_request_nonce(pki, responder):
    response = ocsp.load_der_ocsp_response(_respond(pki, responder, _cert_id(pki, pki.leaf())))
    assert not any(isinstance(e.value, x509.OCSPNonce) for e in response.extensions)


@pytest.mark.parametrize(
    "status",
    [ocsp.OCSPResponseStatus.MALFORMED_REQUEST, ocsp.OCSPResponseStatus.UNAUTHORIZED,
     ocsp.OCSPResponseStatus.INTERNAL_ERROR, ocsp.OCSPResponseStatus.TRY_LATER],
)
def test_error_response(status):
    assert ocsp.load_der_ocsp_response(error_response(status)).response_status is status


def test_error_response_refuses_successful():
    with pytest.raises(ValueError):
        error_response(ocsp.OCSPResponseStatus.SUCCESSFUL)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"status": "revoked", "revoked_at": None}, "revoked_at"),  # revoked without a time
        ({"status": "good", "revoked_at": NOW}, "revoked_at"),  # a time without revocation
        ({"status": "expired"}, "status"),
        ({"responder_signer": LocalSigner(ec.generate_private_key(ec.SECP256R1()), KeyAlgorithm.ECDSA_P256)},
         "signer"),
    ],
)
def test_build_response_refuses(pki, responder, change, message):
    signer, cert = responder
    args = dict(responder_signer=signer, responder_cert=cert, issuer_cert=pki.cert,
                cert_id=_cert_id(pki, pki.leaf()), status="good", this_update=NOW, next_update=NOW + DAY,
                responder_is_issuer=False)
    with pytest.raises(ValueError, match=message):
        build_response(**{**args, **change})


def test_responder_is_issuer_must_be_the_issuer(pki, responder):
    signer, cert = responder
    with pytest.raises(ValueError, match="responder_is_issuer"):
        build_response(responder_signer=signer, responder_cert=cert, issuer_cert=pki.cert,
                       cert_id=_cert_id(pki, pki.leaf()), status="good", this_update=NOW, next_update=NOW + DAY,
                       responder_is_issuer=True)


# --- the delegated responder certificate ---------------------------------------------------------------------


def test_responder_certificate(pki, responder, tmp_path):
    _, cert = responder
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.OCSP_SIGNING])
    assert ext.get_extension_for_class(x509.OCSPNoCheck).critical is False
    key_usage = ext.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical and key_usage.value.digital_signature and not key_usage.value.key_cert_sign
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ca_ski = pki.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value == \
        x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Example Test Root CA OCSP Responder"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Test"
    assert cert.issuer == pki.cert.subject
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == 4 * DAY
    cert.verify_directly_issued_by(pki.cert)
    write_pem(tmp_path / "responder.pem", cert)
    assert lint_findings("lint_pkix_cert", tmp_path / "responder.pem") == ""


def test_responder_certificate_never_outlives_the_ca(pki):
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    cert = build_responder_certificate(ca_signer=pki.signer, ca_cert=pki.cert, responder_public_key=key,
                                       validity=dt.timedelta(days=100_000), now=NOW)
    assert cert.not_valid_after_utc == pki.cert.not_valid_after_utc


@pytest.mark.parametrize(
    "now, before, needed",
    [
        (NOW, DAY, False),  # fresh: 4 days left
        (NOW + 2 * DAY, DAY, False),  # 2 days left, rotate at 1
        (NOW + 3 * DAY - HOUR, DAY, True),  # inside the last day
        (NOW + 5 * DAY, DAY, True),  # already expired
        (NOW, 5 * DAY, True),  # a rotation window longer than the validity
    ],
)
def test_responder_needs_rotation(responder, now, before, needed):
    assert responder_needs_rotation(responder[1], now, before) is needed
