"""/serverkeygen (RFC 7030 §4.4): the gateway generates the key, keeps it wrapped like every managed key (the API
can export it later), and answers multipart/mixed with the PKCS#8 key and the certificate (§4.4.2).

The key travels in the clear inside this TLS session. A CSR that asks for the key to be encrypted (the §4.4.1.2
DecryptKeyIdentifier or AsymmetricDecryptKeyIdentifier attributes) is refused with 501 rather than answered in the
clear: a request we cannot satisfy is refused, never quietly altered.
"""

from __future__ import annotations

import secrets

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from enrollment_gateway.core.issuance import Pending
from enrollment_gateway.errors import ErrorKind, GatewayError

from .auth import authenticate
from .enroll import _check_declared_size, _csr, pending_response
from .labels import endpoint_and_settings
from .wire import CERTS_ONLY, PKCS8, base64_lines, certs_only, state

# RFC 7030 §4.4.1.2: id-aa-decryptKeyID and id-aa-asymmDecryptKeyID.
_KEY_ENCRYPTION_ATTRIBUTES = {
    x509.ObjectIdentifier("1.2.840.113549.1.9.16.2.37"): "DecryptKeyIdentifier",
    x509.ObjectIdentifier("1.2.840.113549.1.9.16.2.54"): "AsymmetricDecryptKeyIdentifier",
}


def _encryption_requested(der: bytes) -> str | None:
    """The name of a §4.4.1.2 attribute the CSR carries; None if none (or if the CSR does not parse: the core
    refuses it with the precise reason)."""
    try:
        csr = x509.load_der_x509_csr(der)
        for attribute in csr.attributes:
            if attribute.oid in _KEY_ENCRYPTION_ATTRIBUTES:
                return _KEY_ENCRYPTION_ATTRIBUTES[attribute.oid]
    except Exception:  # noqa: BLE001 - any unreadable CSR: the core refuses it with the precise reason
        return None
    return None


async def serverkeygen(request: web.Request) -> web.Response:
    endpoint, settings = await endpoint_and_settings(request)
    _check_declared_size(request)
    if not settings.serverkeygen:
        raise GatewayError(ErrorKind.FORBIDDEN, "server-side key generation is not enabled for this EST label")
    principal, facts = await authenticate(request, endpoint, settings)
    der = await _csr(request)
    wanted = _encryption_requested(der)
    if wanted is not None:
        return web.Response(status=501, text=f"the CSR asks for the generated key to be encrypted ({wanted}, RFC "
                                             "7030 §4.4.1.2), which this gateway does not offer; send the CSR "
                                             "without it to receive the key over this TLS session\n",
                            content_type="text/plain")
    outcome = await state(request).enrollment.serverkeygen(principal, der, tls_unique=facts.tls_unique)
    if isinstance(outcome, Pending):
        return pending_response(request, outcome)
    key_der = outcome.private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
    leaf = x509.load_pem_x509_certificate(outcome.issued.certificate.certificate_pem.encode())
    return multipart_response([(PKCS8, key_der), (CERTS_ONLY, certs_only([leaf]))])


def multipart_response(parts: list[tuple[str, bytes]]) -> web.Response:
    """multipart/mixed (RFC 2046 §5.1) of base64 parts, with Content-Length; the boundary never occurs in base64."""
    boundary = "est-" + secrets.token_hex(12)
    body = b""
    for content_type, der in parts:
        body += (f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                 .encode() + base64_lines(der))
    body += f"--{boundary}--\r\n".encode()
    response = web.Response(status=200, body=body)
    response.headers["Content-Type"] = f"multipart/mixed; boundary={boundary}"
    return response
