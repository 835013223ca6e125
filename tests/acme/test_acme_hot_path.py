"""The per-request shortcuts of the ACME hot path keep their checks: the parsed-JWK memo and the lazy Tx."""

import josepy
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from enrollment_gateway.storage.repositories import Tx
from protocols.acme import jws
from protocols.acme.problems import AcmeProblem


def _jwk(private) -> dict:
    return josepy.JWKEC(key=private.public_key()).to_json()


P256_A, P256_B = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())


def test_stored_jwk_is_keyed_by_the_key_itself():
    a, b = _jwk(P256_A), _jwk(P256_B)
    # same value, any member order: the same parsed key
    assert jws.stored_jwk(a) is jws.stored_jwk(dict(reversed(list(a.items()))))
    # a changed key (keyChange, or another instance's update) is another entry, never the old key
    assert jws.stored_jwk(b) != jws.stored_jwk(a)
    assert jws.stored_jwk(b) == jws.jwk_from_json(b)


@pytest.mark.parametrize("bad", [
    {**_jwk(P256_A), "d": "AAAA"},  # private material is still refused, and not remembered
    {"kty": "oct", "k": "AAAA"},  # symmetric keys are not account keys
])
def test_stored_jwk_keeps_the_checks(bad):
    for _ in range(2):
        with pytest.raises(AcmeProblem):
            jws.stored_jwk(bad)


def test_stored_jwk_refuses_a_weak_rsa_key():
    weak = josepy.JWKRSA(key=rsa.generate_private_key(65537, 1024).public_key()).to_json()
    with pytest.raises(AcmeProblem):
        jws.stored_jwk(weak)


def test_tx_makes_each_repository_once_on_first_use():
    tx = Tx(connection=object(), dialect="sqlite")  # type: ignore[arg-type]
    assert "certificates" not in vars(tx)
    assert tx.certificates is tx.certificates
    assert tx.audit._conn is tx.connection and tx.audit._dialect == "sqlite"
