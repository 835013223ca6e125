"""CRLs at the CDP URL (RFC 5280 §4.2.1.13): DER as application/pkix-crl (RFC 2585 §4.2), PEM on request.

`GET /crl/{id}.crl` (DER; PEM with `Accept: application/x-pem-file` or `?format=pem`) and `GET /crl/{id}.pem`.
The bytes come from memory; ETag and Last-Modified (thisUpdate) answer conditional requests with 304.
Cache-Control is `no-cache`: a cache may store the CRL but must revalidate it on every use (a cheap 304 while it
is current), because a revocation supersedes it at once, long before its nextUpdate, and a cache keeping the old
one until then would un-revoke the certificate for hours. Expires still tells a client when it runs out.
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

from aiohttp import web

from enrollment_gateway.appkeys import log_fields
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
    headers = {
        "ETag": etag,
        "Last-Modified": crl.last_modified,
        "Expires": format_datetime(crl.next_update.astimezone(dt.timezone.utc), usegmt=True),
        "Cache-Control": "public, no-cache, no-transform",
        "Vary": "Accept",
    }
    log_fields(request)["crl_number"] = crl.number
    if not_modified(request, etag, crl.last_modified):
        return web.Response(status=304, headers=headers)
    if pem:
        return web.Response(body=crl.pem, content_type="application/x-pem-file", headers=headers)
    return web.Response(body=crl.der, content_type=PKIX_CRL, headers=headers)


ROUTES = (web.get("/crl/{file}", get_crl),)
