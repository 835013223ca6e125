"""EAB key management through the admin API (issue #3): created (MAC shown once), listed, revoked."""

from __future__ import annotations

from enrollment_gateway.core.bootstrap import create_admin


async def test_eab_keys_through_the_api(sqlite_world):
    w = sqlite_world
    token = (await create_admin(w.gateway, "eab-admin")).token
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/applications/{w.app_id}/endpoints/{w.eab_endpoint}/acme-eab-keys"
    created = await w.http.post(base, json={"reusable": True}, headers=headers)
    assert created.status == 201
    key = await created.json()
    assert key["reusable"] is True and key["hmac_key"] and key["kid"]
    listed = await (await w.http.get(base, headers=headers)).json()
    assert [k["kid"] for k in listed["items"]] == [key["kid"]] and "hmac_key" not in listed["items"][0]
    acme = await w.client(w.eab_endpoint).open()
    assert (await acme.register(externalAccountBinding=acme.eab(key["kid"], key["hmac_key"]))).status == 201
    assert (await w.http.delete(f"{base}/{key['kid']}", headers=headers)).status == 204
    other = await w.client(w.eab_endpoint).open()
    refused = await other.register(externalAccountBinding=other.eab(key["kid"], key["hmac_key"]))
    assert refused.status == 403
    unauthenticated = await w.http.get(base)
    assert unauthenticated.status == 401
