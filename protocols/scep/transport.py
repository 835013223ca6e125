"""SCEP over HTTP (RFC 8894 §4.1): the pkiMessage from a POST body or a GET `message` parameter.

GET messages are decoded tolerantly because real clients differ: the query is already percent-decoded; a `+`
that became a space comes back; line breaks (`%0A` from base64 encoders that wrap) go; URL-safe base64 and
missing padding are accepted. Every read is bounded before it is decoded.
"""

from __future__ import annotations

import base64
import binascii
import re

from aiohttp import web

from .der import MAX_MESSAGE_BYTES

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class BadTransport(ValueError):
    """No pkiMessage can be read: HTTP 400 (or 413 when `too_large`)."""

    def __init__(self, detail: str, *, too_large: bool = False) -> None:
        super().__init__(detail)
        self.too_large = too_large


def decode_get_message(text: str) -> bytes:
    if len(text) > MAX_MESSAGE_BYTES * 4 // 3 + 1024:
        raise BadTransport("message too large", too_large=True)
    cleaned = "".join(text.replace(" ", "+").split())  # spaces were '+'; other whitespace is line wrapping
    cleaned = cleaned.replace("-", "+").replace("_", "/").rstrip("=")
    cleaned += "=" * (-len(cleaned) % 4)
    if not _BASE64.fullmatch(cleaned):
        raise BadTransport("the message parameter is not base64")
    try:
        data = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise BadTransport("the message parameter is not base64") from None
    if not data:
        raise BadTransport("the message parameter is empty")
    return data


async def read_message(request: web.Request) -> bytes:
    """The pkiMessage of a PKIOperation, POST (any Content-Type) or GET."""
    if request.method == "GET":
        message = request.query.get("message")
        if message is None:
            raise BadTransport("PKIOperation over GET needs a message parameter")
        return decode_get_message(message)
    if request.content_length is not None and request.content_length > MAX_MESSAGE_BYTES:
        raise BadTransport("message too large", too_large=True)
    chunks, size = [], 0
    while True:  # bounded: stops at EOF or once past the limit
        chunk = await request.content.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_MESSAGE_BYTES:
            raise BadTransport("message too large", too_large=True)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise BadTransport("empty PKIOperation body")
    if data[:1] != b"\x30":  # some clients POST the base64 text they would have sent over GET
        return decode_get_message(data.decode("ascii", "replace"))
    return data
