"""JWS request authentication for ACME (RFC 8555 §6.2–6.5, RFC 7515 flattened JSON), with josepy keys.

`parse_flattened` checks structure only; `verify` checks the protected header, the key and the signature and
returns a VerifiedJWS whose `nonce` the caller still has to redeem against its nonce store (RFC 8555 §6.5).
EdDSA (RFC 8037) keys are not in josepy, so `JWKOKP` adds them without touching josepy's global registry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import josepy
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from .. import bounded_json
from . import problems

ALLOWED_ALGORITHMS = ("RS256", "ES256", "ES384", "ES512", "EdDSA")
MIN_RSA_BITS = 2048  # RFC 8555 leaves it to the CA; the BRs (§6.1.5) and Boulder's goodkey agree on 2048
MAX_RSA_BITS = 8192  # bounds the cost of one verification an unauthenticated client can ask for
MAX_NONCE_LENGTH = 512
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_COMPACT = re.compile(rb"^\s*[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\s*$")
_EC_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_JWA = {"RS256": josepy.RS256, "ES256": josepy.ES256, "ES384": josepy.ES384, "ES512": josepy.ES512}

Expect = Literal["jwk", "kid", "either"]
KeyForKid = Callable[[str], Awaitable[josepy.JWK | None]]


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): any other character is an error, not silently dropped."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JWKOKP(josepy.JWK):
    """An Ed25519 or Ed448 public key (RFC 8037 §2); private OKP keys are not needed by a server."""

    typ = "OKP"
    __slots__ = ("key",)
    cryptography_key_types = (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)
    required = ("crv", josepy.JWK.type_field_name, "x")
    key: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey

    def fields_to_partial_json(self) -> dict[str, str]:
        crv = "Ed25519" if isinstance(self.key, ed25519.Ed25519PublicKey) else "Ed448"
        return {"crv": crv, "x": b64url_encode(self.key.public_bytes_raw())}

    @classmethod
    def fields_from_json(cls, jobj: Any) -> JWKOKP:
        loaders = {"Ed25519": ed25519.Ed25519PublicKey, "Ed448": ed448.Ed448PublicKey}
        if jobj.get("crv") not in loaders:
            raise josepy.DeserializationError(f"unsupported OKP curve {jobj.get('crv')!r}")
        try:
            return cls(key=loaders[jobj["crv"]].from_public_bytes(b64url_decode(jobj["x"])))
        except (KeyError, ValueError) as exc:
            raise josepy.DeserializationError(f"invalid OKP key: {exc}") from None

    def public_key(self) -> JWKOKP:
        return self

    def __hash__(self) -> int:  # cryptography's Ed keys are comparable but not hashable
        return hash(self.key.public_bytes_raw())


def _check_jwk_members(obj: dict) -> None:
    """RFC 7517 §4, RFC 7518 §6: every public-key member is a string (key_ops and x5c: arrays of strings).

    Checked before josepy sees the object, so `"x": [0]` or `"kty": null` is one malformed answer and not an
    AttributeError deep in a decoder. Members we do not know are ignored (§4), whatever their type.
    """
    for name in ("kty", "crv", "x", "y", "n", "e", "use", "alg", "kid", "x5u", "x5t", "x5t#S256"):
        if name in obj and not isinstance(obj[name], str):
            raise problems.malformed(f"JWK member {name!r} must be a string")
    for name in ("key_ops", "x5c"):
        if name in obj and not (isinstance(obj[name], list) and all(isinstance(v, str) for v in obj[name])):
            raise problems.malformed(f"JWK member {name!r} must be an array of strings")
    if "kty" not in obj:
        raise problems.malformed("JWK lacks 'kty'")
    required = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}.get(obj["kty"], ())
    missing = [name for name in required if name not in obj]
    if missing:
        raise problems.malformed(f"{obj['kty']} JWK lacks {', '.join(repr(m) for m in missing)}")


def jwk_from_json(obj: Any) -> josepy.JWK:
    """A public JWK from its JSON (RFC 7517); AcmeProblem malformed for a member of the wrong type or private
    material, badPublicKey for a well-formed key we refuse."""
    if not isinstance(obj, dict):
        raise problems.malformed("JWK must be a JSON object")
    if any(m in obj for m in _PRIVATE_MEMBERS):
        raise problems.malformed("JWK contains private key material")
    _check_jwk_members(obj)
    try:
        jwk = JWKOKP.fields_from_json(obj) if obj["kty"] == "OKP" else josepy.JWK.from_json(obj)
    except (josepy.DeserializationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # AttributeError: josepy's field decoders assume the types checked above; kept as a second fence.
        raise problems.bad_public_key(f"invalid or unsupported JWK: {exc}") from None
    if isinstance(jwk, josepy.JWKOct):
        raise problems.bad_public_key("symmetric keys cannot be account keys")
    check_account_key(jwk)
    return jwk


_STORED_JWKS: dict[str, josepy.JWK] = {}
_STORED_JWKS_MAX = 4096


def stored_jwk(obj: dict) -> josepy.JWK:
    """`jwk_from_json` for a key already accepted and stored (an account's), memoised by its canonical JSON.

    Keyed by the key's own value, not by the account: a key change or another instance's update yields other
    JSON and so another entry, and the caller still reads (and checks the status of) the account row each time.
    Parsing and validating a JWK costs more than the ECDSA verification it serves.
    """
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    jwk = _STORED_JWKS.get(canonical)
    if jwk is None:
        jwk = jwk_from_json(obj)
        if len(_STORED_JWKS) >= _STORED_JWKS_MAX:
            _STORED_JWKS.clear()
        _STORED_JWKS[canonical] = jwk
    return jwk


def check_account_key(jwk: josepy.JWK) -> None:
    """Refuse keys too weak (or too costly) to verify: RSA outside 2048–8192 bits."""
    if isinstance(jwk, josepy.JWKRSA):
        bits = jwk.key.key_size
        if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
            raise problems.bad_public_key(f"RSA key size {bits} outside {MIN_RSA_BITS}–{MAX_RSA_BITS} bits")


def jwk_thumbprint(jwk: josepy.JWK) -> str:
    """RFC 7638 thumbprint, base64url SHA-256 — the account key's name in key authorizations."""
    return b64url_encode(jwk.thumbprint(hash_function=hashes.SHA256))


def key_authorization(token: str, jwk: josepy.JWK) -> str:
    """RFC 8555 §8.1: token || '.' || base64url(thumbprint(accountKey))."""
    return f"{token}.{jwk_thumbprint(jwk)}"


@dataclass(frozen=True)
class ParsedJWS:
    """A flattened JWS (RFC 7515 §7.2.2) taken apart; the raw base64 parts are kept for the signing input."""

    protected_b64: str
    payload_b64: str
    signature: bytes
    protected: dict
    payload: bytes

    @property
    def signing_input(self) -> bytes:
        return f"{self.protected_b64}.{self.payload_b64}".encode("ascii")


@dataclass(frozen=True)
class VerifiedJWS:
    payload: bytes  # b"" for POST-as-GET (RFC 8555 §6.3)
    protected: dict
    alg: str
    nonce: str
    url: str
    jwk: josepy.JWK | None  # set when the protected header carried "jwk"
    kid: str | None  # set when it carried "kid"
    key: josepy.JWK  # the key that verified the signature

    @property
    def is_post_as_get(self) -> bool:
        return self.payload == b""

    def json(self) -> dict:
        """The payload as a JSON object ({} for POST-as-GET); `verify` already proved it is one."""
        return loads(self.payload) if self.payload else {}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    # RFC 7515 §4: duplicate header names MUST be rejected (or resolved); rejecting closes a parser-differential gap.
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate member {k!r}")
        out[k] = v
    return out


def loads(raw: bytes | str) -> Any:
    """JSON from a client: bounded (depth, integers, lone surrogates; protocols/bounded_json), no duplicate members.

    Raises ValueError with a message safe to show; every caller turns it into `malformed`.
    """
    return bounded_json.loads(raw, object_pairs_hook=_no_duplicates)


def _parse_object(obj: Any, what: str) -> ParsedJWS:
    if not isinstance(obj, dict):
        raise problems.malformed(f"{what} is not a JSON object")
    if "signatures" in obj:
        raise problems.malformed(f"{what} uses the general JWS serialization; only flattened JSON is supported")
    if "header" in obj:
        raise problems.malformed(f"{what} has an unprotected header, which RFC 8555 §6.2 forbids")
    parts = {name: obj.get(name) for name in ("protected", "payload", "signature")}
    for name, value in parts.items():
        if not isinstance(value, str):
            raise problems.malformed(f"{what} lacks a string {name!r} member")
    try:
        protected = loads(b64url_decode(parts["protected"]))
        payload = b64url_decode(parts["payload"])
        signature = b64url_decode(parts["signature"])
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise problems.malformed(f"{what} has an undecodable member: {exc}") from None
    if not isinstance(protected, dict):
        raise problems.malformed(f"{what} protected header is not a JSON object")
    return ParsedJWS(parts["protected"], parts["payload"], signature, protected, payload)


def parse_flattened(body: bytes, max_size: int = 64 * 1024) -> ParsedJWS:
    """Structure only: size, JSON, flattened serialization, decodable parts. No signature check yet."""
    if len(body) > max_size:
        raise problems.malformed(f"request body larger than {max_size} bytes", 413)
    try:
        obj = loads(body)
    except ValueError as exc:
        if _COMPACT.match(body):
            raise problems.malformed("compact JWS serialization is not supported; send flattened JSON") from None
        raise problems.malformed(f"request body is not JSON we accept: {exc}") from None
    return _parse_object(obj, "JWS")


def _signature_valid(alg: str, key: josepy.JWK, signing_input: bytes, signature: bytes) -> bool:
    if alg == "EdDSA":
        try:
            key.key.verify(signature, signing_input)
        except InvalidSignature:
            return False
        return True
    return _JWA[alg].verify(_raw_key(key), signing_input, signature)


def _raw_key(key: josepy.JWK) -> Any:
    return getattr(key.key, "_wrapped", key.key)  # josepy wraps RSA and EC keys in its Comparable*Key proxies


def _check_alg_matches_key(alg: str, key: josepy.JWK) -> None:
    """RFC 7518 §3: RS* needs RSA, ESnnn its own curve, EdDSA an OKP key."""
    raw = _raw_key(key)
    if alg == "RS256":
        ok = isinstance(raw, rsa.RSAPublicKey)
    elif alg in _EC_CURVES:
        ok = isinstance(raw, ec.EllipticCurvePublicKey) and isinstance(raw.curve, _EC_CURVES[alg])
    else:
        ok = isinstance(key, JWKOKP)
    if not ok:
        raise problems.bad_signature_algorithm(
            f"JWS signature algorithm {alg} does not match the {type(key).typ} key", ALLOWED_ALGORITHMS
        )


async def verify(
    parsed: ParsedJWS,
    *,
    request_url: str,
    key_for_kid: KeyForKid | None,
    expect: Expect,
) -> VerifiedJWS:
    """Authenticate a request (RFC 8555 §6.2): header rules, key, signature, then nonce form, url and payload.

    The signature is checked before the nonce and url so an unsigned request learns nothing about them (Boulder's
    order); `nonce` is only checked for form — redeeming it is the caller's job.
    """
    header = parsed.protected
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise problems.bad_signature_algorithm(
            f"JWS signature algorithm {alg!r} is not supported", ALLOWED_ALGORITHMS
        )
    if "crit" in header:
        raise problems.malformed("JWS 'crit' header parameters are not supported")
    has_jwk, has_kid = "jwk" in header, "kid" in header
    if has_jwk == has_kid:
        raise problems.malformed("JWS protected header must carry exactly one of 'jwk' and 'kid'")
    if has_jwk and expect == "kid":
        raise problems.malformed("this request must be signed by an account key named in 'kid', not an embedded 'jwk'")
    if has_kid and expect == "jwk":
        raise problems.malformed("this request must carry an embedded 'jwk', not a 'kid'")

    jwk: josepy.JWK | None = None
    kid: str | None = None
    if has_jwk:
        jwk = key = jwk_from_json(header["jwk"])
    else:
        kid = header["kid"]
        if not isinstance(kid, str) or not kid:
            raise problems.malformed("JWS 'kid' must be a non-empty string")
        if key_for_kid is None:
            raise problems.malformed("this request cannot be signed with a 'kid'")
        found = await key_for_kid(kid)
        if found is None:
            raise problems.account_does_not_exist(f"no account known for kid {kid!r}")
        key = found
        check_account_key(key)

    _check_alg_matches_key(alg, key)
    if not _signature_valid(alg, key, parsed.signing_input, parsed.signature):
        raise problems.malformed("JWS verification error")

    nonce = header.get("nonce")
    if not isinstance(nonce, str) or not nonce or len(nonce) > MAX_NONCE_LENGTH or not _B64URL.match(nonce):
        raise problems.bad_nonce()
    url = header.get("url")
    if not isinstance(url, str):
        raise problems.malformed("JWS protected header lacks the 'url' parameter")
    if url != request_url:
        # RFC 8555 §6.4: a mismatch MUST be rejected as unauthorized (the signature was made for another resource).
        raise problems.unauthorized(f"JWS header parameter 'url' is {url!r}, not the request URL")
    if parsed.payload:
        try:
            body = loads(parsed.payload)
        except ValueError as exc:
            raise problems.malformed(f"JWS payload is not JSON we accept: {exc}") from None
        if not isinstance(body, dict):
            raise problems.malformed("JWS payload is not a JSON object")
    return VerifiedJWS(parsed.payload, header, alg, nonce, url, jwk, kid, key)


# --- External Account Binding (RFC 8555 §7.3.4) ------------------------------------------------------------------

EAB_ALGORITHMS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
HmacKeyForKid = Callable[[str], Awaitable[bytes | None]]


async def verify_eab(
    eab_jws: Any,
    *,
    account_jwk: josepy.JWK,
    url: str,
    hmac_key_for_kid: HmacKeyForKid,
) -> str:
    """Check a newAccount's externalAccountBinding and return its key id (the external account's name).

    Form errors are malformed; an unknown key id, a bad MAC or a binding for another key are unauthorized, since
    each means the client has not proved it holds that external account's MAC key for this account key.
    """
    parsed = _parse_object(eab_jws, "externalAccountBinding")
    header = parsed.protected
    alg = header.get("alg")
    if alg not in EAB_ALGORITHMS:
        raise problems.malformed(f"externalAccountBinding 'alg' must be one of {', '.join(EAB_ALGORITHMS)}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise problems.malformed("externalAccountBinding lacks a 'kid'")
    if "nonce" in header:
        raise problems.malformed("externalAccountBinding must not carry a 'nonce'")
    if "jwk" in header or "crit" in header:
        raise problems.malformed("externalAccountBinding header has parameters RFC 8555 §7.3.4 does not allow")
    if header.get("url") != url:
        raise problems.malformed("externalAccountBinding 'url' must equal the newAccount URL")
    mac_key = await hmac_key_for_kid(kid)
    if mac_key is None:
        raise problems.unauthorized(f"unknown external account key id {kid!r}")
    expected = hmac.new(mac_key, parsed.signing_input, EAB_ALGORITHMS[alg]).digest()
    if not hmac.compare_digest(expected, parsed.signature):
        raise problems.unauthorized("externalAccountBinding MAC does not verify")
    try:
        bound = loads(parsed.payload)
        bound_key = jwk_from_json(bound)
    except (ValueError, problems.AcmeProblem):
        raise problems.malformed("externalAccountBinding payload is not a public JWK") from None
    if jwk_thumbprint(bound_key) != jwk_thumbprint(account_jwk):
        raise problems.unauthorized("externalAccountBinding is for a different account key")
    return kid
