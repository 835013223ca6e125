"""Issue 7 item 1: revocation status outlives the inventory row (RFC 5280 §3.3), whatever deletes the row.

Each case revokes, deletes the certificate by one route (the core's inventory delete, a raw SQL statement as a
clean-up job would run), then checks both OCSP and the next CRL, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from alembic import command
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import text

from enrollment_gateway.revocation.ocsp import issuer_hashes
from enrollment_gateway.storage.engine import alembic_config

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


@pytest.mark.parametrize("deleter", DELETERS, ids=list(DELETERS))
async def test_a_deleted_unrevoked_certificate_stays_good_not_unknown(world, deleter):
    """The CA signed it: `unknown` would tell a relying party it never did (RFC 6960 §2.2)."""
    cert = await world.issue()
    await DELETERS[deleter](world, cert)
    assert (await _ocsp(world, cert)).certificate_status is ocsp.OCSPCertStatus.GOOD
    # And it can still be told apart from a serial the CA never signed.
    issuer = x509.load_pem_x509_certificate(issuer_pem(cert).encode())
    never = ocsp.OCSPRequestBuilder().add_certificate_by_hash(*issuer_hashes(issuer, "sha1"), cert.serial + 1,
                                                              hashes.SHA1()).build()
    answer = await world.gateway.ocsp.respond(world.issuing_id, never.public_bytes(serialization.Encoding.DER))
    assert ocsp.load_der_ocsp_response(answer.body).certificate_status is ocsp.OCSPCertStatus.UNKNOWN


async def test_migration_0006_carries_over_earlier_revocations(world, database_target):
    """A database revoked into before 0006 keeps those revocations once upgraded, deleted rows or not."""
    g = world.gateway
    cert = await world.issue()
    await g.revocation.revoke(world.admin, cert.id, "key_compromise")
    async with g.db.engine.begin() as conn:  # back to the schema before 0006: only certificates knows it
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0005_sqlite_search"))
    upgraded = await database_target.open()  # upgrades to head again, as a new release would on start
    await upgraded.close()
    await _delete_with_sql(world, cert)
    g.ocsp.revoked(world.issuing_id)
    assert (await _ocsp(world, cert)).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert crl_of(await g.crls.publish(world.issuing_id)).get_revoked_certificate_by_serial_number(cert.serial)


async def test_a_revocation_written_by_any_path_outlives_deletion(world):
    """Whatever writes the revocation (here a script's UPDATE, not the core), its entry is kept apart too."""
    g = world.gateway
    cert = await world.issue()
    async with g.db.engine.begin() as conn:
        await conn.execute(text("UPDATE certificates SET revoked_at = created_at, revocation_reason = 'superseded'"
                                " WHERE id = :id"), {"id": cert.id})
    await _delete_with_sql(world, cert)
    g.ocsp.revoked(world.issuing_id)  # the script did not tell the responder; a restart would not remember either
    assert (await _ocsp(world, cert)).revocation_reason is x509.ReasonFlags.superseded
    entry = crl_of(await g.crls.publish(world.issuing_id)).get_revoked_certificate_by_serial_number(cert.serial)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.superseded
