"""`serve --demo`: a ready private PKI on first start, reused on every later start."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from ..algorithms import KeyAlgorithm
from ..core.acme_eab import ExternalAccountKeys
from ..core.bootstrap import create_admin
from ..core.est_credentials import EstCredentials
from ..crypto import builder
from ..core.gateway import Gateway
from ..domain import SYSTEM_ACTOR, ProfileDefaults
from ..errors import GatewayError

DEMO_APP = "demo"
ALL_METHODS = {"api": {}, "acme": {"eab_required": False}, "est": {}, "scep": {}}


async def ensure_demo(gateway: Gateway) -> dict[str, Any]:
    """Create (once) the demo CAs, policies, profiles, application and admin; return what demo.json holds."""
    path = gateway.config.data_dir / "demo.json"
    state = _read(path)
    if state.get("admin_token"):
        try:
            await gateway.applications.authenticate(state["admin_token"])
        except GatewayError:  # the token was revoked or the database was replaced: set up again
            state = {}
    if not state.get("admin_token"):
        state = await _create(gateway)
    if not state.get("acme_eab_kid"):  # also for a demo made before ACME landed
        state.update(await _acme(gateway, state))
    if not state.get("est_url"):  # also for a demo made before EST landed
        state.update(await _est(gateway, state))
    state["ca_bundle"] = str(await _write_bundle(gateway, state["root_ca_id"]))
    _write(path, state)
    return state


async def _write_bundle(gateway: Gateway, root_ca_id: str) -> Path:
    """The demo root anchors both the HTTPS listener (signed by the issuing CA) and every issued chain."""
    root = await gateway.authorities.get(root_ca_id)
    path = (gateway.config.data_dir / "ca-bundle.pem").resolve()
    path.write_text(root.certificate_pem)
    return path


async def _create(gateway: Gateway) -> dict[str, Any]:
    admin = await create_admin(gateway, "demo-admin")
    cas = {ca.name: ca for ca in await gateway.authorities.list()}
    root = cas.get("demo-root") or await gateway.authorities.create_root(
        SYSTEM_ACTOR, name="demo-root", subject=[("CN", "Enrollment Gateway Demo Root"), ("O", "Demo")],
        key_algorithm=KeyAlgorithm.ECDSA_P384, validity_days=3650, path_length=1)
    issuing = cas.get("demo-issuing") or await gateway.authorities.create_intermediate(
        SYSTEM_ACTOR, name="demo-issuing", parent_id=root.id,
        subject=[("CN", "Enrollment Gateway Demo Issuing CA"), ("O", "Demo")],
        key_algorithm=KeyAlgorithm.ECDSA_P256, validity_days=1825, path_length=0)
    catalog = gateway.catalog
    server_policy = await catalog.create_policy(SYSTEM_ACTOR, name="demo-tls-server", rules={
        "subject": {},
        "san": {"DNS": {}, "IP": {"allow": ["0.0.0.0/0", "::/0"]}, "email": {"allow": []},
                "URI": {"allow": []}},
        "max_ttl": "397d",
    }, description="permissive demo policy: any DNS name or IP")
    device_policy = await catalog.create_policy(SYSTEM_ACTOR, name="demo-device", rules={
        "subject": {"CN": {"require": []}}, "max_ttl": "825d",
    }, description="device identities: CN required")
    tls = await catalog.create_profile(
        SYSTEM_ACTOR, name="demo-tls-server", ca_id=issuing.id, policy_id=server_policy.id,
        defaults=ProfileDefaults(ttl_seconds=90 * 86400, key_usages=("digital_signature",),
                                 extended_key_usages=("server_auth",),
                                 certificate_policies=(builder.CABF_DV_POLICY_OID,)),
        enrollment=ALL_METHODS, renew_before_days=30)
    device = await catalog.create_profile(
        SYSTEM_ACTOR, name="demo-device", ca_id=issuing.id, policy_id=device_policy.id,
        defaults=ProfileDefaults(ttl_seconds=365 * 86400, key_usages=("digital_signature", "key_encipherment"),
                                 extended_key_usages=("client_auth",)),
        enrollment=ALL_METHODS, renew_before_days=30)
    app = await gateway.applications.create(SYSTEM_ACTOR, name=DEMO_APP, description="demo application")
    tls_ep = await gateway.applications.attach_profile(SYSTEM_ACTOR, app.id, tls.id)
    device_ep = await gateway.applications.attach_profile(SYSTEM_ACTOR, app.id, device.id)
    urls = gateway.urls
    return {
        "api_url": f"{urls.https_base}/api/v1",
        "admin_token": admin.token,
        "application_id": app.id,
        "root_ca_id": root.id,
        "issuing_ca_id": issuing.id,
        "endpoints": {
            "tls-server": {"id": tls_ep.id, **urls.endpoint_urls(tls_ep.id)},
            "device": {"id": device_ep.id, **urls.endpoint_urls(device_ep.id)},
        },
        "issue_url": urls.api_issue(tls_ep.id),
        "ocsp_url": urls.ocsp(issuing.id),
        "crl_url": urls.crl(issuing.id),
    }


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


async def _est(gateway: Gateway, state: dict[str, Any]) -> dict[str, str]:
    """The device endpoint's EST base, with serverkeygen and re-enrolment on and a device password for Basic."""
    endpoint_id = state["endpoints"]["device"]["id"]
    est = EstCredentials.of(gateway)
    await est.update_settings(SYSTEM_ACTOR, state["application_id"], endpoint_id,
                              {"auth": "basic_or_certificate", "reenroll": True, "serverkeygen": True})
    issued = await est.create_credential(SYSTEM_ACTOR, state["application_id"], endpoint_id,
                                         username=f"demo-device-{endpoint_id[:6]}")
    return {"est_url": gateway.urls.est_base(endpoint_id), "est_username": issued.credential.username,
            "est_password": issued.password}


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write(path: Path, state: dict[str, Any]) -> None:
    # It holds the admin token: readable by the owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=2)
        f.write("\n")
