"""Certificates: issue through an endpoint, list with filters, details, metadata, PEM and PKCS#12 export, latest
bundle, and removal from the inventory.

Revocation (`POST /certificates/{id}/revoke`) belongs to the revocation work: it goes in `revocation.py` beside this
module with its own ROUTES, added to `ROUTE_MODULES` in `__init__.py` and to `openapi.py`.
"""

from __future__ import annotations

from aiohttp import web

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.core.inventory import Query as InventoryQuery
from enrollment_gateway.core.issuance import IssuanceRequest, Issued
from enrollment_gateway.crypto.names import parse_san
from enrollment_gateway.domain import CertificateStatus, EnrollmentMethod

from . import serialize
from .wire import API_PREFIX, Query, actor, gateway, json_response, no_content, read_json, route_path

PEM_CHAIN = "application/pem-certificate-chain"  # RFC 8555 §9.1: certificate then issuers, no key
PEM_FILE = "application/x-pem-file"  # what we send once a private key is in the bundle
PKCS12 = "application/x-pkcs12"
MAX_LIMIT = 500


async def issue(request: web.Request) -> web.Response:
    """201 with the certificate, or 202 with the pending request when the profile wants approval."""
    body = (await read_json(request)).only("csr", "key_algorithm", "subject", "sans", "ttl", "not_before",
                                           "not_after", "metadata", "replaces")
    sans = body.str_list("sans", max_items=500)
    gw = gateway(request)
    outcome = await gw.issuance.issue(IssuanceRequest(
        actor=actor(request),
        endpoint_id=request.match_info["endpoint_id"],
        protocol=EnrollmentMethod.API,
        csr=body.str("csr", max_len=gw.config.issuance.max_csr_bytes * 2),
        managed_key=body.enum("key_algorithm", KeyAlgorithm),
        subject=body.subject("subject"),
        sans=[parse_san(s) for s in sans] if sans is not None else None,
        ttl_seconds=body.duration("ttl"),
        not_before=body.datetime("not_before"),
        not_after=body.datetime("not_after"),
        metadata=body.str_map("metadata") or {},
        replaces_id=body.str("replaces", max_len=64),
    ))
    if isinstance(outcome, Issued):
        out = serialize.certificate(outcome.certificate, gw.clock.now(), pem=True)
        return json_response(out, status=201,
                             headers={"Location": f"{API_PREFIX}/certificates/{outcome.certificate.id}"})
    return json_response(serialize.request(outcome.request), status=202,
                         headers={"Location": f"{API_PREFIX}/requests/{outcome.request.id}"})


async def list_certificates(request: web.Request) -> web.Response:
    q = Query(request.query, "application_id", "status", "profile_id", "q", "expiring_within_days", "metadata",
              "limit", "offset")
    limit, offset = q.int("limit", default=50, minimum=1, maximum=MAX_LIMIT), q.int("offset", default=0)
    gw = gateway(request)
    certs = await gw.inventory.list(actor(request), InventoryQuery(
        application_id=q.str("application_id"), status=q.enum("status", CertificateStatus),
        profile_id=q.str("profile_id"), text=q.str("q"),
        expiring_within_days=q.int("expiring_within_days", maximum=36500), metadata=q.pairs("metadata"),
        limit=limit, offset=offset,
    ))
    now = gw.clock.now()
    return json_response(serialize.page([serialize.certificate(c, now) for c in certs], limit, offset))


async def get_certificate(request: web.Request) -> web.Response:
    gw = gateway(request)
    details = await gw.inventory.details(actor(request), request.match_info["id"])
    return json_response(serialize.certificate_details(details, gw.clock.now()))


async def update_certificate(request: web.Request) -> web.Response:
    """Replace the certificate's metadata (the only thing about an issued certificate that may change)."""
    body = (await read_json(request)).only("metadata")
    metadata = body.str_map("metadata", required=True)
    gw = gateway(request)
    cert = await gw.inventory.update_metadata(actor(request), request.match_info["id"], metadata)
    return json_response(serialize.certificate(cert, gw.clock.now()))


async def delete_certificate(request: web.Request) -> web.Response:
    """Forget the certificate (inventory only: it stays valid until it expires or is revoked)."""
    await gateway(request).inventory.delete(actor(request), request.match_info["id"])
    return no_content()


async def export_pem(request: web.Request) -> web.Response:
    q = Query(request.query, "include_key", "chain")
    include_key = q.bool("include_key", default=False)
    text = await gateway(request).inventory.export_pem(actor(request), request.match_info["id"],
                                                       include_key=include_key, chain=q.bool("chain", default=True))
    return web.Response(text=text, content_type=PEM_FILE if include_key else PEM_CHAIN)


async def export_pkcs12(request: web.Request) -> web.Response:
    """Key, certificate and chain in one password-protected PKCS#12 (RFC 7292), for managed keys."""
    body = (await read_json(request)).only("password", "alias")
    data = await gateway(request).inventory.export_pkcs12(
        actor(request), request.match_info["id"], password=body.str("password", default="", max_len=1024),
        alias=body.str("alias", max_len=200))
    return web.Response(body=data, content_type=PKCS12,
                        headers={"Content-Disposition": f'attachment; filename="{request.match_info["id"]}.p12"'})


async def latest_bundle(request: web.Request) -> web.Response:
    """The newest active certificate of an application-and-profile, with its chain: what a deploy job fetches."""
    gw = gateway(request)
    cert = await gw.inventory.latest_active(actor(request), request.match_info["id"], request.match_info["profile_id"])
    return json_response(serialize.certificate(cert, gw.clock.now(), pem=True))


ROUTES = (
    web.post(route_path("/endpoints/{endpoint_id}/certificates"), issue),
    web.get("/certificates", list_certificates),
    web.get(route_path("/certificates/{id}"), get_certificate),
    web.patch(route_path("/certificates/{id}"), update_certificate),
    web.delete(route_path("/certificates/{id}"), delete_certificate),
    web.get(route_path("/certificates/{id}/pem"), export_pem),
    web.post(route_path("/certificates/{id}/pkcs12"), export_pkcs12),
    web.get(route_path("/applications/{id}/profiles/{profile_id}/latest"), latest_bundle),
)
