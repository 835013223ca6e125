"""Endpoint URLs are listed only for the enrollment methods the profile enables (issue 7, item 25): in the API's
endpoint listing, in `enrollment-gateway endpoints` and in the demo's demo.json."""

from __future__ import annotations

import asyncio
import os
import json

from enrollment_gateway import cli
from enrollment_gateway.config import load_config
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.domain import SYSTEM_ACTOR, EnrollmentMethod
from enrollment_gateway.server.demo import ensure_demo

from api_helpers import Api, Pki, make_app, make_profile

URL_KEYS = {"api": "api", "acme": "acme_directory", "est": "est", "scep": "scep"}


async def test_api_lists_urls_of_enabled_methods_only(api: Api, pki: Pki) -> None:
    profile = await make_profile(api, "api-only", pki.issuing_id, policy_id=pki.policy_id,
                                 enrollment={"api": {}, "acme": {"enabled": False}})
    app_id, endpoint_id = await make_app(api, "app-api-only", profile["id"])
    attached = await api.ok("GET", f"/applications/{app_id}/endpoints")
    (endpoint,) = attached["items"]
    assert endpoint["id"] == endpoint_id
    assert set(endpoint["urls"]) == {"api"}  # acme is present but switched off
    assert endpoint["profile"]["enrollment"] == ["api"]

    # Enabling a method later shows its URL at once; the response to the attach call agrees with the listing.
    await api.ok("PATCH", f"/profiles/{profile['id']}", {"enrollment": {"acme": {}, "scep": {}}})
    (endpoint,) = (await api.ok("GET", f"/applications/{app_id}/endpoints"))["items"]
    assert set(endpoint["urls"]) == {"acme_directory", "scep"}
    assert endpoint["urls"]["acme_directory"] == f"https://pki.example.com/acme/{endpoint_id}/directory"
    other = await api.ok("POST", "/applications", {"name": "second"}, status=201)
    fresh = await api.ok("POST", f"/applications/{other['id']}/endpoints", {"profile_id": profile["id"]}, status=201)
    assert set(fresh["urls"]) == {"acme_directory", "scep"}


def test_cli_and_demo_json_list_urls_of_enabled_methods_only(tmp_path, capsys, monkeypatch) -> None:
    data_dir = tmp_path / "data"
    for name in [n for n in os.environ if n.startswith("EG_")]:
        monkeypatch.delenv(name)  # the CLI reads EG_* settings; this test wants the defaults and its own data dir

    async def set_up() -> tuple[dict, str]:
        gw = await Gateway.open(load_config(None, environ={"EG_STORAGE__DATA_DIR": str(data_dir)}))
        try:
            demo = await ensure_demo(gw)
            profiles = {p.name: p for p in await gw.catalog.list_profiles()}
            device = profiles["demo-device"]
            # One demo profile loses ACME and EST: the CLI must stop listing them.
            await gw.catalog.update_profile(SYSTEM_ACTOR, device.id, enrollment={"api": {}, "scep": {},
                                                                                   "est": {"enabled": False}})
            for name, entry in demo["endpoints"].items():
                profile = profiles[f"demo-{name}"]
                enabled = {URL_KEYS[m.value] for m in EnrollmentMethod if profile.enabled(m)}
                assert set(entry) - {"id"} == enabled, (name, entry)
            return demo, device.id
        finally:
            await gw.close()

    demo, device_profile_id = asyncio.run(set_up())
    on_disk = json.loads((data_dir / "demo.json").read_text())
    assert on_disk["endpoints"] == demo["endpoints"]

    capsys.readouterr()
    assert cli.main(["endpoints", "--data-dir", str(data_dir)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    by_profile = {line["profile"]: line for line in lines}
    assert set(by_profile) == {"demo-tls-server", "demo-device"}
    assert set(by_profile["demo-device"]) == {"application", "profile", "endpoint", "api", "scep"}
    assert {"api", "acme_directory"} <= set(by_profile["demo-tls-server"])
    assert by_profile["demo-tls-server"]["endpoint"] == demo["endpoints"]["tls-server"]["id"]
