"""The CN/SAN substring filter: same answers on both engines, whichever path (trigram index or scan) serves it."""

from __future__ import annotations

import dataclasses

import pytest

import storage_builders as b
from enrollment_gateway.storage import CertificateFilter
from enrollment_gateway.storage.repositories import certificates as certificate_repository

NOW = b.NOW


async def _ids(db, text: str) -> set[str]:
    async with db.transaction(readonly=True) as tx:
        return {c.id for c in await tx.certificates.list(CertificateFilter(now=NOW, text=text), 50, 0)}


@pytest.fixture
async def three(database):
    async with database.transaction() as tx:
        app, prof, ca = await b.seed(tx)
        certs = [b.certificate(app.id, prof.id, ca.id, common_name=cn, subject=f"CN={cn}", sans=(f"DNS:{cn}",))
                 for cn in ("alpha.example.com", "beta.example.com", "Gamma-Quote\".example.org")]
        for cert in certs:
            await tx.certificates.add(cert)
    return database, certs


@pytest.mark.parametrize("few", [certificate_repository._FEW_MATCHES, 1])  # index path, then the scan fallback
@pytest.mark.parametrize(
    "text, expected",
    [
        ("alpha", {0}),  # rare: one hit
        ("EXAMPLE.COM", {0, 1}),  # case-insensitive
        ("example", {0, 1, 2}),  # common
        ("zzz-absent", set()),  # no hit at all
        ("a.", {0, 1}),  # under 3 characters: always the scan
        ('quote"', {2}),  # a double quote inside the phrase is escaped, not FTS syntax
        ("%", set()),  # LIKE wildcards are literal
    ],
)
async def test_substring_filter(three, monkeypatch, few, text, expected):
    db, certs = three
    monkeypatch.setattr(certificate_repository, "_FEW_MATCHES", few)
    assert await _ids(db, text) == {certs[i].id for i in expected}


async def test_deleting_a_certificate_removes_it_from_the_search(three):
    db, certs = three
    async with db.transaction() as tx:
        assert await tx.certificates.delete(certs[0].id)
        await tx.certificates.add(dataclasses.replace(b.certificate(certs[1].application_id, certs[1].profile_id,
                                                                    certs[1].ca_id), common_name="alpha2.example.net",
                                                      sans=("DNS:alpha2.example.net",)))
    assert len(await _ids(db, "alpha")) == 1  # only the new one
    if db.dialect == "sqlite":  # the triggers keep the trigram index row for row with the table
        async with db.engine.connect() as conn:
            indexed = (await conn.exec_driver_sql("SELECT certificate_id FROM certificate_search")).scalars().all()
            stored = (await conn.exec_driver_sql("SELECT id FROM certificates")).scalars().all()
        assert sorted(indexed) == sorted(stored)
