"""keys.py: generation, naming of supported and unsupported keys, PEM round trips, fingerprints."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, rsa, x25519

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.crypto.keys import (
    key_algorithm_name,
    key_algorithm_of,
    load_private_key,
    private_key_to_pem,
    public_key_fingerprint,
)
from enrollment_gateway.errors import ErrorKind, GatewayError


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_generate_names_and_round_trips(key_pool, alg):
    key = key_pool.key(alg)
    assert key_algorithm_name(key.public_key()) == alg.value
    assert key_algorithm_of(key.public_key()) is alg
    pem = private_key_to_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    again = load_private_key(pem)
    assert public_key_fingerprint(again.public_key()) == public_key_fingerprint(key.public_key())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert public_key_fingerprint(load_private_key(der).public_key()) == public_key_fingerprint(key.public_key())


def test_rsa_public_exponent_is_65537(key_pool):
    assert key_pool.key(KeyAlgorithm.RSA_2048).public_key().public_numbers().e == 65537


@pytest.mark.parametrize(
    "make_key, name",
    [
        (lambda: rsa.generate_private_key(65537, 1024), "RSA_1024"),  # too short for anything
        (lambda: rsa.generate_private_key(65537, 2047), "RSA_2047"),  # one bit short still reads as such
        (lambda: ec.generate_private_key(ec.SECP256K1()), "ECDSA_SECP256K1"),  # Bitcoin's curve, not a NIST one
        (lambda: ed448.Ed448PrivateKey.generate(), "ED448"),
        (lambda: dsa.generate_private_key(2048), "DSA_2048"),
        (lambda: x25519.X25519PrivateKey.generate(), "X25519"),  # key agreement only
    ],
)
def test_unsupported_keys_are_named_and_refused(make_key, name):
    public_key = make_key().public_key()
    assert key_algorithm_name(public_key) == name
    with pytest.raises(GatewayError) as e:
        key_algorithm_of(public_key)
    assert e.value.kind is ErrorKind.BAD_PUBLIC_KEY
    assert name in e.value.detail or "at least 2048 bits" in e.value.detail


def test_short_rsa_refusal_says_why():
    with pytest.raises(GatewayError) as e:
        key_algorithm_of(rsa.generate_private_key(65537, 1024).public_key())
    assert e.value.detail == "RSA keys must be at least 2048 bits, got 1024"


@pytest.mark.parametrize(
    "data",
    [
        b"",  # empty
        b"not a key",  # garbage
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",  # PEM with junk inside
        b"\x30\x03\x02\x01\x00",  # DER that is not a key
    ],
)
def test_load_private_key_garbage_is_malformed(data):
    with pytest.raises(GatewayError) as e:
        load_private_key(data)
    assert e.value.kind is ErrorKind.MALFORMED


def test_load_encrypted_private_key(key_pool):
    key = key_pool.key(KeyAlgorithm.ECDSA_P256)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    assert public_key_fingerprint(load_private_key(pem, b"pw").public_key()) == public_key_fingerprint(key.public_key())
    for wrong in (None, b"wrong"):  # missing or wrong password: MALFORMED, not a TypeError
        with pytest.raises(GatewayError) as e:
            load_private_key(pem, wrong)
        assert e.value.kind is ErrorKind.MALFORMED


def test_fingerprints_differ_between_keys(key_pool):
    a, b = key_pool.key(KeyAlgorithm.ECDSA_P256, 0), key_pool.key(KeyAlgorithm.ECDSA_P256, 1)
    assert len(public_key_fingerprint(a.public_key())) == 32
    assert public_key_fingerprint(a.public_key()) != public_key_fingerprint(b.public_key())
