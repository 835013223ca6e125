"""builder.py: chains for every key algorithm (checked by OpenSSL where it can), extensions, serials."""

from __future__ import annotations

import datetime as dt

import pytest
from crypto_helpers import NOW, make_chain, run, write_pem
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.crypto.builder import (
    CAUrls,
    build_ca_csr,
    build_certificate,
    build_root_ca,
    certificate_matches_key,
    issued_by,
    key_usages_for,
    random_serial,
)
from enrollment_gateway.crypto.keys import key_algorithm_name
from enrollment_gateway.crypto.names import build_name
from enrollment_gateway.crypto.signer import LocalSigner
from enrollment_gateway.errors import ErrorKind, GatewayError

ML_DSA = {KeyAlgorithm.ML_DSA_44, KeyAlgorithm.ML_DSA_65, KeyAlgorithm.ML_DSA_87}


def ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension:
    return cert.extensions.get_extension_for_oid(oid)


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_chain_for_every_algorithm(key_pool, alg, tmp_path):
    chain = make_chain(key_pool, alg)
    assert issued_by(chain.root, chain.root)
    assert issued_by(chain.inter, chain.root)
    assert issued_by(chain.leaf, chain.inter)
    assert not issued_by(chain.leaf, chain.root)
    assert key_algorithm_name(chain.leaf.public_key()) == alg.value
    if alg in ML_DSA:
        return  # OpenSSL 3.0's CLI does not know ML-DSA; cryptography's check above is the proof
    root, inter, leaf = (write_pem(tmp_path / f"{n}.pem", c) for n, c in
                         (("root", chain.root), ("inter", chain.inter), ("leaf", chain.leaf)))
    result = run("openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", str(root),
                 "-untrusted", str(inter), str(leaf))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(b"OK")


