"""Bearer tokens and shared secrets: generate, store hashed, compare in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

TOKEN_BYTES = 32

# scrypt cost (RFC 7914): N=2**14, r=8, p=1 is OWASP's minimum and costs ~16 MiB and tens of ms, affordable per
# EST/SCEP request on 2 cores. The parameters are stored with each hash so they can be raised later.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SALT_BYTES = 16
_SCHEME = "scrypt"


def new_token(prefix: str = "egt_") -> str:
    """A bearer token such as egt_<43 url-safe chars>: 256 random bits; the prefix makes leaked tokens greppable."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token, for storage and lookup.

    A fast unsalted hash is right here, unlike for passwords: tokens carry 256 random bits, so no dictionary or
    brute force applies, and a deterministic hash lets the token be found by an indexed equality lookup.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A salted scrypt hash "scrypt$N$r$p$salt$hash" for human-chosen secrets (EST Basic, SCEP challenges)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return "$".join((_SCHEME, str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash_password() result; False (never an exception) for malformed hashes."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != _SCHEME:
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected), maxmem=2**26
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
