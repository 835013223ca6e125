"""csr.py: every encoding clients send, and every way a CSR can be bad, ends as ParsedCSR or BAD_CSR."""

from __future__ import annotations

import base64

import pytest
from crypto_helpers import DATA, run
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AttributeOID

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.crypto.csr import parse_csr
from enrollment_gateway.crypto.keys import key_algorithm_of
from enrollment_gateway.crypto.names import build_name, sans_to_general_names
from enrollment_gateway.crypto.signer import hash_for
from enrollment_gateway.errors import ErrorKind, GatewayError


def make_csr(key, alg=KeyAlgorithm.ECDSA_P256, sans=("DNS:www.example.com", "IP:192.0.2.1"), password=None):
    builder = x509.CertificateSigningRequestBuilder().subject_name(build_name([("CN", "www.example.com")]))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans_to_general_names(sans)), critical=False)
    if password is not None:
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, password.encode())
    return builder.sign(key, hash_for(alg, None))


@pytest.fixture
def csr(key_pool):
    return make_csr(key_pool.key(KeyAlgorithm.ECDSA_P256))


def bad_csr(data) -> GatewayError:
    with pytest.raises(GatewayError) as e:
        parse_csr(data)
    assert e.value.kind is ErrorKind.BAD_CSR, e.value
    return e.value


@pytest.mark.parametrize(
    "encode",
    [
        lambda c: c.public_bytes(serialization.Encoding.PEM),  # PEM bytes
        lambda c: c.public_bytes(serialization.Encoding.PEM).decode(),  # PEM text
        lambda c: c.public_bytes(serialization.Encoding.PEM).replace(b"CERTIFICATE REQ", b"NEW CERTIFICATE REQ"),
        lambda c: b"junk before\n" + c.public_bytes(serialization.Encoding.PEM) + b"junk after\n",  # PEM in prose
        lambda c: c.public_bytes(serialization.Encoding.DER),  # DER
        lambda c: base64.b64encode(c.public_bytes(serialization.Encoding.DER)),  # EST: base64 DER, one line
        lambda c: base64.encodebytes(c.public_bytes(serialization.Encoding.DER)).replace(b"\n", b"\r\n"),  # wrapped
    ],
)
def test_encodings(csr, encode):
    parsed = parse_csr(encode(csr))
    assert parsed.csr == csr
    assert parsed.subject == (("CN", "www.example.com"),)
    assert parsed.sans == (("DNS", "www.example.com"), ("IP", "192.0.2.1"))
    assert parsed.key_algorithm == "ECDSA_P256"
    assert parsed.challenge_password is None


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_every_key_algorithm(key_pool, alg):
    parsed = parse_csr(make_csr(key_pool.key(alg), alg, sans=()).public_bytes(serialization.Encoding.DER))
    assert parsed.key_algorithm == alg.value
    assert parsed.sans == ()


def test_flipped_signature_byte_is_refused(csr):
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature BIT STRING, at the end of the structure
    assert "signature" in bad_csr(bytes(der)).detail


def test_tampered_subject_is_refused(csr):
    der = csr.public_bytes(serialization.Encoding.DER)
    assert b"www.example.com" in der
    bad_csr(der.replace(b"www.example.com", b"www.example.org", 1))  # same length, signature no longer covers it


@pytest.mark.parametrize(
    "data",
    [
        b"",  # empty
        "   \n",  # whitespace only
        b"garbage that is not base64!",
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",  # wrong PEM type
        b"-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n",  # bad base64 in PEM
        b"\x30\x82\x01\x00\x02\x01",  # truncated DER
        base64.b64encode(b"\x30\x03\x02\x01\x00"),  # valid base64 of DER that is no CSR
        "ünïcode",  # non-ASCII text
    ],
)
def test_garbage_is_refused(data):
    bad_csr(data)


