"""A request aiohttp cannot parse is answered 400 and logged as one info line: no traceback, no header text."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.test_utils import TestServer

from enrollment_gateway.server.logs import ClientFaultFilter

SECRET = "s3cr3t-bearer"


async def _raw(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def test_unparsable_requests_are_one_info_line(caplog):
    server_log = logging.getLogger("aiohttp.server")
    fault_filter = ClientFaultFilter()
    server_log.addFilter(fault_filter)
    app = web.Application()
    app.router.add_get("/", _ok)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        caplog.set_level(logging.DEBUG, logger="aiohttp.server")
        for payload in (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",  # a negative length
            b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET.encode() + b"\x01\r\n\r\n",  # bad byte
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",  # a header past the limit
        ):
            answer = await _raw(server.port, payload)
            assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", answer[:80]
    finally:
        await server.close()
        server_log.removeFilter(fault_filter)
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert records, "aiohttp logged nothing: the test no longer exercises the parser's error path"
    for record in records:
        assert record.levelno == logging.INFO and record.exc_info is None, record.getMessage()
        assert record.getMessage().startswith("malformed HTTP request from 127.0.0.1")
        assert SECRET not in record.getMessage()
