"""Certificate download (RFC 8555 §7.4.2): leaf then chain, as application/pem-certificate-chain.

Alternate chains (`Link: rel="alternate"`) are offered only when a CA has more than one chain; a gateway CA has
exactly one (its `chain_pem`), so none are linked. The root is sent only where the profile's ACME settings say
`include_root = true`.
"""

from __future__ import annotations

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from . import problems
from .order import load_own
from .wire import authenticate, state

PEM_CHAIN = "application/pem-certificate-chain"


def _self_signed(cert: x509.Certificate) -> bool:
    """Issued by itself and verifiable with its own key: a root (a self-issued intermediate fails the signature)."""
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def chain_pem(certificate_pem: str, chain: str, *, include_root: bool) -> str:
    """Leaf then chain; the self-signed root left out unless asked for.

    A relying party must already trust the root, so sending it only costs bytes (RFC 8446 §4.4.2 lets a server omit
    it, and public ACME CAs do); an endpoint whose clients want the whole path sets `include_root`.
    """
    certs = [certificate_pem.strip()]
    if chain.strip():
        for cert in x509.load_pem_x509_certificates(chain.encode()):
            if include_root or not _self_signed(cert):
                certs.append(cert.public_bytes(serialization.Encoding.PEM).decode().strip())
    return "\n".join(certs) + "\n"


async def certificate(request: web.Request) -> web.Response:
    signed = await authenticate(request)
    st = state(request)
    order = await load_own(st, signed, request.match_info["order"])
    if order.status != "valid" or order.certificate_id is None:
        raise problems.not_found("the order has no certificate (yet)")
    cert = await st.gateway.inventory.get(signed.ctx.actor(order.account_id), order.certificate_id)
    body = chain_pem(cert.certificate_pem, cert.chain_pem, include_root=signed.ctx.include_root)
    response = web.Response(status=200, body=body.encode())
    response.headers["Content-Type"] = PEM_CHAIN
    return response
