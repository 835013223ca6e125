"""Certificates: storage, serial uniqueness, every listing filter, revocation and renewal chains."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

import storage_builders as b
from enrollment_gateway.domain import CertificateStatus
from enrollment_gateway.errors import ErrorKind, GatewayError
from enrollment_gateway.storage import CertificateFilter, RevokedEntry

NOW = b.NOW
DAY = dt.timedelta(days=1)


async def test_round_trip_and_lookups(database):
    async with database.transaction() as tx:
        app, prof, authority = await b.seed(tx)
        cert = b.certificate(app.id, prof.id, authority.id, serial=(1 << 159) - 1, is_ca=True, request_id="r1")
        await tx.certificates.add(cert, managed_key_blob=b"sealed key")
        plain = b.certificate(app.id, prof.id, authority.id, metadata={})
        await tx.certificates.add(plain)
    async with database.transaction() as tx:
        got = await tx.certificates.get(cert.id)
        assert got == replace(cert, has_managed_key=True)
        assert got.serial == (1 << 159) - 1
        assert await tx.certificates.get_by_serial(authority.id, cert.serial) == got
        assert await tx.certificates.get_by_serial(None, cert.serial) is None
        assert await tx.certificates.get("missing") is None
        assert await tx.certificates.managed_key_blob(cert.id) == b"sealed key"
        assert await tx.certificates.managed_key_blob(plain.id) is None
        assert (await tx.certificates.get(plain.id)).has_managed_key is False
        assert await tx.certificates.count_for_ca(authority.id) == 2
        assert await tx.certificates.count_for_ca("other") == 0


async def test_serials_are_unique_per_issuer(database):
    async with database.transaction() as tx:
        app, prof, ca1 = await b.seed(tx)
        ca2 = b.ca()
        await tx.cas.add(ca2, b"k")
        await tx.certificates.add(b.certificate(app.id, prof.id, ca1.id, serial=42))
        await tx.certificates.add(b.certificate(app.id, prof.id, ca2.id, serial=42))  # other issuer: fine
        await tx.certificates.add(b.certificate(app.id, prof.id, None, serial=42))  # self-signed: fine
    for ca_id in (ca1.id, None):  # the same issuer twice, self-signed included
        with pytest.raises(GatewayError) as info:
            async with database.transaction() as tx:
                await tx.certificates.add(b.certificate(app.id, prof.id, ca_id, serial=42))
        assert info.value.kind is ErrorKind.CONFLICT
    async with database.transaction() as tx:
        assert (await tx.certificates.get_by_serial(None, 42)).ca_id is None


@pytest.fixture
async def population(database):
    """Certificates across two applications and two profiles, in every status, created a minute apart."""
    async with database.transaction() as tx:
        app, prof, authority = await b.seed(tx)
        other_app = b.application()
        await tx.applications.add(other_app)
        other_prof = b.profile(prof.policy_id, authority.id)
        await tx.profiles.add(other_prof)
        specs = {
            "active": dict(),
            "expiring": dict(not_after=NOW + 2 * DAY, common_name="API.Example.org", sans=("DNS:api.example.org",)),
            "expired": dict(not_after=NOW - DAY),
            "revoked": dict(revoked_at=NOW - DAY, revocation_reason="key_compromise"),
            "revoked_expired": dict(not_after=NOW - DAY, revoked_at=NOW - 2 * DAY, revocation_reason="superseded"),
            "other_profile": dict(profile_id=other_prof.id, metadata={"env": "dev", "team": "blue"}),
            "other_app": dict(application_id=other_app.id, sans=("DNS:100%_literal.example.net",)),
        }
        certs = {}
        for i, (name, kw) in enumerate(specs.items()):
            kw = {"created_at": NOW + dt.timedelta(minutes=i), **kw}
            cert = b.certificate(kw.pop("application_id", app.id), kw.pop("profile_id", prof.id), authority.id, **kw)
            await tx.certificates.add(cert)
            certs[name] = cert
    return database, certs, app, other_app, prof, other_prof


def _f(**kw) -> CertificateFilter:
    return CertificateFilter(now=NOW, **kw)


# name -> (filter arguments as a function of the population, expected certificate names newest first)
FILTERS = {
    # no filter: everything, newest first
    "all": (
        lambda p: {},
        ["other_app", "other_profile", "revoked_expired", "revoked", "expired", "expiring", "active"],
    ),
    # active: not revoked and not expired at `now`
    "active": (lambda p: {"status": CertificateStatus.ACTIVE}, ["other_app", "other_profile", "expiring", "active"]),
    # expired: revoked-and-expired counts as revoked, as Certificate.status_at says
    "expired": (lambda p: {"status": CertificateStatus.EXPIRED}, ["expired"]),
    "revoked": (lambda p: {"status": CertificateStatus.REVOKED}, ["revoked_expired", "revoked"]),
    "profile": (lambda p: {"profile_id": p[5].id}, ["other_profile"]),
    # text: case-insensitive, in the CN or a SAN
    "text cn": (lambda p: {"text": "api.EXAMPLE"}, ["expiring"]),
    "text san": (lambda p: {"text": "10.0.0"}, ["other_profile", "revoked_expired", "revoked", "expired", "active"]),
    # LIKE wildcards in the text are literals
    "text wildcard": (lambda p: {"text": "100%_lit"}, ["other_app"]),
    "text no match": (lambda p: {"text": "%"}, ["other_app"]),
    "expiring": (lambda p: {"expiring_before": NOW + 3 * DAY}, ["revoked_expired", "expired", "expiring"]),
    "expiring and active": (
        lambda p: {"expiring_before": NOW + 3 * DAY, "status": CertificateStatus.ACTIVE},
        ["expiring"],
    ),
    "metadata": (lambda p: {"metadata": (("env", "dev"),)}, ["other_profile"]),
    "metadata all pairs": (lambda p: {"metadata": (("env", "dev"), ("team", "red"))}, []),
    "application scope": (lambda p: {"application_ids": [p[3].id]}, ["other_app"]),
    "no applications": (lambda p: {"application_ids": []}, []),
    "scope and status": (
        lambda p: {"application_ids": [p[2].id], "status": CertificateStatus.REVOKED},
        ["revoked_expired", "revoked"],
    ),
}


@pytest.mark.parametrize("case", FILTERS)
async def test_listing_filters(population, case):
    database, certs, *_ = population
    make_args, expected = FILTERS[case]
    async with database.transaction(readonly=True) as tx:
        got = await tx.certificates.list(_f(**make_args(population)), limit=50, offset=0)
    names = {c.id: n for n, c in certs.items()}
    assert [names[c.id] for c in got] == expected


async def test_listing_pages(population):
    database, certs, *_ = population
    async with database.transaction(readonly=True) as tx:
        first = await tx.certificates.list(_f(), limit=3, offset=0)
        second = await tx.certificates.list(_f(), limit=3, offset=3)
    assert [c.id for c in first + second] == [c.id for c in reversed(list(certs.values()))][:6]


async def test_metadata_update_replaces_the_filterable_pairs(population):
    database, certs, *_ = population
    cert = certs["active"]
    async with database.transaction() as tx:
        assert await tx.certificates.update_metadata(cert.id, {"env": "staging", "owner": "ops"}) is True
        assert await tx.certificates.update_metadata("missing", {}) is False
    async with database.transaction(readonly=True) as tx:
        assert (await tx.certificates.get(cert.id)).metadata == {"env": "staging", "owner": "ops"}
        assert [c.id for c in await tx.certificates.list(_f(metadata=(("owner", "ops"),)), 50, 0)] == [cert.id]
        assert cert.id not in [c.id for c in await tx.certificates.list(_f(metadata=(("env", "prod"),)), 50, 0)]


async def test_revocation_hold_and_release(population):
    database, certs, *_ = population
    cert = certs["active"]
    async with database.transaction() as tx:
        assert await tx.certificates.clear_revocation(cert.id) is False  # nothing to release
        assert await tx.certificates.mark_revoked(cert.id, NOW, "certificate_hold") is True
        assert await tx.certificates.mark_revoked(cert.id, NOW, "certificate_hold") is False
        assert await tx.certificates.clear_revocation(cert.id) is True
        got = await tx.certificates.get(cert.id)
        assert (got.revoked_at, got.revocation_reason) == (None, None)
        assert await tx.certificates.mark_revoked(cert.id, NOW, "certificate_hold") is True
        # a hold may become final; a final revocation may not change again or be released
        assert await tx.certificates.mark_revoked(cert.id, NOW + DAY, "key_compromise", NOW - DAY) is True
        assert await tx.certificates.mark_revoked(cert.id, NOW, "superseded") is False
        assert await tx.certificates.clear_revocation(cert.id) is False
        got = await tx.certificates.get(cert.id)
        assert (got.revoked_at, got.revocation_reason) == (NOW + DAY, "key_compromise")
        assert got.invalidity_date == NOW - DAY
        assert await tx.certificates.mark_revoked("missing", NOW, "unspecified") is False


async def test_revoked_for_ca_lists_what_a_crl_needs(population):
    database, certs, *_ = population
    async with database.transaction(readonly=True) as tx:
        ca_id = certs["revoked"].ca_id
        everything = await tx.certificates.revoked_for_ca(ca_id, NOW - 10 * DAY)
        unexpired = await tx.certificates.revoked_for_ca(ca_id, NOW)
        assert await tx.certificates.revoked_for_ca("other", NOW - 10 * DAY) == []
    r, rx = certs["revoked"], certs["revoked_expired"]
    assert everything == [
        RevokedEntry(rx.serial, rx.revoked_at, "superseded", None, rx.not_after),
        RevokedEntry(r.serial, r.revoked_at, "key_compromise", None, r.not_after),
    ]
    assert [e.serial for e in unexpired] == [r.serial]


async def test_latest_active(population):
    database, certs, app, other_app, prof, other_prof = population
    async with database.transaction(readonly=True) as tx:
        assert (await tx.certificates.latest_active(app.id, prof.id, NOW)).id == certs["expiring"].id
        assert await tx.certificates.latest_active(app.id, prof.id, NOW + 40 * DAY) is None
        assert (await tx.certificates.latest_active(app.id, other_prof.id, NOW)).id == certs["other_profile"].id


async def test_renewal_chain_walks_both_ways(database):
    async with database.transaction() as tx:
        app, prof, authority = await b.seed(tx)
        first = b.certificate(app.id, prof.id, authority.id, created_at=NOW)
        second = b.certificate(app.id, prof.id, authority.id, created_at=NOW + DAY, replaces_id=first.id)
        third = b.certificate(app.id, prof.id, authority.id, created_at=NOW + 2 * DAY, replaces_id=second.id)
        unrelated = b.certificate(app.id, prof.id, authority.id)
        for cert in (first, second, third, unrelated):
            await tx.certificates.add(cert)
    expected = [first.id, second.id, third.id]
    async with database.transaction(readonly=True) as tx:
        for cert in (first, second, third):
            assert await tx.certificates.renewal_chain(cert.id) == expected
        assert await tx.certificates.renewal_chain(unrelated.id) == [unrelated.id]
        assert await tx.certificates.renewal_chain("missing") == []


async def test_delete(population):
    database, certs, *_ = population
    cert = certs["other_profile"]
    async with database.transaction() as tx:
        assert await tx.certificates.delete(cert.id) is True
        assert await tx.certificates.delete(cert.id) is False
        assert await tx.certificates.get(cert.id) is None
        assert await tx.certificates.list(_f(metadata=(("env", "dev"),)), 50, 0) == []
