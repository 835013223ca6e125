"""pkcsPKIEnvelope (RFC 8894 §3.2.2): CMS EnvelopedData with RSA key transport, opened and sealed.

cryptography's PKCS#7 decryption takes neither RSAES-OAEP (Windows, Intune) nor DES/3DES (micromdm's scepclient
sends DES-CBC whatever GetCACaps says), so the structure is read and written with asn1crypto and every
cryptographic step (RSA, AES, 3DES, DES) is done by cryptography. Replies mirror the request's content cipher:
Cisco IOS refuses a reply in an algorithm it did not offer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding

from . import der

# asn1crypto's names for the content-encryption algorithms SCEP clients use -> key length in bytes.
CONTENT_CIPHERS = {"des": 8, "tripledes_3key": 24, "aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
_OAEP_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
                "sha512": hashes.SHA512}


class EnvelopeError(ValueError):
    """The envelope cannot be opened; `bad_alg` when it uses an algorithm we do not speak."""

    def __init__(self, detail: str, *, bad_alg: bool = False, addressed_elsewhere: bool = False) -> None:
        super().__init__(detail)
        self.bad_alg = bad_alg
        self.addressed_elsewhere = addressed_elsewhere


@dataclass(frozen=True)
class Recipient:
    """An RA credential that may open envelopes: its certificate and RSA private key."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class Opened:
    content: bytes
    content_cipher: str  # a CONTENT_CIPHERS name, for the reply
    recipient: Recipient


def _issuer_serial(cert: x509.Certificate) -> tuple[bytes, int]:
    return cert.issuer.public_bytes(), cert.serial_number


def open_envelope(data: bytes, recipients: Sequence[Recipient]) -> Opened:
    """Decrypt an EnvelopedData addressed (by issuerAndSerialNumber) to one of `recipients`."""
    try:
        der.check(data)
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "enveloped_data":
            raise EnvelopeError("the pkcsPKIEnvelope is not EnvelopedData")
        env = info["content"]
        alg, ciphertext = _encrypted_content(env["encrypted_content_info"])
        name = alg["algorithm"].native
        infos = list(env["recipient_infos"])
    except EnvelopeError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise EnvelopeError(f"the pkcsPKIEnvelope is not EnvelopedData: {exc}") from None
    if name not in CONTENT_CIPHERS:
        raise EnvelopeError(f"content encryption {name} is not supported", bad_alg=True)
    ours = {_issuer_serial(r.certificate): r for r in recipients}
    for choice in infos:
        if choice.name != "ktri":
            continue
        ktri = choice.chosen
        rid = ktri["rid"]
        if rid.name != "issuer_and_serial_number":
            continue
        key = (rid.chosen["issuer"].dump(), rid.chosen["serial_number"].native)
        recipient = ours.get(key)
        if recipient is None:
            continue
        cek = _unwrap_key(recipient.key, ktri["key_encryption_algorithm"], ktri["encrypted_key"].native)
        return Opened(_decrypt(name, cek, alg, ciphertext), name, recipient)
    raise EnvelopeError("the pkcsPKIEnvelope is not addressed to this endpoint's RA certificate",
                        addressed_elsewhere=True)


class _Segments(core.SequenceOf):
    """A BER constructed OCTET STRING's segments."""

    _child_spec = core.OctetString


class _SegmentedContentInfo(core.Sequence):
    """EncryptedContentInfo with the ciphertext as a constructed [0] of definite length, as Go's pkcs7 writes it
    (micromdm, step-ca clients). asn1crypto reads constructed strings only with indefinite length."""

    _fields = [
        ("content_type", cms.ContentType),
        ("content_encryption_algorithm", algos.EncryptionAlgorithm),
        ("encrypted_content", _Segments, {"implicit": 0, "optional": True}),
    ]


def _encrypted_content(info: cms.EncryptedContentInfo) -> tuple[algos.EncryptionAlgorithm, bytes | None]:
    try:
        return info["content_encryption_algorithm"], info["encrypted_content"].native
    except ValueError:
        ber = _SegmentedContentInfo.load(info.dump())
        segments = ber["encrypted_content"]
        return ber["content_encryption_algorithm"], b"".join(s.native for s in segments) if segments else None


