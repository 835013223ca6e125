"""JWS request authentication (RFC 8555 §6.2–6.5) and External Account Binding (§7.3.4)."""

import base64
import hashlib
import hmac
import json

import josepy
import pytest
from acme import jws as acme_jws
from acme import messages as acme_messages
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from protocols.acme import jws
from protocols.acme.problems import AcmeProblem

URL = "https://ca.example/acme/new-order"
NONCE = "Zm9vYmFyYmF6"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
P256_KEY = ec.generate_private_key(ec.SECP256R1())
P384_KEY = ec.generate_private_key(ec.SECP384R1())
P521_KEY = ec.generate_private_key(ec.SECP521R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
_CURVE_BYTES = {"secp256r1": 32, "secp384r1": 48, "secp521r1": 66}


def public_jwk(private) -> dict:
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return jws.JWKOKP(key=private.public_key()).to_json()
    return _josepy_jwk(private).public_key().to_json()


def _josepy_jwk(private) -> josepy.JWK:
    return josepy.JWKRSA(key=private) if isinstance(private, rsa.RSAPrivateKey) else josepy.JWKEC(key=private)


def raw_sign(private, alg: str, msg: bytes) -> bytes:
    if alg == "RS256":
        return private.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    if alg.startswith("ES"):
        hash_ = {"ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512}[alg]()
        r, s = decode_dss_signature(private.sign(msg, ec.ECDSA(hash_)))
        n = _CURVE_BYTES[private.curve.name]
        return r.to_bytes(n, "big") + s.to_bytes(n, "big")
    if alg == "EdDSA":
        return private.sign(msg)
    if alg == "HS256":
        return hmac.new(b"k" * 32, msg, hashlib.sha256).digest()
    return b""  # "none"


def make(private=RSA_KEY, alg="RS256", payload: bytes | None = b'{"a":1}', drop=(), signature=None, **header):
    """A flattened JWS signed by `private`, with an embedded jwk unless `kid` is given."""
    protected = {"alg": alg, "nonce": NONCE, "url": URL}
    if "kid" not in header:
        protected["jwk"] = public_jwk(private)
    protected.update(header)
    for name in drop:
        protected.pop(name, None)
    protected_b64 = b64(json.dumps(protected).encode())
    payload_b64 = b64(payload or b"")
    sig = raw_sign(private, alg, f"{protected_b64}.{payload_b64}".encode()) if signature is None else signature
    return json.dumps({"protected": protected_b64, "payload": payload_b64, "signature": b64(sig)}).encode()


async def no_accounts(kid):
    return None


def key_store(private):
    async def lookup(kid):
        return josepy.JWK.from_json(public_jwk(private)) if kid == "https://ca.example/acct/1" else None

    return lookup


async def check(body: bytes, expect="either", key_for_kid=no_accounts, url=URL):
    return await jws.verify(jws.parse_flattened(body), request_url=url, key_for_kid=key_for_kid, expect=expect)


# --- successes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "private, alg",
    [(RSA_KEY, "RS256"), (P256_KEY, "ES256"), (P384_KEY, "ES384"), (P521_KEY, "ES512"), (ED_KEY, "EdDSA")],
)
async def test_each_allowed_algorithm_verifies(private, alg):
    verified = await check(make(private, alg), expect="jwk")
    assert verified.alg == alg and verified.nonce == NONCE and verified.url == URL
    assert verified.jwk is not None and verified.kid is None and verified.key == verified.jwk
    assert verified.json() == {"a": 1}


async def test_kid_request_uses_stored_key():
    verified = await check(make(P256_KEY, "ES256", kid="https://ca.example/acct/1"), "kid", key_store(P256_KEY))
    assert verified.kid == "https://ca.example/acct/1" and verified.jwk is None
    assert verified.key.thumbprint() == josepy.JWK.from_json(public_jwk(P256_KEY)).thumbprint()


async def test_post_as_get_has_empty_payload():
    verified = await check(make(payload=None, kid="https://ca.example/acct/1"), "kid", key_store(RSA_KEY))
    assert verified.payload == b"" and verified.is_post_as_get and verified.json() == {}


@pytest.mark.parametrize("private, alg", [(RSA_KEY, josepy.RS256), (P256_KEY, josepy.ES256)])
async def test_real_client_encoding_verifies(private, alg):
    # certbot's acme library is what a real client sends: jwk for newAccount, kid afterwards.
    signed = acme_jws.JWS.sign(b'{"x":true}', _josepy_jwk(private), alg, b"nonce-bytes", url=URL)
    verified = await check(signed.json_dumps().encode(), expect="jwk")
    assert verified.nonce == b64(b"nonce-bytes")
    signed = acme_jws.JWS.sign(b"", _josepy_jwk(private), alg, b"n2", url=URL, kid="https://ca.example/acct/1")
    verified = await check(signed.json_dumps().encode(), "kid", key_store(private))
    assert verified.is_post_as_get


# --- refusals, one per rule -----------------------------------------------------------------------------------

COMPACT = b"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        (b"{" + b" " * 70000 + b"}", 413, "larger than"),  # refused before parsing
        (b"not json", 400, "not JSON"),
        (COMPACT, 400, "compact"),
        (b"[1, 2]", 400, "not a JSON object"),
        (b'{"payload": "", "signatures": []}', 400, "general JWS serialization"),
        (b'{"protected": "e30", "payload": "", "signature": "", "header": {}}', 400, "unprotected header"),
        (b'{"protected": "e30", "payload": ""}', 400, "'signature'"),
        (b'{"protected": "e30=", "payload": "", "signature": ""}', 400, "undecodable"),  # padding is not base64url
        (b'{"protected": "W10", "payload": "", "signature": ""}', 400, "not a JSON object"),  # [] as header
        # {"alg":"RS256","alg":"none"}: duplicate header names are refused, not resolved
        (('{"protected": "%s", "payload": "", "signature": ""}' % b64(b'{"alg":"RS256","alg":"none"}')).encode(),
         400, "duplicate"),
    ],
)
def test_parse_refusals(body, status, fragment):
    with pytest.raises(AcmeProblem) as exc:
        jws.parse_flattened(body)
    assert exc.value.type == "malformed" and exc.value.status == status and fragment in exc.value.detail


