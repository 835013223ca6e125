"""Issue 7 item 1: revocation status outlives the inventory row (RFC 5280 §3.3), whatever deletes the row.

Each case revokes, deletes the certificate by one route (the core's inventory delete, a raw SQL statement as a
clean-up job would run), then checks both OCSP and the next CRL, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from sqlalchemy import text

from revocation_world import world  # noqa: F401 (fixture)
from test_revocation_service import crl_of, issuer_pem, ocsp_request


async def _delete_with_inventory(world, cert) -> None:
    await world.gateway.inventory.delete(world.admin, cert.id)


async def _delete_with_sql(world, cert) -> None:
    async with world.gateway.db.engine.begin() as conn:  # a clean-up job that knows nothing of revocation
        await conn.execute(text("DELETE FROM certificate_metadata WHERE certificate_id = :id"), {"id": cert.id})
        await conn.execute(text("DELETE FROM certificates WHERE id = :id"), {"id": cert.id})


DELETERS = {"inventory": _delete_with_inventory, "raw SQL": _delete_with_sql}


async def _ocsp(world, cert) -> ocsp.OCSPResponse:
    answer = await world.gateway.ocsp.respond(world.issuing_id, ocsp_request(cert.certificate_pem, issuer_pem(cert)))
    return ocsp.load_der_ocsp_response(answer.body)


@pytest.mark.parametrize("deleter", DELETERS, ids=list(DELETERS))
@pytest.mark.parametrize("reason, flag", [
    ("key_compromise", x509.ReasonFlags.key_compromise),  # final
    ("certificate_hold", x509.ReasonFlags.certificate_hold),  # on hold: still revoked while held
])
async def test_deleting_a_revoked_certificate_keeps_it_revoked(world, deleter, reason, flag):
    g = world.gateway
    cert = await world.issue()
    await g.revocation.revoke(world.admin, cert.id, reason)
    assert (await _ocsp(world, cert)).certificate_status is ocsp.OCSPCertStatus.REVOKED  # cached "revoked"
    await DELETERS[deleter](world, cert)
    async with g.db.transaction(readonly=True) as tx:
        assert await tx.certificates.get(cert.id) is None
    # A fresh responder (a restart, or another instance): nothing cached, the status comes from storage.
    g.ocsp.revoked(world.issuing_id)
    answer = await _ocsp(world, cert)
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is flag
    for _ in range(2):  # the next CRL, and the one after
        entry = crl_of(await g.crls.publish(world.issuing_id)).get_revoked_certificate_by_serial_number(cert.serial)
        assert entry is not None
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is flag


async def test_a_hold_made_final_then_deleted_keeps_the_final_reason(world):
    g = world.gateway
    cert = await world.issue()
    await g.revocation.revoke(world.admin, cert.id, "certificate_hold")
    await g.revocation.revoke(world.admin, cert.id, "superseded")
    await g.inventory.delete(world.admin, cert.id)
    entry = crl_of(await g.crls.publish(world.issuing_id)).get_revoked_certificate_by_serial_number(cert.serial)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.superseded
    assert (await _ocsp(world, cert)).revocation_reason is x509.ReasonFlags.superseded


async def test_a_released_hold_leaves_no_entry_behind(world):
    g = world.gateway
    cert = await world.issue()
    await g.revocation.revoke(world.admin, cert.id, "certificate_hold")
    await g.revocation.release_hold(world.admin, cert.id)
    assert crl_of(await g.crls.publish(world.issuing_id)).get_revoked_certificate_by_serial_number(cert.serial) is None
    assert (await _ocsp(world, cert)).certificate_status is ocsp.OCSPCertStatus.GOOD