def test_truncated_real_csr_is_refused(csr):
    der = csr.public_bytes(serialization.Encoding.DER)
    bad_csr(der[: len(der) // 2])
    bad_csr(csr.public_bytes(serialization.Encoding.PEM)[:-60])


def test_oversized_is_refused(csr):
    pem = csr.public_bytes(serialization.Encoding.PEM)
    assert "larger than" in bad_csr(pem + b"\n" * (64 * 1024)).detail
    with pytest.raises(GatewayError):
        parse_csr(pem, max_size=100)


def test_unparseable_san_extension_is_refused(key_pool):
    # An extension with the SAN OID whose value is not GeneralNames (an INTEGER), correctly signed.
    key = key_pool.key(KeyAlgorithm.ECDSA_P256)
    broken = x509.UnrecognizedExtension(x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x02\x01\x05")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(build_name([("CN", "x")]))
        .add_extension(broken, critical=False)
        .sign(key, hashes.SHA256())
    )
    bad_csr(csr.public_bytes(serialization.Encoding.DER))


def test_rsa_1024_parses_but_is_named_and_refused_by_key_check():
    csr = make_csr(rsa.generate_private_key(65537, 1024), KeyAlgorithm.RSA_2048)
    parsed = parse_csr(csr.public_bytes(serialization.Encoding.PEM))
    assert parsed.key_algorithm == "RSA_1024"  # policy reports "Key algorithm RSA_1024 is not allowed by policy"
    with pytest.raises(GatewayError) as e:
        key_algorithm_of(parsed.public_key)
    assert e.value.kind is ErrorKind.BAD_PUBLIC_KEY


@pytest.mark.parametrize("password", ["s3cret", "pässwörd"])
def test_challenge_password(key_pool, password):
    csr = make_csr(key_pool.key(KeyAlgorithm.ECDSA_P256), password=password)
    assert parse_csr(csr.public_bytes(serialization.Encoding.PEM)).challenge_password == password


def test_static_openssl_req_csr():
    """A CSR from `openssl req` (tests/data/README.md gives the command): subject, SANs, challengePassword."""
    parsed = parse_csr((DATA / "openssl_req_device_p256.csr.pem").read_bytes())
    assert parsed.subject == (("CN", "device01.example.com"), ("O", "Example Devices"))
    assert parsed.sans == (("DNS", "device01.example.com"), ("IP", "192.0.2.10"))
    assert parsed.key_algorithm == "ECDSA_P256"
    assert parsed.challenge_password == "otp-5f2c9a"


@pytest.mark.parametrize(
    "newkey, key_algorithm",
    [(["-newkey", "rsa:2048"], "RSA_2048"), (["-newkey", "ed25519"], "ED25519")],
)
def test_live_openssl_req(tmp_path, newkey, key_algorithm):
    out = tmp_path / "req.der"
    result = run("openssl", "req", "-new", *newkey, "-nodes", "-keyout", str(tmp_path / "k.pem"),
                 "-subj", "/CN=host.example.com", "-addext", "subjectAltName=DNS:host.example.com,email:a@b.c",
                 "-outform", "DER", "-out", str(out))
    assert result.returncode == 0, result.stderr
    parsed = parse_csr(out.read_bytes())
    assert parsed.key_algorithm == key_algorithm
    assert parsed.sans == (("DNS", "host.example.com"), ("email", "a@b.c"))


def test_no_bit_flip_escapes_as_a_cryptography_exception(key_pool):
    """Flip each byte of a CSR three ways: every result parses or is BAD_CSR / BAD_PUBLIC_KEY, nothing else."""
    der = make_csr(key_pool.key(KeyAlgorithm.ECDSA_P256), password="pw").public_bytes(serialization.Encoding.DER)
    for i in range(len(der)):
        for mask in (0x01, 0x80, 0xFF):
            mutated = bytearray(der)
            mutated[i] ^= mask
            try:
                parse_csr(bytes(mutated))
            except GatewayError as e:
                assert e.kind in (ErrorKind.BAD_CSR, ErrorKind.BAD_PUBLIC_KEY), (i, mask, e)
