"""The ACME server (RFC 8555) as an aiohttp sub-application at /acme/<endpoint>/…, one directory per endpoint.

`mount(app)` adds the sub-application and, in the parent's cleanup_ctx (after the gateway is open), the ACME
machinery: the nonce secret, the rate limiter, the validation workers and a housekeeping task (orphaned
validations, stalled finalizations, expired nonces). The middleware turns every failure into a problem document and
puts Replay-Nonce, Cache-Control: no-store and the directory's `Link rel="index"` on every answer, errors included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator

from aiohttp import web

from enrollment_gateway.appkeys import GATEWAY
from enrollment_gateway.core.acme_eab import ExternalAccountKeys
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.storage.repositories.acme import AcmeStore

from . import (account, authorization, certificate, challenge, directory, finalize, key_change, nonces, order,
               problems, renewal_info, revocation)
from .rate_limits import RateLimiter
from .validation import Validator
from .wire import ACME, AcmeState, problem_response

log = logging.getLogger("enrollment_gateway.acme")

PREFIX = "/acme"
HOUSEKEEPING_SECONDS = 10.0
_ID = "{%s:[0-9A-Za-z_-]{1,64}}"
_EP = "/" + _ID % "endpoint"


@web.middleware
async def acme_middleware(request: web.Request, handler) -> web.StreamResponse:
    st = request.config_dict[ACME]
    try:
        st.limiter.check_ip(request.remote)
        response = await handler(request)
    except problems.AcmeProblem as problem:
        response = problem_response(problem)
    except GatewayError as err:
        if err.kind is ErrorKind.INTERNAL:
            log.error("internal error in %s %s: %s", request.method, request.path, err.detail)
        response = problem_response(problems.from_gateway_error(err))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = problem_response(problems.AcmeProblem(
            "malformed", exc.reason or "request refused", exc.status))
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        response = problem_response(problems.server_internal())
    response.headers["Replay-Nonce"] = st.nonces.new()
    response.headers["Cache-Control"] = "no-store"
    endpoint_id = request.match_info.get("endpoint")
    if endpoint_id and not request.path.endswith("/directory"):
        directory_url = request.config_dict[GATEWAY].urls.acme_directory(endpoint_id)
        response.headers.add("Link", f'<{directory_url}>;rel="index"')
    return response


def create_acme_app() -> web.Application:
    app = web.Application(middlewares=[acme_middleware])
    post = web.post
    app.router.add_routes([
        web.get(_EP + "/directory", directory.directory),
        web.head(_EP + "/new-nonce", nonces.new_nonce),
        web.get(_EP + "/new-nonce", nonces.new_nonce, allow_head=False),
        post(_EP + "/new-account", account.new_account),
        post(_EP + "/acct/" + _ID % "account", account.account),
        post(_EP + "/acct/" + _ID % "account" + "/orders", account.orders),
        post(_EP + "/key-change", key_change.key_change),
        post(_EP + "/new-order", order.new_order),
        post(_EP + "/order/" + _ID % "order", order.get_order),
        post(_EP + "/order/" + _ID % "order" + "/finalize", finalize.finalize),
        post(_EP + "/cert/" + _ID % "order", certificate.certificate),
        post(_EP + "/authz/" + _ID % "authz", authorization.authorization),
        post(_EP + "/chall/" + _ID % "authz" + "/{type:(http-01|dns-01|tls-alpn-01)}", challenge.challenge),
        post(_EP + "/revoke-cert", revocation.revoke_cert),
        web.get(_EP + "/renewal-info/{certid:[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+}", renewal_info.renewal_info),
    ])
    return app


def mount(app: web.Application) -> None:
    """Serve ACME under /acme of the gateway's application (the HTTPS listener; see server/app.py)."""

    async def acme_ctx(app: web.Application) -> AsyncIterator[None]:
        gateway = app[GATEWAY]
        settings = gateway.config.acme
        store = AcmeStore(gateway.db)
        secret = await nonces.load_secret(gateway)
        validator = Validator(store, gateway.clock, settings)
        app[ACME] = AcmeState(
            gateway=gateway, settings=settings, store=store,
            nonces=nonces.NonceService(secret, store, gateway.clock, settings.nonce_lifetime_seconds),
            limiter=RateLimiter(settings), validator=validator, eab=ExternalAccountKeys.of(gateway))
        validator.start()
        await _recover(app[ACME])  # before the listeners open: orders a killed process left behind converge now
        housekeeping = asyncio.create_task(_housekeeping(app[ACME]), name="acme-housekeeping")
        try:
            yield
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            await validator.stop()

    app.cleanup_ctx.append(acme_ctx)
    app.add_subapp(PREFIX, create_acme_app())


async def _recover(st: AcmeState) -> None:
    try:
        await order.recover_stalled(st)
    except Exception:  # never a reason not to start; housekeeping tries again
        log.exception("ACME start-up recovery of stalled finalizations failed")


async def _housekeeping(st: AcmeState) -> None:
    """Take over validations and finalizations other instances (or a killed process) abandoned; forget expired
    nonces. Bounded work per round."""
    rounds = 0
    while True:
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
        rounds += 1
        try:
            await st.validator.recover_orphans()
            await order.recover_stalled(st)
            if rounds % 6 == 0:
                await st.nonces.prune()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be briefly away; try again next round
            log.exception("ACME housekeeping failed")
