"""CRL building (RFC 5280 §5) checked with cryptography, the openssl CLI and pkilint."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.crypto.signer import LocalSigner
from enrollment_gateway.domain import Certificate, RevocationReason
from enrollment_gateway.revocation.crl import CRLEntry, RevokedRow, build_crl, crl_pem, select_entries
from revocation_pki import NOW, lint_findings, run, write_pem

R = RevocationReason
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def _crl(pki, entries, number=7, this_update=NOW, next_update=NOW + 7 * DAY) -> bytes:
    return build_crl(signer=pki.signer, issuer=pki.cert, entries=entries, number=number,
                     this_update=this_update, next_update=next_update)


ENTRIES = [
    CRLEntry(serial=0x1001, revoked_at=NOW - HOUR, reason=R.KEY_COMPROMISE, invalidity_date=NOW - 2 * DAY),
    CRLEntry(serial=0x1002, revoked_at=NOW - 2 * HOUR, reason=R.UNSPECIFIED),
    CRLEntry(serial=0x1003, revoked_at=NOW - 3 * HOUR, reason=None),
    CRLEntry(serial=0x1004, revoked_at=NOW - 4 * HOUR, reason=R.SUPERSEDED),
    CRLEntry(serial=0x1005, revoked_at=NOW - 5 * HOUR, reason=R.PRIVILEGE_WITHDRAWN),
]


def test_crl_fields(pki):
    crl = x509.load_der_x509_crl(_crl(pki, ENTRIES, number=42))
    assert crl.is_signature_valid(pki.key.public_key())
    assert crl.issuer == pki.cert.subject
    assert crl.last_update_utc == NOW and crl.next_update_utc == NOW + 7 * DAY
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    ski = pki.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert len(crl) == len(ENTRIES)
    for entry in ENTRIES:
        revoked = crl.get_revoked_certificate_by_serial_number(entry.serial)
        assert revoked is not None and revoked.revocation_date_utc == entry.revoked_at
        reasons = [e.value.reason for e in revoked.extensions if isinstance(e.value, x509.CRLReason)]
        if entry.reason in (None, R.UNSPECIFIED):
            assert reasons == []  # §5.3.1: absent rather than unspecified(0)
        else:
            assert reasons == [x509.ReasonFlags[entry.reason.value]]
        dates = [e.value.invalidity_date_utc for e in revoked.extensions if isinstance(e.value, x509.InvalidityDate)]
        assert dates == ([entry.invalidity_date] if entry.invalidity_date else [])


def test_empty_crl_is_valid(pki, tmp_path, openssl):
    der = _crl(pki, [], number=1)
    crl = x509.load_der_x509_crl(der)
    assert len(crl) == 0 and crl.is_signature_valid(pki.key.public_key())
    (tmp_path / "crl.der").write_bytes(der)
    assert run(openssl, "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-noout", "-text").returncode == 0
    assert lint_findings("lint_crl", "-t", "CRL", "-p", "PKIX", tmp_path / "crl.der") == ""


def test_openssl_parses_crl(pki, tmp_path, openssl):
    (tmp_path / "crl.der").write_bytes(_crl(pki, ENTRIES, number=42))
    result = run(openssl, "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-noout", "-text")
    assert result.returncode == 0, result.stderr
    for text in ("X509v3 CRL Number", "42", "X509v3 Authority Key Identifier", "Key Compromise",
                 "Invalidity Date", "Superseded", "Privilege Withdrawn", "Serial Number: 1001"):
        assert text in result.stdout


@pytest.mark.parametrize("profile", ["PKIX", "BR"])
def test_pkilint_finds_no_error(pki, tmp_path, profile):
    (tmp_path / "crl.der").write_bytes(_crl(pki, ENTRIES))
    assert lint_findings("lint_crl", "-t", "CRL", "-p", profile, tmp_path / "crl.der") == ""


def test_openssl_verify_uses_crl(pki, tmp_path, openssl):
    revoked, good = pki.leaf("revoked.example.test"), pki.leaf("good.example.test")
    entries = [CRLEntry(revoked.serial_number, NOW - HOUR, R.KEY_COMPROMISE, None)]
    (tmp_path / "crl.pem").write_text(crl_pem(_crl(pki, entries)))
    root = write_pem(tmp_path / "root.pem", pki.cert)

    def verify(cert):
        leaf = write_pem(tmp_path / "leaf.pem", cert)
        return run(openssl, "verify", "-crl_check", "-CAfile", root, "-CRLfile", tmp_path / "crl.pem", leaf)

    refused = verify(revoked)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    accepted = verify(good)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "OK" in accepted.stdout


def test_crl_pem_round_trips(pki):
    der = _crl(pki, ENTRIES)
    pem = crl_pem(der)
    assert pem.startswith("-----BEGIN X509 CRL-----\n")
    assert x509.load_pem_x509_crl(pem.encode()).public_bytes(serialization.Encoding.DER) == der


def test_naive_and_offset_times_are_utc(pki):
    paris, micro = dt.timezone(dt.timedelta(hours=2)), dt.timedelta(microseconds=123_456)
    entries = [CRLEntry(9, (NOW - HOUR + micro).astimezone(paris), R.KEY_COMPROMISE,
                        (NOW - DAY + micro).replace(tzinfo=None))]
    entries.append(CRLEntry(10, (NOW - HOUR).replace(tzinfo=None), None, (NOW - DAY).astimezone(paris)))
    crl = x509.load_der_x509_crl(_crl(pki, entries, this_update=NOW.astimezone(paris)))
    assert crl.last_update_utc == NOW
    revoked = crl.get_revoked_certificate_by_serial_number(9)
    assert revoked.revocation_date_utc == NOW - HOUR
    assert revoked.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == NOW - DAY
    revoked = crl.get_revoked_certificate_by_serial_number(10)
    assert revoked.revocation_date_utc == NOW - HOUR
    assert revoked.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == NOW - DAY


@pytest.mark.parametrize(
    "change, message",
    [
        ({"signer": LocalSigner(ec.generate_private_key(ec.SECP256R1()), KeyAlgorithm.ECDSA_P256)}, "signer"),
        ({"number": -1}, "CRL number"),
        ({"number": 2**159}, "CRL number"),  # §5.2.3: no more than 20 octets
        ({"next_update": NOW}, "nextUpdate"),
        ({"entries": [CRLEntry(0, NOW, None, None)]}, "serial"),  # §4.1.2.2: serials are positive
        ({"entries": [CRLEntry(2**159, NOW, None, None)]}, "serial"),  # and at most 20 octets
    ],
)
def test_build_crl_refuses(pki, change, message):
    args = dict(signer=pki.signer, issuer=pki.cert, entries=[], number=1, this_update=NOW, next_update=NOW + DAY)
    with pytest.raises(ValueError, match=message):
        build_crl(**{**args, **change})


def test_hundred_thousand_entries(pki):
    # Correctness at size only; the speed is measured by bench/crl_generation.py, never asserted here.
    entries = [CRLEntry(serial=(1 << 64) + i, revoked_at=NOW - HOUR, reason=R.KEY_COMPROMISE if i % 3 else None)
               for i in range(100_000)]
    der = _crl(pki, entries)
    assert len(x509.load_der_x509_crl(der)) == 100_000


# select_entries: RFC 5280 §3.3, an entry goes only after it appeared on one CRL issued past the cert's expiry.
PREV = NOW - DAY  # thisUpdate of the previous CRL


def _row(serial, *, not_after, revoked_at=PREV - DAY):
    return RevokedRow(serial=serial, revoked_at=revoked_at, not_after=not_after, reason=R.KEY_COMPROMISE)


@pytest.mark.parametrize(
    "row, previous_this_update, kept",
    [
        (_row(1, not_after=NOW + DAY), PREV, True),  # not expired: always listed
        (_row(2, not_after=PREV + HOUR), PREV, True),  # expired after the previous CRL: list it once more
        (_row(3, not_after=PREV - HOUR), PREV, False),  # expired before the previous CRL, which listed it: drop
        (_row(4, not_after=PREV), PREV, True),  # expired exactly at thisUpdate: that CRL was not "beyond" it
        (_row(5, not_after=PREV - 2 * DAY, revoked_at=PREV + HOUR), PREV, True),  # revoked after expiry: once
        (_row(6, not_after=PREV - HOUR), None, True),  # no previous CRL: nothing has appeared anywhere yet
        (_row(7, not_after=PREV - HOUR, revoked_at=PREV), PREV, False),  # revoked at that thisUpdate: listed
    ],
)
def test_select_entries_expiry_rule(row, previous_this_update, kept):
    selected = select_entries([row], previous_this_update=previous_this_update)
    assert selected == ([row.entry()] if kept else [])


@pytest.mark.parametrize(
    "previous_serials, kept",
    [
        ({3}, False),  # on the previous CRL, which was issued after expiry: drop
        (set(), True),  # missed the previous CRL (revoked while it was being built): keep once more
    ],
)
def test_select_entries_with_previous_serials(previous_serials, kept):
    row = _row(3, not_after=PREV - HOUR)
    selected = select_entries([row], previous_this_update=PREV, previous_serials=previous_serials)
    assert selected == ([row.entry()] if kept else [])


def test_select_entries_keeps_order_and_fields():
    rows = [_row(s, not_after=NOW + DAY) for s in (5, 1, 3)]
    rows[1] = dataclasses.replace(rows[1], reason=None, invalidity_date=PREV)
    selected = select_entries(rows, previous_this_update=PREV)
    assert [e.serial for e in selected] == [5, 1, 3]
    assert selected[1] == CRLEntry(1, PREV - DAY, None, PREV)


def test_revoked_row_from_certificate():
    cert = Certificate(
        id="c1", serial=77, ca_id="ca", application_id="a", profile_id="p", request_id=None, subject="CN=x",
        common_name="x", sans=(), not_before=NOW - DAY, not_after=NOW + DAY, key_algorithm="ECDSA_P256",
        signature_algorithm="ECDSA_SHA256", fingerprint_sha256="00", certificate_pem="", chain_pem="", metadata={},
        created_at=NOW - DAY, revoked_at=NOW, revocation_reason="key_compromise", invalidity_date=NOW - HOUR,
    )
    assert RevokedRow.from_certificate(cert) == RevokedRow(77, NOW, NOW + DAY, R.KEY_COMPROMISE, NOW - HOUR)
    with pytest.raises(ValueError):
        RevokedRow.from_certificate(dataclasses.replace(cert, revoked_at=None))
