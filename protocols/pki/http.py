"""What the PKI handlers share: path parsing, conditional requests, error text."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from aiohttp import web

from enrollment_gateway.appkeys import GATEWAY
from enrollment_gateway.core.gateway import Gateway

ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
PEM = "application/x-pem-file"


def gateway(request: web.Request) -> Gateway:
    return request.config_dict[GATEWAY]


def split_file(name: str, extensions: tuple[str, ...]) -> tuple[str, str]:
    """"<id>.<ext>" -> (id, ext); 404 for anything else, so odd paths never reach the core."""
    ca_id, dot, ext = name.rpartition(".")
    if not dot or ext not in extensions or not ID.fullmatch(ca_id):
        raise web.HTTPNotFound(text="not found\n")
    return ca_id, ext


def wants_pem(request: web.Request) -> bool:
    return request.query.get("format") == "pem" or PEM in request.headers.get("Accept", "")


def not_modified(request: web.Request, etag: str, last_modified: str) -> bool:
    """RFC 9110 §13.1: If-None-Match wins over If-Modified-Since."""
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = request.headers.get("If-Modified-Since")
    if ims:
        try:
            return parsedate_to_datetime(ims) >= parsedate_to_datetime(last_modified)
        except (TypeError, ValueError):
            return False
    return False