def test_ca_certificate_extensions(key_pool):
    chain = make_chain(key_pool, KeyAlgorithm.ECDSA_P384)
    for cert, path_length in ((chain.root, None), (chain.inter, 0)):
        bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
        assert bc.critical and bc.value.ca and bc.value.path_length == path_length
        ku = ext(cert, ExtensionOID.KEY_USAGE)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and ku.value.digital_signature
    with pytest.raises(x509.ExtensionNotFound):  # roots carry no EKU
        ext(chain.root, ExtensionOID.EXTENDED_KEY_USAGE)
    root_ski = ext(chain.root, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    assert ext(chain.root, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier == root_ski
    assert ext(chain.inter, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier == root_ski
    assert chain.root.issuer == chain.root.subject


def test_leaf_extensions(key_pool):
    chain = make_chain(key_pool, KeyAlgorithm.ECDSA_P256)
    leaf = chain.leaf
    bc = ext(leaf, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and not bc.value.ca
    assert list(ext(leaf, ExtensionOID.EXTENDED_KEY_USAGE).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = ext(leaf, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert not san.critical  # the subject is not empty
    assert san.value.get_values_for_type(x509.DNSName) == ["www.example.com"]
    inter_ski = ext(chain.inter, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    assert ext(leaf, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier == inter_ski
    cdp = ext(leaf, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert cdp[0].full_name == [x509.UniformResourceIdentifier("http://127.0.0.1/crl/issuing.crl")]
    aia = {d.access_method: d.access_location.value for d in ext(leaf, ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value}
    assert aia == {
        AuthorityInformationAccessOID.OCSP: "http://127.0.0.1/ocsp/issuing",
        AuthorityInformationAccessOID.CA_ISSUERS: "http://127.0.0.1/ca/issuing.der",
    }
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(days=90)


@pytest.mark.parametrize(
    "alg, requested, expected",
    [
        # RSA keeps keyEncipherment (TLS 1.2 RSA key exchange) and drops keyAgreement (RFC 4055).
        (KeyAlgorithm.RSA_2048, ("digital_signature", "key_encipherment", "key_agreement"),
         ("digital_signature", "key_encipherment")),
        # EC keys cannot encrypt (RFC 5480 §3) but may agree keys.
        (KeyAlgorithm.ECDSA_P256, ("digital_signature", "key_encipherment", "key_agreement"),
         ("digital_signature", "key_agreement")),
        # Ed25519 and ML-DSA sign only (RFC 8410 §5, RFC 9881).
        (KeyAlgorithm.ED25519, ("digital_signature", "key_encipherment", "key_agreement"), ("digital_signature",)),
        (KeyAlgorithm.ML_DSA_44, ("digital_signature", "content_commitment", "data_encipherment"),
         ("digital_signature", "content_commitment")),
        # Nothing left after filtering: digitalSignature stays so the extension is not empty.
        (KeyAlgorithm.ECDSA_P256, ("key_encipherment",), ("digital_signature",)),
        # encipherOnly without keyAgreement means nothing and is dropped.
        (KeyAlgorithm.ECDSA_P256, ("digital_signature", "encipher_only"), ("digital_signature",)),
        # No usages asked: no extension.
        (KeyAlgorithm.RSA_2048, (), ()),
    ],
)
def test_key_usages_follow_the_subject_key(key_pool, alg, requested, expected):
    assert key_usages_for(key_pool.key(alg).public_key(), requested) == expected


def test_unknown_usage_names_are_malformed(key_pool):
    with pytest.raises(GatewayError) as e:
        key_usages_for(key_pool.key(KeyAlgorithm.ECDSA_P256).public_key(), ["sign_everything"])
    assert e.value.kind is ErrorKind.MALFORMED
    chain = make_chain(key_pool, KeyAlgorithm.ECDSA_P256)
    with pytest.raises(GatewayError) as e:
        build_certificate(
            signer=chain.inter_signer, issuer=chain.inter, public_key=chain.leaf_key.public_key(),
            subject=build_name([("CN", "x")]), sans=(), serial=random_serial(), not_before=NOW,
            not_after=NOW + dt.timedelta(days=1), key_usages=["digital_signature"], extended_key_usages=["everything"],
        )
    assert e.value.kind is ErrorKind.MALFORMED


def test_ecdsa_leaf_under_rsa_profile_drops_key_encipherment(key_pool):
    chain = make_chain(key_pool, KeyAlgorithm.RSA_2048, leaf_alg=KeyAlgorithm.ECDSA_P256)
    ku = ext(chain.leaf, ExtensionOID.KEY_USAGE).value
    assert ku.digital_signature and not ku.key_encipherment
    rsa_leaf = make_chain(key_pool, KeyAlgorithm.RSA_2048).leaf
    assert ext(rsa_leaf, ExtensionOID.KEY_USAGE).value.key_encipherment


def test_empty_subject_makes_san_critical(key_pool):
    leaf = make_chain(key_pool, KeyAlgorithm.ECDSA_P256, subject=x509.Name([])).leaf
    assert len(leaf.subject) == 0
    assert ext(leaf, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical  # RFC 5280 §4.2.1.6


def test_empty_subject_without_sans_is_refused(key_pool):
    with pytest.raises(GatewayError) as e:
        make_chain(key_pool, KeyAlgorithm.ECDSA_P256, subject=x509.Name([]), sans=())
    assert e.value.kind is ErrorKind.MALFORMED


def test_signer_must_match_issuer(key_pool):
    chain = make_chain(key_pool, KeyAlgorithm.ECDSA_P256)
    with pytest.raises(GatewayError) as e:
        build_certificate(
            signer=chain.root_signer, issuer=chain.inter, public_key=chain.leaf_key.public_key(),
            subject=build_name([("CN", "x")]), sans=(), serial=random_serial(), not_before=NOW,
            not_after=NOW + dt.timedelta(days=1), key_usages=["digital_signature"], extended_key_usages=[],
        )
    assert e.value.kind is ErrorKind.INTERNAL


@pytest.mark.parametrize(
    "not_before, not_after, serial",
    [
        (NOW, NOW, 1),  # zero-length validity
        (NOW, NOW - dt.timedelta(days=1), 1),  # reversed validity
        (NOW.replace(tzinfo=None), NOW + dt.timedelta(days=1), 1),  # naive time
        (NOW, NOW + dt.timedelta(days=1), 0),  # serial 0 is forbidden (RFC 5280 §4.1.2.2)
        (NOW, NOW + dt.timedelta(days=1), 1 << 159),  # would need 21 octets
    ],
)
def test_build_certificate_refuses_bad_numbers(key_pool, not_before, not_after, serial):
    key = key_pool.key(KeyAlgorithm.ECDSA_P256)
    with pytest.raises(GatewayError):
        build_certificate(
            signer=LocalSigner(key, KeyAlgorithm.ECDSA_P256), issuer=None, public_key=key.public_key(),
            subject=build_name([("CN", "x")]), sans=(), serial=serial, not_before=not_before, not_after=not_after,
            key_usages=["digital_signature"], extended_key_usages=[],
        )


def test_random_serial():
    serials = {random_serial() for _ in range(200)}
    assert len(serials) == 200
    for s in serials:
        assert 1 << 64 <= s < 1 << 159  # ≥ 64 random bits, DER at most 20 octets with the sign bit clear


def test_ca_csr_and_key_matching(key_pool):
    alg = KeyAlgorithm.ECDSA_P384
    signer = LocalSigner(key_pool.key(alg, 1), alg)
    csr = build_ca_csr(signer, build_name([("CN", "Issuing CA")]))
    assert csr.is_signature_valid
    assert csr.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    root = build_root_ca(signer, build_name([("CN", "Self")]), 30, urls=CAUrls(crl_url="http://127.0.0.1/crl"))
    assert certificate_matches_key(root, signer.public_key())
    assert not certificate_matches_key(root, key_pool.key(alg, 0).public_key())
    assert ext(root, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    with pytest.raises(x509.ExtensionNotFound):  # no AIA URLs given, no AIA extension
        ext(root, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)


@pytest.mark.parametrize("days", [0, -1, 10**12, 36501])
def test_ca_validity_is_range_checked_before_any_date_arithmetic(key_pool, days):
    # 10^12 days used to be an OverflowError (a 500 from whichever front end passed it on).
    signer = LocalSigner(key_pool.key(KeyAlgorithm.ECDSA_P256), KeyAlgorithm.ECDSA_P256)
    with pytest.raises(GatewayError) as err:
        build_root_ca(signer, build_name([("CN", "Range Root")]), days, now=NOW)
    assert err.value.kind is ErrorKind.MALFORMED
