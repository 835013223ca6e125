"""A small SCEP requester for tests: CSRs, self-signed key carriers, pkiMessages, and a CertRep reader.

Envelopes are made by the `openssl cms -encrypt` command (an implementation independent of the gateway's), in any
cipher and with PKCS#1 v1.5 or OAEP key transport; the SignedData around them is written with asn1crypto, since
no tool adds SCEP's signed attributes. CertReps are checked with `openssl cms -verify` and decrypted with
`openssl cms -decrypt`.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import AttributeOID, NameOID

CHALLENGE = "static-secret-123"  # the static challenge of the test endpoints (conftest.py)
SCEP_OID = "2.16.840.1.113733.1.9."
MESSAGE_TYPE, PKI_STATUS, FAIL_INFO = SCEP_OID + "2", SCEP_OID + "3", SCEP_OID + "4"
SENDER_NONCE, RECIPIENT_NONCE, TRANSACTION_ID = SCEP_OID + "5", SCEP_OID + "6", SCEP_OID + "7"
OPENSSL_CIPHERS = {"des": "-des", "des3": "-des3", "aes128": "-aes128", "aes192": "-aes192", "aes256": "-aes256",
                   "rc2": "-rc2"}
HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha512": hashes.SHA512, "md5": hashes.MD5}

_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def rsa_key(bits: int = 2048, fresh: bool = False) -> rsa.RSAPrivateKey:
    if fresh or bits not in _KEYS:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        if fresh:
            return key
        _KEYS[bits] = key
    return _KEYS[bits]


def make_csr(key, cn: str = "device-1", challenge: str | None = None, digest=hashes.SHA256) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if challenge is not None:
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge.encode())
    return builder.sign(key, digest()).public_bytes(Encoding.DER)


def self_signed(key, cn: str = "device-1") -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))


def openssl_envelope(content: bytes, recipient: x509.Certificate, cipher: str = "aes256", oaep: bool = False) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        recip, data = Path(tmp) / "recip.pem", Path(tmp) / "data.bin"
        recip.write_bytes(recipient.public_bytes(Encoding.PEM))
        data.write_bytes(content)
        cmd = ["openssl", "cms", "-encrypt", "-binary", OPENSSL_CIPHERS[cipher], "-in", str(data), "-outform", "DER",
               "-recip", str(recip)]
        if oaep:
            cmd += ["-keyopt", "rsa_padding_mode:oaep"]
        if cipher in ("des", "rc2"):
            cmd += ["-provider", "legacy", "-provider", "default"]
        return subprocess.run(cmd, check=True, capture_output=True, timeout=30).stdout


def _attr(oid: str, value: core.Asn1Value) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": cms.CMSAttributeType(oid), "values": [core.Any.load(value.dump())]})


def pki_message(content: bytes | None, signer: x509.Certificate, key, message_type: int | str, transaction_id: str,
                nonce: bytes | None = None, digest: str = "sha256", *, tamper: bool = False,
                extra_certs: tuple[x509.Certificate, ...] = ()) -> bytes:
    """A signed pkiMessage around `content` (an EnvelopedData, or None)."""
    h = hashes.Hash(HASHES[digest]())
    h.update(content or b"")
    attrs = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [h.finalize()]}),
        _attr(MESSAGE_TYPE, core.PrintableString(str(message_type))),
        _attr(TRANSACTION_ID, core.PrintableString(transaction_id)),
        _attr(SENDER_NONCE, core.OctetString(nonce if nonce is not None else os.urandom(16))),
    ]
    signed_attrs = cms.CMSAttributes(attrs)
    signature = key.sign(signed_attrs.dump(), padding.PKCS1v15(), HASHES[digest]())
    if tamper:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    ac = asn1_x509.Certificate.load(signer.public_bytes(Encoding.DER))
    encap = {"content_type": "data"}
    if content is not None:
        encap["content"] = content
    signed = cms.SignedData({
        "version": "v1", "digest_algorithms": [{"algorithm": digest}], "encap_content_info": encap,
        "certificates": [ac, *(asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in extra_certs)],
        "signer_infos": [{
            "version": "v1",
            "sid": {"issuer_and_serial_number": {"issuer": ac.issuer, "serial_number": ac.serial_number}},
            "digest_algorithm": {"algorithm": digest}, "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"}, "signature": signature}],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def issuer_and_serial(cert: x509.Certificate) -> bytes:
    ac = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    return cms.IssuerAndSerialNumber({"issuer": ac.issuer, "serial_number": ac.serial_number}).dump()


@dataclass
class Reply:
    status: str  # "0" SUCCESS, "2" FAILURE, "3" PENDING
    fail_info: str | None
    transaction_id: str
    recipient_nonce: bytes | None
    sender_nonce: bytes | None
    message_type: str
    digest: str
    signer: x509.Certificate
    envelope: bytes | None
    raw: bytes
    requester: x509.Certificate | None = None  # the signer certificate of the request, set by World.enrol

    def certificates(self, key, cert: x509.Certificate | None = None) -> list[x509.Certificate]:
        return pkcs7.load_der_pkcs7_certificates(openssl_decrypt(self.envelope, key, cert or self.requester))

    def content_cipher(self) -> str:
        env = cms.ContentInfo.load(self.envelope)["content"]
        return env["encrypted_content_info"]["content_encryption_algorithm"]["algorithm"].native


def read_reply(data: bytes) -> Reply:
    """A CertRep's attributes; its signature checked by `openssl cms -verify` against the certificate it carries."""
    info = cms.ContentInfo.load(data)
    signed = info["content"]
    si = signed["signer_infos"][0]
    values = {a["type"].dotted: a["values"][0] for a in si["signed_attrs"]}

    def text(oid):
        v = values.get(oid)
        return None if v is None else v.parse(core.PrintableString).native

    def octets(oid):
        v = values.get(oid)
        return None if v is None else v.parse(core.OctetString).native

    content = signed["encap_content_info"]["content"].native
    with tempfile.TemporaryDirectory() as tmp:
        msg, payload = Path(tmp) / "m.der", Path(tmp) / "c.bin"
        msg.write_bytes(data)
        payload.write_bytes(content or b"")
        subprocess.run(["openssl", "cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", str(msg),
                        "-content", str(payload), "-out", os.devnull], check=True, capture_output=True, timeout=30)
    sid = si["sid"].chosen
    [signer] = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"]
                if c.chosen.serial_number == sid["serial_number"].native and c.chosen.issuer == sid["issuer"]]
    return Reply(text(PKI_STATUS), text(FAIL_INFO), text(TRANSACTION_ID), octets(RECIPIENT_NONCE),
                 octets(SENDER_NONCE), text(MESSAGE_TYPE), si["digest_algorithm"]["algorithm"].native, signer,
                 content or None, data)


def openssl_decrypt(envelope: bytes, key, cert: x509.Certificate) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        env, k, c = Path(tmp) / "e.der", Path(tmp) / "k.pem", Path(tmp) / "c.pem"
        env.write_bytes(envelope)
        k.write_bytes(key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        c.write_bytes(cert.public_bytes(Encoding.PEM))
        return subprocess.run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(env),
                               "-inkey", str(k), "-recip", str(c), "-provider", "legacy", "-provider", "default"],
                              check=True, capture_output=True, timeout=30).stdout
