"""The label in /.well-known/est/<label>/<operation> (RFC 7030 §3.2.2) is the endpoint id; without a label the
configured default endpoint answers, if there is one."""

from __future__ import annotations

import re

from aiohttp import web

from enrollment_gateway.core.est_settings import EstEndpointSettings
from enrollment_gateway.domain import Endpoint
from enrollment_gateway.errors import ErrorKind, GatewayError

from .wire import state

LABEL = re.compile(r"[0-9A-Za-z_-]{1,64}")

# The Basic realm of the request's endpoint, once known: the error middleware challenges with it on a 401.
REALM: web.RequestKey[str] = web.RequestKey("est_realm", str)


def realm_for(endpoint: Endpoint) -> str:
    return f"EST {endpoint.id}"


async def endpoint_and_settings(request: web.Request) -> tuple[Endpoint, EstEndpointSettings]:
    st = state(request)
    label = request.match_info.get("label") or st.settings.default_endpoint
    if not label:
        raise GatewayError(ErrorKind.NOT_FOUND, "no default EST label is configured on this gateway: use "
                                                "/.well-known/est/<label>/<operation>")
    if not LABEL.fullmatch(label):
        raise GatewayError(ErrorKind.NOT_FOUND, "EST label not found")
    endpoint, settings = await st.credentials.endpoint(label)
    if settings.auth.accepts_basic:
        request[REALM] = realm_for(endpoint)
    return endpoint, settings
