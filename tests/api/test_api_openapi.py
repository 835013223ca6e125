"""The OpenAPI document describes every route the API serves, and is a valid OpenAPI 3.1 document."""

from __future__ import annotations

from aiohttp import web
from openapi_spec_validator import validate

from protocols.api import API_PREFIX, create_api_app

from api_helpers import Api


def _routes(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        if route.method == "HEAD":  # aiohttp adds HEAD beside every GET
            continue
        path = route.resource.canonical
        out.add((route.method.lower(), path.removeprefix(API_PREFIX)))
    return out


async def test_document_is_public_valid_and_complete(api: Api, gateway) -> None:
    reply = await api.as_(None).get("/openapi.json")
    assert reply.status == 200
    document = reply.json
    validate(document)
    described = {(method, path) for path, ops in document["paths"].items() for method in ops}
    served = _routes(create_api_app(gateway))
    assert served, "the router has no routes?"
    assert served - described == set(), "routes missing from openapi.json"
    assert described - served == set(), "openapi.json describes routes that do not exist"


async def test_every_operation_documents_problems_and_ids(api: Api) -> None:
    document = (await api.ok("GET", "/openapi.json"))
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["responses"]["default"]["content"]["application/problem+json"], (method, path)
            placeholders = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert placeholders == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}, (method, path)
