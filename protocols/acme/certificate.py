"""Certificate download (RFC 8555 §7.4.2): leaf then chain, as application/pem-certificate-chain.

Alternate chains (`Link: rel="alternate"`) are offered only when a CA has more than one chain; a gateway CA has
exactly one (its `chain_pem`), so none are linked.
"""

from __future__ import annotations

from aiohttp import web

from . import problems
from .order import load_own
from .wire import authenticate, state

PEM_CHAIN = "application/pem-certificate-chain"


async def certificate(request: web.Request) -> web.Response:
    signed = await authenticate(request)
    st = state(request)
    order = await load_own(st, signed, request.match_info["order"])
    if order.status != "valid" or order.certificate_id is None:
        raise problems.not_found("the order has no certificate (yet)")
    cert = await st.gateway.inventory.get(signed.ctx.actor(order.account_id), order.certificate_id)
    body = cert.certificate_pem.strip() + "\n" + (cert.chain_pem.strip() + "\n" if cert.chain_pem.strip() else "")
    response = web.Response(status=200, body=body.encode())
    response.headers["Content-Type"] = PEM_CHAIN
    return response
