"""The HTTPS and plain-HTTP listeners, with the slow-client limits aiohttp leaves open.

aiohttp closes a connection that has not completed a request within `keepalive_timeout` of opening or of its
last response (our idle timeout), but a client that drips one header byte at a time holds it that long, the TLS
handshake has asyncio's fixed 60 s, and nothing bounds reading one request's head or body. Here the TLS
handshake and each request head get `header_read_timeout` from their first byte, and each body
`body_read_timeout` from the end of its head. A head past its deadline closes the connection; a body past its
deadline is answered 408 by the front end reading it, then the connection closes.
"""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web
from aiohttp.web_protocol import RequestHandler


class BodyReadTimeout(web.HTTPRequestTimeout, asyncio.TimeoutError):
    """Raised by a body read past its deadline. An HTTPException, so every front end answers it as a 408; also a
    TimeoutError, which is what aiohttp's drain of an unread body after the response expects, not a bug to log."""


class _RequestHandler(RequestHandler):
    """aiohttp's handler plus deadlines for each request's head (armed by its first byte) and body (armed when the
    head is complete without it)."""

    __slots__ = ("_header_read_timeout", "_body_read_timeout", "_head_deadline", "_body_deadline")

    def __init__(self, manager: web.Server, *, header_read_timeout: float, body_read_timeout: float,
                 **kwargs) -> None:
        super().__init__(manager, **kwargs)
        self._header_read_timeout = header_read_timeout
        self._body_read_timeout = body_read_timeout
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: tuple[asyncio.TimerHandle, object] | None = None

    def _between_requests(self) -> bool:
        # aiohttp's own state: start() parks on _waiter while no complete request head has been parsed.
        return self._waiter is not None and not self._waiter.done() and not self._messages

    def data_received(self, data: bytes) -> None:
        if data and self._head_deadline is None and self._between_requests():
            self._head_deadline = self._loop.call_later(self._header_read_timeout, self._head_overdue)
        queued = len(self._messages)
        super().data_received(data)
        if self._head_deadline is not None and not self._between_requests():
            self._head_deadline.cancel()
            self._head_deadline = None
        # A head just parsed whose body has not all arrived with it: its body gets a deadline (the last one only;
        # pipelined bodies arrive in order). A body that completes cancels its deadline here.
        for _, payload in list(self._messages)[queued:]:
            if not payload.is_eof():
                self._cancel_body_deadline()
                self._body_deadline = (self._loop.call_later(self._body_read_timeout, self._body_overdue, payload),
                                       payload)
        if self._body_deadline is not None and self._body_deadline[1].is_eof():
            self._cancel_body_deadline()

    def _head_overdue(self) -> None:
        self._head_deadline = None
        if self._between_requests():
            self.force_close()

    def _body_overdue(self, payload) -> None:
        self._body_deadline = None
        if not payload.is_eof():
            # The handler's next read raises this, so the client gets a 408 (and the log says what happened)
            # rather than a reset read as a server error; the connection closes after that answer.
            payload.set_exception(BodyReadTimeout(text="the request body did not arrive in time\n"))
            self.close()  # no keep-alive: the connection closes once that answer is written

    def _cancel_body_deadline(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline[0].cancel()
            self._body_deadline = None

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        self._cancel_body_deadline()
        super().connection_lost(exc)


class Listener(web.TCPSite):
    """A TCPSite whose connections get the header- and body-read timeouts, the former for the TLS handshake too."""

    __slots__ = ("_header_read_timeout", "_body_read_timeout")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, header_read_timeout: float,
                 body_read_timeout: float, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self._header_read_timeout = header_read_timeout
        self._body_read_timeout = body_read_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with the runner, as TCPSite.start does first
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def protocol() -> RequestHandler:
            # What web.Server.__call__ builds, with our subclass; server._kwargs are the runner's handler options.
            return _RequestHandler(server, loop=loop, header_read_timeout=self._header_read_timeout,
                                   body_read_timeout=self._body_read_timeout, **server._kwargs)

        tls = {"ssl_handshake_timeout": self._header_read_timeout} if self._ssl_context else {}
        self._server = await loop.create_server(protocol, self._host, self._port, ssl=self._ssl_context,
                                                backlog=self._backlog, **tls)
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


def app_runner(app: web.Application, *, idle_timeout: float, shutdown_timeout: float) -> web.AppRunner:
    """The runner both listeners share; aiohttp's keep-alive timer is our idle timeout."""
    return web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout, keepalive_timeout=idle_timeout)