@pytest.mark.parametrize(
    "body, expect, type_, fragment",
    [
        # alg none and HMAC are never account signatures
        (make(alg="none"), "jwk", "badSignatureAlgorithm", "'none'"),
        (make(alg="HS256"), "jwk", "badSignatureAlgorithm", "'HS256'"),
        (make(alg="RS384"), "jwk", "badSignatureAlgorithm", "'RS384'"),
        # jwk and kid are exclusive, and one is required
        (make(kid="https://ca.example/acct/1", jwk=public_jwk(RSA_KEY)), "either", "malformed", "exactly one"),
        (make(drop=("jwk",)), "either", "malformed", "exactly one"),
        # the endpoint decides which form it accepts
        (make(), "kid", "malformed", "'kid'"),
        (make(kid="https://ca.example/acct/1"), "jwk", "malformed", "'jwk'"),
        # RFC 8555 §6.4: url must be the request URL
        (make(url="https://ca.example/acme/other"), "jwk", "unauthorized", "'url'"),
        (make(drop=("url",)), "jwk", "malformed", "'url'"),
        # nonce: present and base64url (redeeming it is the caller's job)
        (make(drop=("nonce",)), "jwk", "badNonce", "anti-replay"),
        (make(nonce="not/base64+url"), "jwk", "badNonce", "anti-replay"),
        (make(nonce=""), "jwk", "badNonce", "anti-replay"),
        # a private key in the header is refused outright
        (make(jwk={**public_jwk(P256_KEY), "d": "AAAA"}, alg="ES256", signature=b"x"), "jwk", "malformed", "private"),
        # unsupported key type
        (make(jwk={"kty": "oct", "k": "c2VjcmV0"}, signature=b"x"), "jwk", "malformed", "private"),
        (make(jwk={"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"}, alg="ES256", signature=b"x"), "jwk",
         "badPublicKey", "JWK"),
        # the alg must match the key
        (make(P384_KEY, "ES384", jwk=public_jwk(P256_KEY)), "jwk", "badSignatureAlgorithm", "does not match"),
        (make(P256_KEY, "ES256", jwk=public_jwk(RSA_KEY)), "jwk", "badSignatureAlgorithm", "does not match"),
        (make(ED_KEY, "EdDSA", jwk=public_jwk(P256_KEY)), "jwk", "badSignatureAlgorithm", "does not match"),
        # a signature by another key, or a mangled one
        (make(P256_KEY, "ES256", jwk=public_jwk(ec.generate_private_key(ec.SECP256R1()))), "jwk", "malformed",
         "JWS verification error"),
        (make(signature=b"\x00" * 256), "jwk", "malformed", "JWS verification error"),
        (make(ED_KEY, "EdDSA", signature=b"\x01" * 64), "jwk", "malformed", "JWS verification error"),
        # a present payload must be a JSON object
        (make(payload=b"not json"), "jwk", "malformed", "not JSON"),
        (make(payload=b"[1]"), "jwk", "malformed", "not a JSON object"),
        # RFC 7515 §4.1.11: we understand no critical extensions
        (make(crit=["b64"], b64=False), "jwk", "malformed", "crit"),
    ],
)
async def test_verify_refusals(body, expect, type_, fragment):
    with pytest.raises(AcmeProblem) as exc:
        await check(body, expect)
    assert exc.value.type == type_, exc.value.detail
    assert fragment in exc.value.detail


