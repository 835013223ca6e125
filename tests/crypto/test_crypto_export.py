"""export.py: PEM bundles, PKCS#12 that OpenSSL 3.0 opens, fingerprints, the API's certificate description."""

from __future__ import annotations

import hashlib

import pytest
from crypto_helpers import make_chain, run
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from enrollment_gateway.algorithms import KeyAlgorithm, SignatureAlgorithm, signature_algorithm_for
from enrollment_gateway.crypto.export import (
    describe_certificate,
    fingerprints,
    pem_bundle,
    pkcs12_bundle,
    signature_algorithm_name,
)
from enrollment_gateway.crypto.keys import load_private_key, public_key_fingerprint
from enrollment_gateway.errors import ErrorKind, GatewayError


@pytest.fixture
def chain(key_pool):
    return make_chain(key_pool, KeyAlgorithm.ECDSA_P256)


def test_pem_bundle_order(chain):
    text = pem_bundle(chain.leaf, [chain.inter, chain.root], chain.leaf_key)
    certs = x509.load_pem_x509_certificates(text.encode())
    assert certs == [chain.leaf, chain.inter, chain.root]
    assert text.rstrip().endswith("-----END PRIVATE KEY-----")
    key = load_private_key(text[text.index("-----BEGIN PRIVATE KEY-----"):].encode())
    assert public_key_fingerprint(key.public_key()) == public_key_fingerprint(chain.leaf_key.public_key())
    assert "PRIVATE KEY" not in pem_bundle(chain.leaf, [chain.inter])


@pytest.mark.parametrize("alg", [KeyAlgorithm.ECDSA_P256, KeyAlgorithm.RSA_2048])
def test_pkcs12_opens_in_openssl(key_pool, tmp_path, alg):
    chain = make_chain(key_pool, alg)
    data = pkcs12_bundle(chain.leaf, [chain.inter, chain.root], chain.leaf_key, b"hunter2", "www.example.com")
    path = tmp_path / "bundle.p12"
    path.write_bytes(data)
    result = run("openssl", "pkcs12", "-in", str(path), "-passin", "pass:hunter2", "-nokeys")
    assert result.returncode == 0, result.stderr  # no -legacy needed: PBES2/AES-256 with an HMAC-SHA256 MAC
    assert b"friendlyName: www.example.com" in result.stdout
    assert result.stdout.count(b"-----BEGIN CERTIFICATE-----") == 3
    assert run("openssl", "pkcs12", "-in", str(path), "-passin", "pass:wrong", "-noout").returncode != 0
    assert run("openssl", "pkcs12", "-in", str(path), "-passin", "pass:hunter2", "-noout").returncode == 0
    loaded = pkcs12.load_pkcs12(data, b"hunter2")
    assert loaded.cert.certificate == chain.leaf and loaded.cert.friendly_name == b"www.example.com"
    assert [c.certificate for c in loaded.additional_certs] == [chain.inter, chain.root]


def test_pkcs12_refuses_empty_password(chain):
    with pytest.raises(GatewayError) as e:
        pkcs12_bundle(chain.leaf, [], chain.leaf_key, b"", "x")
    assert e.value.kind is ErrorKind.MALFORMED


def test_fingerprints_match_openssl(chain, tmp_path):
    der = chain.leaf.public_bytes(serialization.Encoding.DER)
    fp = fingerprints(chain.leaf)
    assert fp == {"sha256": hashlib.sha256(der).hexdigest(), "sha1": hashlib.sha1(der).hexdigest()}
    path = tmp_path / "leaf.der"
    path.write_bytes(der)
    out = run("openssl", "x509", "-inform", "DER", "-in", str(path), "-noout", "-fingerprint", "-sha256").stdout
    assert out.decode().split("=", 1)[1].strip().replace(":", "").lower() == fp["sha256"]


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_signature_algorithm_names(key_pool, alg):
    chain = make_chain(key_pool, alg)
    assert signature_algorithm_name(chain.leaf) == signature_algorithm_for(alg, None).value


def test_signature_algorithm_name_falls_back_to_oid_name():
    class Fake:
        signature_algorithm_oid = x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA1

    assert signature_algorithm_name(Fake()) == "sha1WithRSAEncryption"
    assert SignatureAlgorithm.ED25519.value == "ED25519"


def test_describe_certificate(chain):
    d = describe_certificate(chain.leaf)
    assert d["subject"] == "CN=www.example.com"
    assert d["issuer"] == "CN=Example Issuing CA ECDSA_P256,O=Example,C=US"
    assert int(d["serial"], 16) == chain.leaf.serial_number
    assert d["not_before"] == chain.leaf.not_valid_before_utc.isoformat()
    assert d["sans"] == ["DNS:www.example.com"]
    assert d["key_algorithm"] == "ECDSA_P256"
    assert d["signature_algorithm"] == "ECDSA_SHA256"
    assert d["fingerprints"] == fingerprints(chain.leaf)
    by_name = {e["name"]: e for e in d["extensions"]}
    assert by_name["basicConstraints"] == {"name": "basicConstraints", "oid": "2.5.29.19", "critical": True,
                                           "value": "CA:FALSE"}
    assert by_name["keyUsage"]["value"] == "digital_signature"  # key_encipherment dropped for the EC key
    assert by_name["extendedKeyUsage"]["value"] == "server_auth"
    assert by_name["cRLDistributionPoints"]["value"] == "URI:http://127.0.0.1/crl/issuing.crl"
    assert "OCSP: URI:http://127.0.0.1/ocsp/issuing" in by_name["authorityInfoAccess"]["value"]
    inter = describe_certificate(chain.inter)
    assert {e["name"]: e["value"] for e in inter["extensions"]}["basicConstraints"] == "CA:TRUE, pathlen:0"
