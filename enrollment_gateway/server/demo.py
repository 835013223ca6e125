"""`serve --demo`: a ready private PKI on first start, reused on every later start."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from ..algorithms import KeyAlgorithm
from ..core.acme_eab import ExternalAccountKeys
from ..core.bootstrap import ensure_admin
from ..core.est_credentials import EstCredentials
from ..crypto import builder
from ..core.gateway import Gateway
from ..domain import SYSTEM_ACTOR, ProfileDefaults
from ..errors import GatewayError
from ..policy import preset, preset_defaults
from ..storage.gateway_state import state_of
from ..storage.locks import exclusive

DEMO_APP = "demo"
ALL_METHODS = {"api": {}, "acme": {"eab_required": False}, "est": {}, "scep": {}}


async def ensure_demo(gateway: Gateway) -> dict[str, Any]:
    """Create (once per database) the demo CAs, policies, profiles, application and admin; return what demo.json
    holds, with this instance's own URLs.

    Idempotent across start-ups and instances: the set-up runs under a lock every process on the database shares,
    and what it made (ids and credentials, wrapped under the key-encryption key) is kept in the database, so a
    second instance, or one with another data_dir, reuses it instead of adding a second admin.
    """
    path = gateway.config.data_dir / "demo.json"
    async with exclusive(gateway.db, "demo-setup"):
        state = await _stored(gateway) or _read(path)  # demo.json: a demo made before the state moved to the database
        if state.get("admin_token"):
            try:
                await gateway.applications.authenticate(state["admin_token"])
            except GatewayError:  # the token was revoked or the database was replaced: set up again
                state = {}
        if not state.get("admin_token"):
            state = await _create(gateway)
        if not state.get("acme_eab_kid"):  # also for a demo made before ACME landed
            state.update(await _acme(gateway, state))
        if not state.get("scep_challenge"):  # also for a demo made before SCEP landed
            state.update(await _scep(gateway, state))
        if not state.get("est_username"):  # also for a demo made before EST landed
            state.update(await _est(gateway, state))
        state.update(await _urls(gateway, state))
        await _store(gateway, state)
    state["ca_bundle"] = str(await _write_bundle(gateway, state["root_ca_id"]))
    _write(path, state)
    return state


async def _urls(gateway: Gateway, state: dict[str, Any]) -> dict[str, Any]:
    """The URL fields of `state` as this instance publishes them (instances may differ in host and ports), and the
    port it validates http-01 on (what a loopback ACME client must listen on). Each endpoint lists the URLs of the
    methods its profile enables, read now, so a profile edited since set-up is shown as it is."""
    urls = gateway.urls
    attached = {ep.id: ep for ep in await gateway.applications.endpoints(SYSTEM_ACTOR, state["application_id"])}
    endpoints = {}
    for name, ep in state["endpoints"].items():
        record = attached.get(ep["id"])
        profile = await gateway.catalog.get_profile(record.profile_id) if record else None
        endpoints[name] = {"id": ep["id"], **urls.endpoint_urls(ep["id"], profile)}
    tls_id = endpoints["tls-server"]["id"]
    return {"api_url": f"{urls.https_base}/api/v1", "endpoints": endpoints, "issue_url": urls.api_issue(tls_id),
            "acme_directory": urls.acme_directory(tls_id), "ocsp_url": urls.ocsp(state["issuing_ca_id"]),
            "crl_url": urls.crl(state["issuing_ca_id"]), "acme_http01_port": gateway.config.acme.http01_port,
            "scep_url": urls.scep(endpoints["device"]["id"]),
            "est_url": urls.est_base(endpoints["device"]["id"])}


async def _stored(gateway: Gateway) -> dict[str, Any]:
    async with gateway.db.transaction(readonly=True) as tx:
        blob = await state_of(tx).get(_STATE)
    if blob is None:
        return {}
    try:
        return json.loads(gateway.kek.unwrap(blob, _STATE_AAD))
    except (GatewayError, ValueError):  # unreadable: set up again rather than refuse to start
        return {}


async def _store(gateway: Gateway, state: dict[str, Any]) -> None:
    # It holds the admin token and the EAB key: wrapped under the KEK like every other secret at rest.
    shared = {k: v for k, v in state.items() if k != "ca_bundle"}  # a path on this machine
    blob = gateway.kek.wrap(json.dumps(shared).encode(), _STATE_AAD)
    async with gateway.db.transaction() as tx:
        await state_of(tx).put(_STATE, blob, gateway.clock.now())


_STATE, _STATE_AAD = "demo", b"gateway:demo-state"


async def _write_bundle(gateway: Gateway, root_ca_id: str) -> Path:
    """The demo root anchors both the HTTPS listener (signed by the issuing CA) and every issued chain."""
    root = await gateway.authorities.get(root_ca_id)
    path = (gateway.config.data_dir / "ca-bundle.pem").resolve()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(root.certificate_pem)
    os.replace(tmp, path)
    return path


async def _create(gateway: Gateway) -> dict[str, Any]:
    admin = await ensure_admin(gateway, "demo-admin")
    # Whatever an interrupted set-up already made is reused by name, never made twice.
    cas = {ca.name: ca for ca in await gateway.authorities.list()}
    policies = {p.name: p for p in await gateway.catalog.list_policies()}
    profiles = {p.name: p for p in await gateway.catalog.list_profiles()}
    root = cas.get("demo-root") or await gateway.authorities.create_root(
        SYSTEM_ACTOR, name="demo-root", subject=[("CN", "Enrollment Gateway Demo Root"), ("O", "Demo")],
        key_algorithm=KeyAlgorithm.ECDSA_P384, validity_days=3650, path_length=1)
    issuing = cas.get("demo-issuing") or await gateway.authorities.create_intermediate(
        SYSTEM_ACTOR, name="demo-issuing", parent_id=root.id,
        subject=[("CN", "Enrollment Gateway Demo Issuing CA"), ("O", "Demo")],
        key_algorithm=KeyAlgorithm.ECDSA_P256, validity_days=1825, path_length=0)
    catalog = gateway.catalog
    # The TLS-server preset (subject CN only and a copy of a SAN, WebPKI keys and usages, 397 days), with any DNS
    # name or IP: the shape of a BR certificate, for private names.
    server_policy = await _once(
        policies, catalog.create_policy, SYSTEM_ACTOR, name="demo-tls-server", rules=preset("tls_server").to_json(),
        description="demo TLS servers: the tls_server preset, any DNS name or IP")
    device_policy = await _once(policies, catalog.create_policy, SYSTEM_ACTOR, name="demo-device", rules={
        "subject": {"CN": {"require": []}}, "max_ttl": "825d",
    }, description="device identities: CN required")
    tls = await _once(profiles, catalog.create_profile,
        SYSTEM_ACTOR, name="demo-tls-server", ca_id=issuing.id, policy_id=server_policy.id,
        # No CA/B policy OID: the demo certifies private names (.test, 127.0.0.1) from loopback URLs, which the
        # BRs forbid, and a certificate must not claim rules it breaks.
        defaults=ProfileDefaults(**preset_defaults("tls_server")),
        enrollment=ALL_METHODS, renew_before_days=30)
    device = await _once(profiles, catalog.create_profile,
        SYSTEM_ACTOR, name="demo-device", ca_id=issuing.id, policy_id=device_policy.id,
        defaults=ProfileDefaults(ttl_seconds=365 * 86400, key_usages=("digital_signature", "key_encipherment"),
                                 extended_key_usages=("client_auth",)),
        enrollment=ALL_METHODS, renew_before_days=30)
    apps = {a.name: a for a in await gateway.applications.list(SYSTEM_ACTOR)}
    app = await _once(apps, gateway.applications.create, SYSTEM_ACTOR, name=DEMO_APP, description="demo application")
    tls_ep = await _attached(gateway, app.id, tls.id)
    device_ep = await _attached(gateway, app.id, device.id)
    urls = gateway.urls
    return {
        "api_url": f"{urls.https_base}/api/v1",
        "admin_token": admin.token,
        "application_id": app.id,
        "root_ca_id": root.id,
        "issuing_ca_id": issuing.id,
        "endpoints": {
            "tls-server": {"id": tls_ep.id},
            "device": {"id": device_ep.id},
        },
        "issue_url": urls.api_issue(tls_ep.id),
        "ocsp_url": urls.ocsp(issuing.id),
        "crl_url": urls.crl(issuing.id),
    }


async def _once(existing: dict[str, Any], create, *args: Any, name: str, **kwargs: Any) -> Any:
    """The object called `name` if set-up made it before, else `create(...)` it."""
    return existing.get(name) or await create(*args, name=name, **kwargs)


async def _attached(gateway: Gateway, application_id: str, profile_id: str):
    for endpoint in await gateway.applications.endpoints(SYSTEM_ACTOR, application_id):
        if endpoint.profile_id == profile_id:
            return endpoint
    return await gateway.applications.attach_profile(SYSTEM_ACTOR, application_id, profile_id)


async def _acme(gateway: Gateway, state: dict[str, Any]) -> dict[str, str]:
    """The tls-server endpoint's ACME directory and a reusable EAB key for it (EAB stays optional there)."""
    endpoint_id = state["endpoints"]["tls-server"]["id"]
    issued = await ExternalAccountKeys.of(gateway).create(SYSTEM_ACTOR, state["application_id"], endpoint_id,
                                                          reusable=True)
    return {
        "acme_directory": gateway.urls.acme_directory(endpoint_id),
        "acme_eab_kid": issued.key.kid,
        "acme_eab_hmac_key": base64.urlsafe_b64encode(issued.hmac_key).rstrip(b"=").decode(),
    }


