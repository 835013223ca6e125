"""CA certificates at the AIA caIssuers URL (RFC 5280 §4.2.2.1): DER as application/pkix-cert, or PEM."""

from __future__ import annotations

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from enrollment_gateway.errors import GatewayError

from .http import gateway, split_file

PKIX_CERT = "application/pkix-cert"  # RFC 2585 §4.1


async def ca_certificate(request: web.Request) -> web.Response:
    ca_id, ext = split_file(request.match_info["file"], ("crt", "cer", "der", "pem"))
    try:
        ca = await gateway(request).authorities.get(ca_id)
    except GatewayError:
        raise web.HTTPNotFound(text="no such CA\n") from None
    if not ca.certificate_pem:
        raise web.HTTPNotFound(text="this CA has no certificate yet\n")
    headers = {"Cache-Control": "public, max-age=86400"}
    if ext == "pem":
        return web.Response(body=ca.certificate_pem.encode(), content_type="application/x-pem-file", headers=headers)
    der = x509.load_pem_x509_certificate(ca.certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    return web.Response(body=der, content_type=PKIX_CERT, headers=headers)


ROUTES = (web.get("/ca/{file}", ca_certificate),)
