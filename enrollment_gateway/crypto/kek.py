"""The key-encryption key: CA and managed private keys are stored only wrapped under it (AES-256-GCM)."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ErrorKind, GatewayError

KEY_BYTES = 32
NONCE_BYTES = 12  # the GCM size NIST SP 800-38D recommends; random nonces are safe well past our wrap count
_VERSION = 1  # first byte of every blob, so a later scheme (an HSM-held KEK, another AEAD) can sit beside this one


class KeyEncryptionKey:
    """AES-256-GCM over private-key bytes. The AAD binds a blob to its owner (e.g. b"ca:<id>"), so a blob copied
    into another row fails to unwrap instead of silently lending one CA's key to another."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise GatewayError(ErrorKind.INTERNAL, f"key-encryption key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:  # never show the key in logs or tracebacks
        return "KeyEncryptionKey(<redacted>)"

    @classmethod
    def from_bytes(cls, key: bytes) -> KeyEncryptionKey:
        return cls(key)

    @classmethod
    def from_base64(cls, text: str) -> KeyEncryptionKey:
        """Standard or URL-safe base64 of 32 bytes (the form the KEK file and EG_KEK-style settings hold)."""
        cleaned = text.strip()
        try:
            raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise GatewayError(ErrorKind.INTERNAL, "key-encryption key is not valid base64") from None
        return cls(raw)

    @classmethod
    def generate(cls) -> KeyEncryptionKey:
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def load_or_create(cls, path: Path) -> KeyEncryptionKey:
        """Read the base64 key at `path`, or create it with a fresh random key, mode 0600, if absent.

        O_CREAT|O_EXCL with the mode given to open() means the file never exists with wider permissions, and two
        processes starting together cannot both write a different key: the loser reads the winner's.
        """
        path = Path(path)
        key = AESGCM.generate_key(bit_length=256)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.from_base64(path.read_text(encoding="ascii"))
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(base64.b64encode(key).decode("ascii") + "\n")
            f.flush()
            os.fsync(f.fileno())
        return cls(key)

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        """version(1) || nonce(12) || ciphertext+tag(16)."""
        nonce = os.urandom(NONCE_BYTES)
        return bytes([_VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    @staticmethod
    def is_wrapped(blob: bytes) -> bool:
        """Whether `blob` has the shape of something `wrap` made (so unwrapping it can judge a key at all)."""
        return len(blob) >= 1 + NONCE_BYTES + 16 and blob[0] == _VERSION

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        """The plaintext of `blob`; INTERNAL when it was tampered with, bound to another AAD or wrapped by another
        key (the detail stays server-side: GatewayError hides INTERNAL details from clients)."""
        if not self.is_wrapped(blob):
            raise GatewayError(ErrorKind.INTERNAL, "wrapped key blob has an unknown version or is truncated")
        nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise GatewayError(
                ErrorKind.INTERNAL, "wrapped key failed authentication (tampered, other AAD or wrong key)"
            ) from None
