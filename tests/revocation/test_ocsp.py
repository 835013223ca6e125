"""OCSP requests (RFC 6960 §4.1, RFC 5019 §2.1): made by openssl, cryptography and asn1crypto, POST and GET."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from enrollment_gateway.revocation.ocsp import (
    CertID,
    OCSPRequestError,
    decode_get_path,
    issuer_hashes,
    parse_ocsp_request,
)
from revocation_pki import run, write_pem

MALFORMED = ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.fixture
def files(pki, tmp_path):
    leaf = pki.leaf()
    return leaf, write_pem(tmp_path / "root.pem", pki.cert), write_pem(tmp_path / "leaf.pem", leaf)


def _openssl_request(openssl, tmp_path, root, *certs, extra=()) -> bytes:
    args = [openssl, "ocsp", "-issuer", root, *extra]  # options such as -sha256 must come before -cert
    for cert in certs:
        args += ["-cert", cert]
    result = run(*args, "-reqout", tmp_path / "req.der")
    assert result.returncode == 0, result.stderr
    return (tmp_path / "req.der").read_bytes()


def _asn1_request(cert_ids: int, *, hash_oid: str = "sha1", hash_len: int = 20, serial: int = 1) -> bytes:
    """A request of `cert_ids` CertIDs made with asn1crypto (cryptography only builds single requests)."""
    one = {"req_cert": {"hash_algorithm": {"algorithm": hash_oid}, "issuer_name_hash": b"\x01" * hash_len,
                        "issuer_key_hash": b"\x02" * hash_len, "serial_number": serial}}
    return asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [one] * cert_ids}}).dump()


# --- parsing requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("digest, extra", [("sha1", []), ("sha256", ["-sha256"])])
def test_parse_openssl_request(pki, files, tmp_path, openssl, digest, extra):
    leaf, root, leaf_pem = files
    parsed = parse_ocsp_request(_openssl_request(openssl, tmp_path, root, leaf_pem, extra=extra))
    name_hash, key_hash = issuer_hashes(pki.cert, digest)
    assert parsed.cert_ids == (CertID(digest, name_hash, key_hash, leaf.serial_number),)
    assert parsed.nonce is not None and 1 <= len(parsed.nonce) <= 32  # openssl adds a nonce by default


def test_parse_openssl_request_without_nonce(files, tmp_path, openssl):
    _, root, leaf_pem = files
    assert parse_ocsp_request(_openssl_request(openssl, tmp_path, root, leaf_pem, extra=["-no_nonce"])).nonce is None


def test_parse_multi_request(pki, tmp_path, openssl):
    leaves = [pki.leaf(f"l{i}.example.test") for i in range(3)]
    root = write_pem(tmp_path / "root.pem", pki.cert)
    pems = [write_pem(tmp_path / f"l{i}.pem", leaf) for i, leaf in enumerate(leaves)]
    parsed = parse_ocsp_request(_openssl_request(openssl, tmp_path, root, *pems))
    assert [c.serial for c in parsed.cert_ids] == [leaf.serial_number for leaf in leaves]


@pytest.mark.parametrize("algorithm, name", [(hashes.SHA1(), "sha1"), (hashes.SHA256(), "sha256"),
                                             (hashes.SHA384(), "sha384"), (hashes.SHA512(), "sha512")])
def test_parse_cryptography_request_with_nonce(pki, algorithm, name):
    leaf = pki.leaf()
    nonce = bytes(range(32))  # the RFC 8954 maximum
    request = (ocsp.OCSPRequestBuilder().add_certificate(leaf, pki.cert, algorithm)
               .add_extension(x509.OCSPNonce(nonce), critical=False).build())
    parsed = parse_ocsp_request(request.public_bytes(serialization.Encoding.DER))
    # issuer_hashes agrees with cryptography's own CertID computation
    assert parsed.cert_ids == (CertID(name, request.issuer_name_hash, request.issuer_key_hash, leaf.serial_number),)
    assert issuer_hashes(pki.cert, name) == (request.issuer_name_hash, request.issuer_key_hash)
    assert parsed.nonce == nonce


def _with_nonce(pki, nonce: bytes) -> bytes:
    request = (ocsp.OCSPRequestBuilder().add_certificate(pki.leaf(), pki.cert, hashes.SHA1())
               .add_extension(x509.OCSPNonce(nonce), critical=False).build())
    return request.public_bytes(serialization.Encoding.DER)


def _good_request(pki) -> bytes:
    return ocsp.OCSPRequestBuilder().add_certificate(pki.leaf(), pki.cert, hashes.SHA1()).build().public_bytes(
        serialization.Encoding.DER)


@pytest.mark.parametrize(
    "make, kwargs",
    [
        (lambda pki: b"", {}),  # empty body
        (lambda pki: b"\x00garbage\xff" * 10, {}),  # not DER at all
        (lambda pki: _good_request(pki)[:-5], {}),  # truncated
        (lambda pki: _good_request(pki) + b"\x00\x00", {}),  # trailing octets
        (lambda pki: _good_request(pki), {"max_size": 40}),  # larger than allowed
        (lambda pki: b"\x30" + b"\x00" * 10_000, {}),  # oversized at the default limit
        (lambda pki: _asn1_request(1_000), {}),  # 1,000 CertIDs: over the size limit
        (lambda pki: _asn1_request(1_000), {"max_size": 10**6}),  # 1,000 CertIDs: over the count limit
        (lambda pki: _asn1_request(51), {"max_size": 10**6}),  # one over the default max_certs
        (lambda pki: _asn1_request(0), {}),  # no CertID at all
        (lambda pki: _asn1_request(1, hash_oid="md5", hash_len=16), {}),  # hash we do not answer for
        (lambda pki: _asn1_request(1, hash_len=19), {}),  # SHA-1 CertID with a 19-octet hash
        (lambda pki: _asn1_request(1, serial=-5), {}),  # negative serial: never ours, cannot be echoed
        (lambda pki: _with_nonce(pki, b"\x01" * 33), {}),  # RFC 8954: nonce over 32 octets
        (lambda pki: _with_nonce(pki, b""), {}),  # RFC 8954: empty nonce
    ],
)
def test_refused_requests_are_malformed(pki, make, kwargs):
    with pytest.raises(OCSPRequestError) as caught:
        parse_ocsp_request(make(pki), **kwargs)
    assert caught.value.status is MALFORMED


@pytest.fixture(scope="module")
def sample_request(pki) -> bytes:
    return _with_nonce(pki, b"\x07" * 16)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mangled_requests_raise_only_request_errors(sample_request, data):
    """Whatever the octets, the parser answers with a value or OCSPRequestError, never another exception."""
    good = bytearray(sample_request)
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), max_size=4))
    for index, value in edits:
        good[index] = value
    cut = data.draw(st.integers(0, len(good)))
    try:
        parse_ocsp_request(bytes(good[:cut]) + data.draw(st.binary(max_size=8)))
    except OCSPRequestError as error:
        assert error.status is MALFORMED


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_octets_raise_only_request_errors(raw):
    try:
        parse_ocsp_request(raw)
    except OCSPRequestError as error:
        assert error.status is MALFORMED


def test_signed_request_is_parsed(pki, files, tmp_path, openssl):
    """RFC 5019 §2.1.2: the responder may ignore a request's signature; the request still parses."""
    leaf, root, leaf_pem = files
    key = tmp_path / "root.key"
    key.write_bytes(pki.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    der = _openssl_request(openssl, tmp_path, root, leaf_pem, extra=["-signer", root, "-signkey", key])
    assert asn1_ocsp.OCSPRequest.load(der)["optional_signature"].native is not None
    assert parse_ocsp_request(der).cert_ids[0].serial == leaf.serial_number


def test_fifty_cert_ids_are_accepted():
    assert len(parse_ocsp_request(_asn1_request(50), max_size=10**6).cert_ids) == 50


# --- GET path -----------------------------------------------------------------------------------------------

# Octets whose base64, "+/+/+/8=", holds every character a URL may encode: '+', '/' and '='.
TRICKY = b"\xfb\xff\xbf\xfb\xff"
TRICKY_B64 = base64.b64encode(TRICKY).decode()


@pytest.mark.parametrize(
    "path",
    [
        TRICKY_B64,  # raw: '+' and '/' literal (the '/' makes the tail span path segments)
        quote(TRICKY_B64, safe=""),  # fully URL-encoded: %2B %2F %3D
        "/" + quote(TRICKY_B64, safe=""),  # with the leading slash of the route's tail
        quote(TRICKY_B64, safe="+"),  # '+' literal, '/' and '=' encoded
        quote(TRICKY_B64, safe="/"),  # '/' literal, '+' and '=' encoded
        base64.urlsafe_b64encode(TRICKY).decode(),  # URL-safe alphabet
        TRICKY_B64.rstrip("="),  # padding dropped
        "%2b%2f%2B%2F%2b%2F8%3d",  # lower-case percent-escapes
    ],
)
def test_decode_get_path(path):
    assert set("+/=") <= set(TRICKY_B64)
    assert decode_get_path(path) == TRICKY


def test_decode_get_path_openssl_request(files, tmp_path, openssl):
    _, root, leaf_pem = files
    der = _openssl_request(openssl, tmp_path, root, leaf_pem)
    for path in (base64.b64encode(der).decode(), quote(base64.b64encode(der).decode(), safe="")):
        assert parse_ocsp_request(decode_get_path(path)).cert_ids


@pytest.mark.parametrize("path", ["", "!!!!", "a", "%ZZ", "abc$", "%ff%fe", "A" * 20_000])
def test_decode_get_path_refuses(path):
    with pytest.raises(OCSPRequestError) as caught:
        decode_get_path(path)
    assert caught.value.status is MALFORMED
