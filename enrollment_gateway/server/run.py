"""`enrollment-gateway serve`: open the gateway, start both listeners, stop gracefully on SIGTERM.

Everything that can go wrong before the listeners are up (settings, the database, the key, a port in use) ends
as one StartupError line from the CLI and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import signal
import ssl
import sys

from aiohttp import web

from ..config import Config, StartupError, check_public_urls
from ..core.bootstrap import check_stamped_urls, open_gateway
from ..storage.locks import exclusive
from .app import create_app
from .demo import ensure_demo
from .listener_tls import listener_ssl_context
from .listeners import Listener, app_runner
from .logs import configure_logging, flush_logs

log = logging.getLogger("enrollment_gateway")


async def serve(config: Config, *, demo: bool = False) -> None:
    check_public_urls(config)
    log_handler = configure_logging(config.logging.level)
    flusher = asyncio.create_task(flush_logs(log_handler))
    try:
        gateway = await open_gateway(config)
        try:
            await _serve(config, gateway, demo)
        finally:
            await gateway.close()
    finally:
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)


async def _serve(config: Config, gateway, demo: bool) -> None:
    runner: web.AppRunner | None = None
    try:
        try:
            warning = await check_stamped_urls(gateway)
            info = await ensure_demo(gateway) if demo else None
            if demo:  # another instance may have made the demo's CAs meanwhile: they must agree with us too
                warning = await check_stamped_urls(gateway)
            ssl_ctx, trust_path = await _listener_tls(gateway, info)
            runner = app_runner(create_app(config, gateway=gateway), idle_timeout=config.server.idle_timeout_seconds,
                                shutdown_timeout=config.server.shutdown_timeout_seconds)
            await runner.setup()
            for label, flag, port, ctx in (("HTTPS", "https", config.server.https_port, ssl_ctx),
                                           ("plain-HTTP", "http", config.server.http_port, None)):
                await _listen(runner, config, label, flag, port, ctx)
        except StartupError:
            raise
        except Exception as exc:
            # Whatever else stops the start is still reported in one line; the traceback goes to the debug log.
            log.debug("start-up failed", exc_info=True)
            raise StartupError(f"unexpected {type(exc).__name__} while starting: {exc}") from None
        if warning:
            print(warning, file=sys.stderr, flush=True)
            log.warning("public URLs differ from those in CA certificates", extra={"event": {"detail": warning}})
        _announce(config, info, trust_path)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("listening", extra={"event": {"https": config.public_https_url, "http": config.public_http_url}})
        await stop.wait()
        log.info("shutting down")
    finally:
        if runner is not None:
            await runner.cleanup()


async def _listener_tls(gateway, info: dict | None):
    server = gateway.config.server
    try:
        # Instances starting together would each issue the listener certificate (and maybe its CA): one at a time.
        async with exclusive(gateway.db, "listener-setup"):
            return await listener_ssl_context(gateway, ca_id=info["issuing_ca_id"] if info else None)
    except (OSError, ssl.SSLError, ValueError) as exc:
        if server.tls_cert_file:
            raise StartupError(f"server.tls_cert_file {server.tls_cert_file} / server.tls_key_file "
                               f"{server.tls_key_file or '(in the same file)'}: {exc}") from None
        raise


async def _listen(runner: web.AppRunner, config: Config, label: str, flag: str, port: int,
                  ssl_ctx: ssl.SSLContext | None) -> None:
    host = config.server.host
    try:
        await Listener(runner, host, port, header_read_timeout=config.server.header_read_timeout_seconds,
                       body_read_timeout=config.server.body_read_timeout_seconds, ssl_context=ssl_ctx).start()
    except OSError as exc:
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            why = "the port is already in use (another gateway, or another program, holds it)"
        elif exc.errno == errno.EACCES:
            why = "permission denied (ports below 1024 need privileges)"
        else:
            why = exc.strerror or str(exc)
        raise StartupError(f"cannot listen on {where} for the {label} listener: {why}; choose another with "
                           f"--{flag}-port or server.{flag}_port, or another address with server.host") from None


def _announce(config: Config, info: dict | None, trust_path) -> None:
    if info is None:
        print(f"enrollment gateway listening on {config.public_https_url} (API: {config.public_https_url}/api/v1) "
              f"and {config.public_http_url}; the HTTPS listener is anchored by {trust_path}", flush=True)
        return
    lines = [
        "Enrollment gateway demo is running.",
        f"  API:          {info['api_url']}",
        f"  Admin token:  {info['admin_token']}",
        f"  CA bundle:    {info['ca_bundle']}   (trust this for HTTPS and for issued chains)",
        f"  Issue (API):  {info['issue_url']}",
    ]
    for key, label in (("acme_directory", "ACME"), ("acme_eab_kid", "ACME EAB kid"),
                       ("acme_eab_hmac_key", "ACME EAB key"), ("est_url", "EST"), ("scep_url", "SCEP"),
                       ("ocsp_url", "OCSP"), ("crl_url", "CRL")):
        if info.get(key):
            lines.append(f"  {label + ':':<13} {info[key]}")
    lines.append(f"  Everything above is also in {config.data_dir.resolve() / 'demo.json'}")
    print("\n".join(lines), flush=True)
    # The log line for machines leaves every credential out: logs travel further than a terminal.
    public = {k: v for k, v in info.items() if k not in DEMO_SECRETS}
    print(json.dumps({"demo": public}), file=sys.stderr, flush=True)


DEMO_SECRETS = frozenset({"admin_token", "acme_eab_hmac_key", "est_password", "scep_challenge"})
