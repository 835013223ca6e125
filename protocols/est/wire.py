"""EST on the wire (RFC 7030 §4, RFC 8951): media types, base64 bodies in and out, certs-only CMS, the TLS facts.

RFC 8951 §3: bodies are base64 of DER whatever Content-Transfer-Encoding says, so the header is ignored on input
and always sent (`base64`) on output; line breaks are allowed in and written every 64 characters out.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from dataclasses import dataclass
from typing import Iterable

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from enrollment_gateway.appkeys import GATEWAY
from enrollment_gateway.config import EstSettings
from enrollment_gateway.core.est_credentials import EstCredentials
from enrollment_gateway.core.est_enrollment import EstEnrollment
from enrollment_gateway.errors import ErrorKind, GatewayError

# RFC 7030 §4.1.3, with the exact spacing RFC 5751 §3.2.2 and the RFC's examples use.
CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only"
PKCS10 = "application/pkcs10"
CSRATTRS = "application/csrattrs"
PKCS8 = "application/pkcs8"
SERVER_GENERATED_KEY = "application/pkcs7-mime; smime-type=server-generated-key"

_WHITESPACE = re.compile(rb"\s+")
_PEM_CSR = re.compile(rb"-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----(.*?)-----END (?:NEW )?CERTIFICATE REQUEST-----",
                      re.S)


@dataclass
class EstState:
    """The EST front end's per-process services, opened in `mount`'s cleanup_ctx."""

    settings: EstSettings
    credentials: EstCredentials
    enrollment: EstEnrollment


EST: web.AppKey[EstState] = web.AppKey("est", EstState)


def state(request: web.Request) -> EstState:
    return request.config_dict[EST]


def gateway(request: web.Request):
    return request.config_dict[GATEWAY]


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, at most `limit` bytes: TOO_LARGE before reading a declared oversize body, or once past it."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise GatewayError(ErrorKind.TOO_LARGE, f"the body is larger than {limit} bytes")
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise GatewayError(ErrorKind.TOO_LARGE, f"the body is larger than {limit} bytes")
    return body


def require_media_type(request: web.Request, expected: str) -> None:
    """RFC 7030 §4.2.1: simpleenroll and friends carry application/pkcs10; anything else is 415."""
    if request.content_type.lower() != expected:
        given = request.headers.get("Content-Type") or "none"
        raise GatewayError(ErrorKind.UNSUPPORTED_MEDIA_TYPE,
                           f"the body must be {expected} (base64 DER, RFC 7030 §4.2.1), not {given}")


def decode_pkcs10(body: bytes) -> bytes:
    """DER of a base64 (RFC 8951: with or without line breaks) or PEM-armoured CSR; MALFORMED otherwise."""
    if not body.strip():
        raise GatewayError(ErrorKind.MALFORMED, "the body is empty; it must be a base64-encoded PKCS#10 CSR")
    pem = _PEM_CSR.search(body)
    text = pem.group(1) if pem else body
    try:
        der = base64.b64decode(_WHITESPACE.sub(b"", text), validate=True)
    except (binascii.Error, ValueError):
        raise GatewayError(ErrorKind.MALFORMED,
                           "the body is not base64: RFC 7030 §4.2.1 wants the DER CSR base64-encoded") from None
    if der[:1] != b"\x30":  # every DER CSR is a SEQUENCE
        raise GatewayError(ErrorKind.BAD_CSR, "the body's base64 does not decode to a DER PKCS#10 CSR")
    return der


def base64_lines(der: bytes) -> bytes:
    """Base64 with a line break every 64 characters, as the RFC's examples and OpenSSL write it."""
    encoded = base64.b64encode(der)
    return b"".join(encoded[i:i + 64] + b"\r\n" for i in range(0, len(encoded), 64))


def base64_response(der: bytes, content_type: str, status: int = 200) -> web.Response:
    """A base64 body with Content-Transfer-Encoding and Content-Length (aiohttp never chunks a bytes body)."""
    response = web.Response(status=status, body=base64_lines(der),
                            headers={"Content-Transfer-Encoding": "base64"})
    response.headers["Content-Type"] = content_type  # set raw: aiohttp would respace the parameter
    return response


def certs_only(certs: Iterable[x509.Certificate]) -> bytes:
    """A CMS SignedData with no signers and the given certificates (RFC 5751 certs-only, RFC 7030 §4.1.3)."""
    return pkcs7.serialize_certificates(list(certs), serialization.Encoding.DER)


@dataclass(frozen=True)
class TlsFacts:
    """What the TLS session (or a trusted proxy) says about the client."""

    client_certificate: x509.Certificate | None
    tls_unique: bytes | None  # only on a direct TLS 1.2 session: tls-unique is undefined for TLS 1.3
    via_proxy: bool = False


def tls_facts(request: web.Request, settings: EstSettings, trusted_proxy: bool) -> TlsFacts:
    """The client certificate from the TLS session, or from the configured header of a trusted proxy."""
    header = settings.client_certificate_header
    if header and trusted_proxy:
        value = request.headers.get(header)
        return TlsFacts(_certificate_from_header(value) if value else None, None, via_proxy=True)
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, (ssl.SSLObject, ssl.SSLSocket)):
        return TlsFacts(None, None)
    der = ssl_object.getpeercert(binary_form=True)
    cert = None
    if der:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise GatewayError(ErrorKind.UNAUTHENTICATED, "the TLS client certificate cannot be parsed") from None
    unique = ssl_object.get_channel_binding("tls-unique") if ssl_object.version() == "TLSv1.2" else None
    return TlsFacts(cert, unique)


def _certificate_from_header(value: str) -> x509.Certificate:
    """URL-encoded PEM (nginx's $ssl_client_escaped_cert, Envoy's XFCC Cert=), plain PEM, or base64 DER."""
    from urllib.parse import unquote

    if len(value) > 16 * 1024:
        raise GatewayError(ErrorKind.UNAUTHENTICATED, "the proxy's client certificate header is too large")
    text = unquote(value).strip()
    try:
        if "-----BEGIN" in text:
            # Some proxies fold the PEM onto one line with spaces where the line breaks were.
            head, _, rest = text.partition("-----BEGIN CERTIFICATE-----")
            body, _, _ = rest.partition("-----END CERTIFICATE-----")
            der = base64.b64decode(re.sub(r"\s+", "", body), validate=True)
        else:
            der = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
        return x509.load_der_x509_certificate(der)
    except (ValueError, binascii.Error):
        raise GatewayError(ErrorKind.UNAUTHENTICATED,
                           "the proxy's client certificate header does not hold a certificate") from None
