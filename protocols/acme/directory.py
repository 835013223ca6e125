"""The directory (RFC 8555 §7.1.1), one per endpoint, with `renewalInfo` (RFC 9773 §4) without a trailing slash."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .wire import acme_json, context, state


async def directory(request: web.Request) -> web.Response:
    ctx = await context(request)
    settings = state(request).settings
    urls = ctx.urls
    meta: dict[str, Any] = {"externalAccountRequired": ctx.eab_required}
    if settings.terms_of_service:
        meta["termsOfService"] = settings.terms_of_service
    if settings.website:
        meta["website"] = settings.website
    if settings.caa_identities:
        meta["caaIdentities"] = list(settings.caa_identities)
    # One directory serves one profile; `profiles` (draft-aaron-acme-profiles) lists it so a client that sends
    # `profile` in newOrder knows the one name accepted here.
    meta["profiles"] = {ctx.profile.name: ctx.profile.description or ctx.profile.name}
    return acme_json({
        "newNonce": urls.new_nonce,
        "newAccount": urls.new_account,
        "newOrder": urls.new_order,
        "revokeCert": urls.revoke_cert,
        "keyChange": urls.key_change,
        "renewalInfo": urls.renewal_info,  # clients append "/<certID>"; a trailing slash would double it
        "meta": meta,
    })
