"""kek.py and secrets_util.py: wrapped keys at rest, tokens, password hashes."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from enrollment_gateway.crypto.kek import KeyEncryptionKey
from enrollment_gateway.crypto.secrets_util import hash_password, hash_token, new_token, token_matches, verify_password
from enrollment_gateway.errors import ErrorKind, GatewayError

AAD = b"ca:root-1"
SECRET = b"-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def kek() -> KeyEncryptionKey:
    return KeyEncryptionKey.from_bytes(bytes(range(32)))


def test_round_trip_and_format(kek):
    blob = kek.wrap(SECRET, AAD)
    assert blob[0] == 1 and len(blob) == 1 + 12 + len(SECRET) + 16  # version, nonce, ciphertext, tag
    assert SECRET not in blob
    assert kek.unwrap(blob, AAD) == SECRET
    assert kek.wrap(SECRET, AAD) != blob  # fresh nonce every time


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:],  # ciphertext bit flip
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # tag bit flip
        lambda b: b[:5] + bytes([b[5] ^ 1]) + b[6:],  # nonce bit flip
        lambda b: bytes([2]) + b[1:],  # unknown version
        lambda b: b[:20],  # truncated
        lambda b: b"",  # empty
    ],
)
def test_tamper_is_detected(kek, mutate):
    with pytest.raises(GatewayError) as e:
        kek.unwrap(mutate(kek.wrap(SECRET, AAD)), AAD)
    assert e.value.kind is ErrorKind.INTERNAL
    assert e.value.public_detail == "internal error"


def test_aad_binds_blob_to_owner(kek):
    blob = kek.wrap(SECRET, b"ca:root-1")
    with pytest.raises(GatewayError):
        kek.unwrap(blob, b"ca:root-2")  # moved to another CA's row


def test_other_key_cannot_unwrap(kek):
    with pytest.raises(GatewayError):
        KeyEncryptionKey.generate().unwrap(kek.wrap(SECRET, AAD), AAD)


def test_constructors(kek):
    raw = bytes(range(32))
    blob = kek.wrap(SECRET, AAD)
    for text in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=") + "\n"):
        assert KeyEncryptionKey.from_base64(text).unwrap(blob, AAD) == SECRET
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(GatewayError):
            KeyEncryptionKey.from_base64(bad)
    with pytest.raises(GatewayError):
        KeyEncryptionKey.from_bytes(b"\x00" * 16)  # AES-128 is not what we promise
    assert "redacted" in repr(kek)


def test_load_or_create_makes_0600_file_and_reuses_it(tmp_path):
    path = tmp_path / "kek.b64"
    first = KeyEncryptionKey.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    blob = first.wrap(SECRET, AAD)
    second = KeyEncryptionKey.load_or_create(path)  # same file, same key
    assert second.unwrap(blob, AAD) == SECRET
    assert len(base64.b64decode(path.read_text())) == 32


def test_tokens():
    token = new_token("egt_")
    assert token.startswith("egt_") and len(token) == 4 + 43
    assert new_token("egt_") != token
    digest = hash_token(token)
    assert len(digest) == 64 and digest == hash_token(token)
    assert token_matches(token, digest) and not token_matches(token + "x", digest)


def test_passwords():
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert hash_password("correct horse") != stored  # salted
    assert verify_password("correct horse", stored)
    assert not verify_password("Correct horse", stored)
    for garbage in ("", "scrypt$x", "bcrypt$1$2$3$4$5", "scrypt$16384$8$1$!!$!!"):
        assert not verify_password("correct horse", garbage)
