"""Structured JSON logs: one line per request (Boulder's RequestEvent), never a secret."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import sys
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..appkeys import ACTOR, LOG_FIELDS

ACCESS = logging.getLogger("enrollment_gateway.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        event.update(getattr(record, "event", {}))
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str)


class ClientFaultFilter(logging.Filter):
    """aiohttp logs a request it cannot parse (`Content-Length: -1`, a 20 KB header) as an error with a traceback,
    although the client already got its 400: anyone could flood the log and page an operator. Such a record becomes
    one info line naming the fault's class and status, never its text, which may quote a header (a bearer token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "malformed HTTP request from %s: %s (%s)", (remote, type(exc).__name__, exc.code)
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(level: str) -> logging.handlers.MemoryHandler:
    """JSON lines on stderr, written in batches: call `flush()` on the returned handler, as `flush_logs` does.

    A write and flush per line cost more than answering a cached OCSP request, so lines gather in memory and go
    out together; warnings and errors go out at once, and `flush_logs` bounds how long an access line waits.
    """
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter())
    batched = logging.handlers.MemoryHandler(capacity=1024, flushLevel=logging.WARNING, target=stream,
                                             flushOnClose=True)
    root = logging.getLogger()
    root.handlers[:] = [batched]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").disabled = True  # replaced by our one-line event
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientFaultFilter) for f in server_log.filters):
        server_log.addFilter(ClientFaultFilter())
    return batched


async def flush_logs(handler: logging.Handler, every_seconds: float = 0.2) -> None:
    """Run until cancelled: flush batched log lines so none waits longer than `every_seconds`."""
    try:
        while True:
            await asyncio.sleep(every_seconds)
            handler.flush()
    finally:
        handler.flush()


@web.middleware
async def request_log(request: web.Request, handler):
    """Handlers may add fields to request[LOG_FIELDS]; the query string is left out because it may carry secrets."""
    fields = request.setdefault(LOG_FIELDS, {})
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        actor = request.get(ACTOR)
        ACCESS.info("request", extra={"event": {
            "method": request.method, "path": request.path, "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 2), "remote": request.remote,
            "tls": request.secure, "actor": getattr(actor, "id", None), **fields,
        }})
