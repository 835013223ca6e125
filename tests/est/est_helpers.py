"""Helpers for the EST tests: a client that speaks EST over real TLS (with or without a client certificate),
small CAs standing in for a device manufacturer, CSRs, and readers for certs-only CMS and multipart answers."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PKCS10 = "application/pkcs10"


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def pem(obj) -> bytes:
    if isinstance(obj, (x509.Certificate, x509.CertificateSigningRequest)):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class Issuer:
    """A CA outside the gateway (a manufacturer's IDevID CA, or one nobody trusts)."""

    key: Any
    cert: x509.Certificate

    @classmethod
    def create(cls, cn: str) -> "Issuer":
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def device(self, cn: str, *, days: int = 30, eku=ExtendedKeyUsageOID.CLIENT_AUTH) -> tuple[Any, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        return key, builder.sign(self.key, hashes.SHA256())


def csr(cn: str | None, *, dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), key=None,
        challenge_password: str | None = None, attributes: tuple = ()) -> tuple[x509.CertificateSigningRequest, Any]:
    import ipaddress

    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(name(cn) if cn else x509.Name([]))
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if challenge_password is not None:
        builder = builder.add_attribute(x509.oid.AttributeOID.CHALLENGE_PASSWORD, challenge_password.encode())
    for oid, value in attributes:
        builder = builder.add_attribute(oid, value)
    return builder.sign(key, hashes.SHA256()), key


def b64(req: x509.CertificateSigningRequest, *, line_breaks: bool = True) -> bytes:
    der = req.public_bytes(serialization.Encoding.DER)
    return base64.encodebytes(der) if line_breaks else base64.b64encode(der)


def certs_from(body: bytes) -> list[x509.Certificate]:
    """The certificates of a base64 certs-only CMS answer."""
    return pkcs7.load_der_pkcs7_certificates(base64.b64decode(body))


def multipart(reply: "Reply") -> list[tuple[str, bytes]]:
    """(Content-Type, decoded body) of each part of a multipart/mixed answer."""
    raw = f"Content-Type: {reply.headers['Content-Type']}\r\n\r\n".encode() + reply.body
    message = email.message_from_bytes(raw, policy=email.policy.compat32)  # compat32 keeps headers as sent
    return [(part["Content-Type"], part.get_payload(decode=True)) for part in message.get_payload()]


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def __repr__(self) -> str:
        return f"Reply({self.status}, {dict(self.headers)!r}, {self.body[:400]!r})"


class EstClient:
    """EST over real TLS to a test server; every call is a new connection, with the client certificate given."""

    def __init__(self, base_url: str, trust: Path, tmp: Path, label: str) -> None:
        self.base_url, self.trust, self.tmp, self.label = base_url, trust, tmp, label
        self._n = 0

    def ssl_context(self, cert: x509.Certificate | None = None, key=None, *, tls12: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.trust))
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if cert is not None:
            self._n += 1
            cert_path, key_path = self.tmp / f"client{self._n}.pem", self.tmp / f"client{self._n}.key"
            cert_path.write_bytes(pem(cert))
            key_path.write_bytes(pem(key))
            ctx.load_cert_chain(cert_path, key_path)
        return ctx

    async def call(self, method: str, operation: str, body: bytes | None = None, *, label: str | None = None,
                   content_type: str | None = PKCS10, auth: tuple[str, str] | None = None, cert=None, key=None,
                   headers: dict | None = None) -> Reply:
        h = dict(headers or {})
        if body is not None and content_type is not None:
            h["Content-Type"] = content_type
        path = f"/.well-known/est/{label if label is not None else self.label}/{operation}".replace("//", "/")
        if auth:
            h["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        connector = aiohttp.TCPConnector(ssl=self.ssl_context(cert, key))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.request(method, self.base_url + path, data=body, headers=h) as resp:
                return Reply(resp.status, resp.headers, await resp.read())

    async def enroll(self, body: bytes, **kw) -> Reply:
        return await self.call("POST", "simpleenroll", body, **kw)
