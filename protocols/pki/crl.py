"""CRLs at the CDP URL (RFC 5280 §4.2.1.13): DER as application/pkix-crl (RFC 2585 §4.2), PEM on request.

`GET /crl/{id}.crl` (DER; PEM with `Accept: application/x-pem-file` or `?format=pem`) and `GET /crl/{id}.pem`.
The bytes come from memory; ETag and Last-Modified (thisUpdate) answer conditional requests with 304, and
Cache-Control lets caches keep the CRL until its nextUpdate.
"""

from __future__ import annotations

import time

from aiohttp import web

from enrollment_gateway.appkeys import LOG_FIELDS
from enrollment_gateway.errors import ErrorKind, GatewayError

from .http import gateway, not_modified, split_file, wants_pem

PKIX_CRL = "application/pkix-crl"


async def get_crl(request: web.Request) -> web.Response:
    ca_id, ext = split_file(request.match_info["file"], ("crl", "pem"))
    try:
        crl = await gateway(request).crls.current(ca_id)
    except GatewayError as err:
        if err.kind is ErrorKind.NOT_FOUND:
            raise web.HTTPNotFound(text="no such CA\n") from None
        raise web.HTTPServiceUnavailable(text="CRL not available, try again\n", headers={"Retry-After": "5"}) from None
    pem = ext == "pem" or wants_pem(request)
    etag = crl.etag[:-1] + '-pem"' if pem else crl.etag  # two representations, two validators
    max_age = max(0, int(crl.next_update.timestamp() - time.time()))
    headers = {
        "ETag": etag,
        "Last-Modified": crl.last_modified,
        "Cache-Control": f"public, max-age={max_age}, no-transform",
        "Vary": "Accept",
    }
    request[LOG_FIELDS]["crl_number"] = crl.number
    if not_modified(request, etag, crl.last_modified):
        return web.Response(status=304, headers=headers)
    if pem:
        return web.Response(body=crl.pem, content_type="application/x-pem-file", headers=headers)
    return web.Response(body=crl.der, content_type=PKIX_CRL, headers=headers)


ROUTES = (web.get("/crl/{file}", get_crl),)
