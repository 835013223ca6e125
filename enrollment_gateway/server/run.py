"""`enrollment-gateway serve`: open the gateway, start both listeners, stop gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

from aiohttp import web

from ..config import Config
from ..core.gateway import Gateway
from .app import create_app
from .demo import ensure_demo
from .listener_tls import listener_ssl_context
from .logs import configure_logging, flush_logs

log = logging.getLogger("enrollment_gateway")


async def serve(config: Config, *, demo: bool = False) -> None:
    log_handler = configure_logging(config.logging.level)
    flusher = asyncio.create_task(flush_logs(log_handler))
    gateway = await Gateway.open(config)
    try:
        info = await ensure_demo(gateway) if demo else None
        ssl_ctx, trust_path = await listener_ssl_context(gateway, ca_id=info["issuing_ca_id"] if info else None)
        app = create_app(config, gateway=gateway)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=config.server.shutdown_timeout_seconds)
        await runner.setup()
        host = config.server.host
        await web.TCPSite(runner, host, config.server.https_port, ssl_context=ssl_ctx).start()
        await web.TCPSite(runner, host, config.server.http_port).start()
        _announce(config, info, trust_path)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("listening", extra={"event": {"https": config.public_https_url, "http": config.public_http_url}})
        await stop.wait()
        log.info("shutting down")
        await runner.cleanup()
    finally:
        await gateway.close()
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)


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
                       ("scep_challenge", "SCEP secret"),
                       ("ocsp_url", "OCSP"), ("crl_url", "CRL")):
        if info.get(key):
            lines.append(f"  {label + ':':<13} {info[key]}")
    lines.append(f"  Everything above is also in {config.data_dir.resolve() / 'demo.json'}")
    print("\n".join(lines), flush=True)
    # The log line for machines leaves every credential out: logs travel further than a terminal.
    public = {k: v for k, v in info.items() if k not in DEMO_SECRETS}
    print(json.dumps({"demo": public}), file=sys.stderr, flush=True)


DEMO_SECRETS = frozenset({"admin_token", "acme_eab_hmac_key", "est_password", "scep_challenge"})