async def test_bad_signature_algorithm_lists_allowed():
    with pytest.raises(AcmeProblem) as exc:
        await check(make(alg="none"), "jwk")
    assert exc.value.to_json()["algorithms"] == ["RS256", "ES256", "ES384", "ES512", "EdDSA"]


async def test_weak_rsa_key_is_bad_public_key():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(AcmeProblem) as exc:
        await check(make(weak, "RS256"), "jwk")
    assert exc.value.type == "badPublicKey" and "1024" in exc.value.detail


async def test_unknown_kid_is_account_does_not_exist():
    with pytest.raises(AcmeProblem) as exc:
        await check(make(kid="https://ca.example/acct/404"), "kid", key_store(RSA_KEY))
    assert exc.value.type == "accountDoesNotExist"


async def test_kid_without_lookup_is_refused():
    with pytest.raises(AcmeProblem) as exc:
        await check(make(kid="https://ca.example/acct/1"), "either", key_for_kid=None)
    assert exc.value.type == "malformed"


# --- thumbprints and key authorizations ----------------------------------------------------------------------


def test_thumbprint_rfc8037_example():
    # RFC 8037 Appendix A.3
    key = jws.jwk_from_json({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
    assert jws.jwk_thumbprint(key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_thumbprint_matches_josepy_and_key_authorization():
    key = josepy.JWK.from_json(public_jwk(RSA_KEY))
    assert jws.jwk_thumbprint(key) == b64(key.thumbprint())
    assert jws.key_authorization("tok", key) == "tok." + b64(key.thumbprint())


# --- External Account Binding -------------------------------------------------------------------------------

NEW_ACCOUNT = "https://ca.example/acme/new-account"
MAC_KEY = b"\x17" * 32
ACCOUNT = josepy.JWKEC(key=P256_KEY)


async def mac_keys(kid):
    return MAC_KEY if kid == "kid-1" else None


def eab(hmac_alg="HS256", kid="kid-1", mac_key=MAC_KEY, account=ACCOUNT, url=NEW_ACCOUNT) -> dict:
    # Exactly what certbot sends: acme.messages.ExternalAccountBinding.from_data.
    return acme_messages.ExternalAccountBinding.from_data(
        account.public_key(), kid, b64(mac_key), {"newAccount": url}, hmac_alg=hmac_alg
    )


def eab_by_hand(**header) -> dict:
    protected = {"alg": "HS256", "kid": "kid-1", "url": NEW_ACCOUNT, **header}
    protected_b64 = b64(json.dumps(protected).encode())
    payload_b64 = b64(json.dumps(ACCOUNT.public_key().to_json()).encode())
    mac = hmac.new(MAC_KEY, f"{protected_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64(mac)}


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_eab_from_real_client_verifies(alg):
    kid = await jws.verify_eab(eab(alg), account_jwk=ACCOUNT.public_key(), url=NEW_ACCOUNT, hmac_key_for_kid=mac_keys)
    assert kid == "kid-1"


async def test_eab_signed_with_josepy_verifies():
    # josepy's own Header has no "url"; acme.jws.JWS is josepy's JWS with the ACME header fields added.
    signed = acme_jws.JWS.sign(
        json.dumps(ACCOUNT.public_key().to_json()).encode(), josepy.JWKOct(key=MAC_KEY), josepy.HS256, None,
        NEW_ACCOUNT, "kid-1",
    )
    assert await jws.verify_eab(
        signed.to_partial_json(), account_jwk=ACCOUNT.public_key(), url=NEW_ACCOUNT, hmac_key_for_kid=mac_keys
    ) == "kid-1"


@pytest.mark.parametrize(
    "binding, type_, fragment",
    [
        (eab(mac_key=b"\x18" * 32), "unauthorized", "MAC"),  # wrong MAC key
        (eab(kid="kid-2"), "unauthorized", "unknown"),  # key id the CA never issued
        (eab(account=josepy.JWKEC(key=P384_KEY)), "unauthorized", "different account key"),  # bound to another key
        (eab(url="https://ca.example/acme/other"), "malformed", "'url'"),
        (eab_by_hand(alg="RS256"), "malformed", "'alg'"),
        (eab_by_hand(nonce="abc"), "malformed", "'nonce'"),
        (eab_by_hand(kid=""), "malformed", "'kid'"),
        (eab_by_hand(jwk=ACCOUNT.public_key().to_json()), "malformed", "does not allow"),
        ({"protected": "e30"}, "malformed", "'payload'"),
        ("a string", "malformed", "not a JSON object"),
    ],
)
async def test_eab_refusals(binding, type_, fragment):
    with pytest.raises(AcmeProblem) as exc:
        await jws.verify_eab(binding, account_jwk=ACCOUNT.public_key(), url=NEW_ACCOUNT, hmac_key_for_kid=mac_keys)
    assert exc.value.type == type_ and fragment in exc.value.detail, exc.value.detail
