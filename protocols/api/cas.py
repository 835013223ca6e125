"""Certificate authorities: create (root, intermediate, under an external root, import), list, status, PEM downloads."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from enrollment_gateway.algorithms import HashAlgorithm, KeyAlgorithm
from enrollment_gateway.core.access import require_superadmin
from enrollment_gateway.domain import CAStatus
from enrollment_gateway.errors import malformed, not_found

from . import serialize
from .wire import Body, Query, actor, gateway, json_response, read_json, route_path

CA_TYPES = ("root", "intermediate", "external_intermediate", "import")
PEM_CHAIN = "application/pem-certificate-chain"  # RFC 8555 §9.1


async def list_cas(request: web.Request) -> web.Response:
    require_superadmin(actor(request))
    Query(request.query)
    cas = await gateway(request).authorities.list()
    return json_response({"items": [serialize.ca(c) for c in cas]})


async def get_ca(request: web.Request) -> web.Response:
    require_superadmin(actor(request))
    return json_response(serialize.ca(await gateway(request).authorities.get(request.match_info["id"])))


async def create_ca(request: web.Request) -> web.Response:
    body = await read_json(request)
    kind = body.str("type", required=True)
    if kind not in CA_TYPES:
        raise malformed(f"field 'type': expected one of {', '.join(CA_TYPES)}")
    authorities, who = gateway(request).authorities, actor(request)
    name = body.str("name", required=True, max_len=200, allow_empty=False)
    if kind == "import":
        body.only("type", "name", "certificate_pem", "key_pem", "chain_pem", "pkcs12", "password", "hash_algorithm")
        password = body.str("password")
        created = await authorities.import_ca(
            who, name=name, certificate_pem=body.str("certificate_pem", max_len=200_000),
            key_pem=body.str("key_pem", max_len=200_000), chain_pem=body.str("chain_pem", default="", max_len=200_000),
            pkcs12_data=_base64(body, "pkcs12"), password=password.encode() if password else None,
            hash_algorithm=body.enum("hash_algorithm", HashAlgorithm),
        )
        return json_response(serialize.ca(created), status=201)
    body.only("type", "name", "subject", "key_algorithm", "hash_algorithm", "validity_days", "path_length",
              "parent_id")
    common = dict(
        name=name,
        subject=body.subject("subject", required=True),
        key_algorithm=body.enum("key_algorithm", KeyAlgorithm, default=KeyAlgorithm.ECDSA_P256),
        hash_algorithm=body.enum("hash_algorithm", HashAlgorithm),
    )
    validity = body.int("validity_days", minimum=1, maximum=36500)
    path_length = body.int("path_length", minimum=0, maximum=16)
    if validity is not None:
        common["validity_days"] = validity
    if kind == "root":
        if body.has("parent_id"):
            raise malformed("field 'parent_id': a root CA has no parent")
        created = await authorities.create_root(who, path_length=path_length, **common)
    elif kind == "intermediate":
        parent_id = body.str("parent_id", required=True)
        created = await authorities.create_intermediate(
            who, parent_id=parent_id, path_length=path_length if body.has("path_length") else 0, **common)
    else:
        created = await authorities.create_external_intermediate(
            who, path_length=path_length if body.has("path_length") else 0, **common)
    return json_response(serialize.ca(created), status=201)


async def update_ca(request: web.Request) -> web.Response:
    body = (await read_json(request)).only("status")
    status = body.enum("status", CAStatus, required=True)
    updated = await gateway(request).authorities.set_status(actor(request), request.match_info["id"], status)
    return json_response(serialize.ca(updated))


async def upload_certificate(request: web.Request) -> web.Response:
    """Complete an intermediate whose CSR an offline root signed."""
    body = (await read_json(request)).only("certificate_pem", "chain_pem")
    updated = await gateway(request).authorities.upload_certificate(
        actor(request), request.match_info["id"], body.str("certificate_pem", required=True, max_len=200_000),
        body.str("chain_pem", default="", max_len=200_000),
    )
    return json_response(serialize.ca(updated))


async def get_csr(request: web.Request) -> web.Response:
    require_superadmin(actor(request))
    ca = await gateway(request).authorities.get(request.match_info["id"])
    if not ca.csr_pem:
        raise not_found("CSR")
    return web.Response(text=ca.csr_pem, content_type="application/pkcs10")


async def get_certificate(request: web.Request) -> web.Response:
    """The CA certificate (and with chain=true the issuers above it); public material, any authenticated caller."""
    chain = Query(request.query, "chain").bool("chain", default=False)
    ca = await gateway(request).authorities.get(request.match_info["id"])
    if not ca.certificate_pem:
        raise not_found("CA certificate")
    return web.Response(text=ca.certificate_pem + (ca.chain_pem if chain else ""), content_type=PEM_CHAIN)


def _base64(body: Body, key: str) -> bytes | None:
    text = body.str(key, max_len=400_000)
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise malformed(f"field '{key}': expected base64") from None


ROUTES = (
    web.get("/cas", list_cas),
    web.post("/cas", create_ca),
    web.get(route_path("/cas/{id}"), get_ca),
    web.patch(route_path("/cas/{id}"), update_ca),
    web.get(route_path("/cas/{id}/csr"), get_csr),
    web.get(route_path("/cas/{id}/certificate"), get_certificate),
    web.post(route_path("/cas/{id}/certificate"), upload_certificate),
)