async def _scep(gateway: Gateway, state: dict[str, Any]) -> dict[str, str]:
    """The device endpoint's SCEP URL with a reusable static challenge (any CN, RSA 2048, renewal by signing with
    the current certificate)."""
    endpoint_id = state["endpoints"]["device"]["id"]
    challenge = secrets.token_urlsafe(18)
    await gateway.scep.challenges.configure(
        SYSTEM_ACTOR, state["application_id"], endpoint_id, mode="static", static_challenge=challenge)
    return {"scep_url": gateway.urls.scep(endpoint_id), "scep_challenge": challenge}


async def _est(gateway: Gateway, state: dict[str, Any]) -> dict[str, str]:
    """The device endpoint's EST settings (serverkeygen and re-enrolment on) and a device password for Basic; its
    URL (est_url) is this instance's, from _urls."""
    endpoint_id = state["endpoints"]["device"]["id"]
    est = EstCredentials.of(gateway)
    await est.update_settings(SYSTEM_ACTOR, state["application_id"], endpoint_id,
                              {"auth": "basic_or_certificate", "reenroll": True, "serverkeygen": True})
    # A fresh name each time: a set-up interrupted after this step makes another rather than colliding.
    issued = await est.create_credential(SYSTEM_ACTOR, state["application_id"], endpoint_id,
                                         username=f"demo-device-{secrets.token_hex(3)}")
    return {"est_username": issued.credential.username, "est_password": issued.password}


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write(path: Path, state: dict[str, Any]) -> None:
    # It holds the admin token: readable by the owner only. Written aside and renamed, so an instance sharing the
    # data_dir never reads half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