def _unwrap_key(key: rsa.RSAPrivateKey, algorithm: cms.KeyEncryptionAlgorithm, encrypted_key: bytes) -> bytes:
    name = algorithm["algorithm"].native
    try:
        if name in ("rsa", "rsaes_pkcs1v15"):
            return key.decrypt(encrypted_key, asym_padding.PKCS1v15())
        if name == "rsaes_oaep":
            params = algorithm["parameters"]
            hash_name = params["hash_algorithm"]["algorithm"].native
            mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
            if hash_name not in _OAEP_HASHES or mgf_hash not in _OAEP_HASHES:
                raise EnvelopeError(f"OAEP with {hash_name}/{mgf_hash} is not supported", bad_alg=True)
            label = params["p_source_algorithm"]["parameters"].native or None
            return key.decrypt(encrypted_key, asym_padding.OAEP(
                mgf=asym_padding.MGF1(_OAEP_HASHES[mgf_hash]()), algorithm=_OAEP_HASHES[hash_name](), label=label))
    except ValueError:
        # One message for every decryption failure: no padding oracle (OpenSSL also rejects implicitly).
        raise EnvelopeError("the content-encryption key cannot be decrypted") from None
    raise EnvelopeError(f"key transport {name} is not supported", bad_alg=True)


def _cipher(name: str, key: bytes, iv: bytes) -> Cipher:
    if len(key) != CONTENT_CIPHERS[name]:
        raise EnvelopeError("the content-encryption key has the wrong length")
    # Single DES is TripleDES with K1 = K2 = K3: EDE with one key collapses to one DES encryption.
    algorithm = (TripleDES(key * 3) if name == "des" else TripleDES(key) if name == "tripledes_3key"
                 else algorithms.AES(key))
    if len(iv) * 8 != algorithm.block_size:
        raise EnvelopeError("the IV has the wrong length")
    return Cipher(algorithm, modes.CBC(iv))


def _decrypt(name: str, key: bytes, alg: algos.EncryptionAlgorithm, ciphertext: bytes | None) -> bytes:
    try:
        iv = alg.encryption_iv
    except (ValueError, TypeError, KeyError):
        raise EnvelopeError("the content-encryption parameters are not an IV") from None
    if not ciphertext or not isinstance(iv, bytes):
        raise EnvelopeError("the pkcsPKIEnvelope has no content")
    cipher = _cipher(name, key, iv)
    decryptor = cipher.decryptor()
    try:
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(cipher.algorithm.block_size).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise EnvelopeError("the pkcsPKIEnvelope does not decrypt") from None


def seal(content: bytes, recipient: x509.Certificate, cipher_name: str) -> bytes:
    """EnvelopedData of `content` for `recipient`'s RSA key (PKCS#1 v1.5 key transport), in `cipher_name`."""
    public_key = recipient.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise EnvelopeError("the requester's certificate has no RSA key to envelope the reply to", bad_alg=True)
    key = os.urandom(CONTENT_CIPHERS[cipher_name])
    block = 8 if cipher_name in ("des", "tripledes_3key") else 16
    iv = os.urandom(block)
    padder = padding.PKCS7(block * 8).padder()
    encryptor = _cipher(cipher_name, key, iv).encryptor()
    ciphertext = encryptor.update(padder.update(content) + padder.finalize()) + encryptor.finalize()
    tbs = asn1_x509.Certificate.load(recipient.public_bytes(Encoding.DER))["tbs_certificate"]
    ktri = cms.KeyTransRecipientInfo({
        "version": "v0",
        "rid": cms.RecipientIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": tbs["issuer"], "serial_number": tbs["serial_number"]})}),
        "key_encryption_algorithm": cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15"}),
        "encrypted_key": public_key.encrypt(key, asym_padding.PKCS1v15()),
    })
    enveloped = cms.EnvelopedData({
        "version": "v0",
        "recipient_infos": [cms.RecipientInfo({"ktri": ktri})],
        "encrypted_content_info": cms.EncryptedContentInfo({
            "content_type": "data",
            "content_encryption_algorithm": algos.EncryptionAlgorithm({"algorithm": cipher_name, "parameters": iv}),
            "encrypted_content": ciphertext,
        }),
    })
    return cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump()
