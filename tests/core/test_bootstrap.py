"""Start-up checks in the core: the key-encryption key must be the database's, and the URLs CA certificates
carry must be the ones this gateway serves. On each storage engine."""

from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import delete, func, select

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.config import StartupError, load_config
from enrollment_gateway.core.bootstrap import KEK_CHECK, check_stamped_urls
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.domain import SYSTEM_ACTOR
from enrollment_gateway.storage.gateway_state import gateway_state


def _config(tmp_path, kek: bytes, **env: str):
    return load_config(None, environ={"EG_STORAGE__DATA_DIR": str(tmp_path / "data"),
                                      "EG_STORAGE__KEK": base64.b64encode(kek).decode(), **env})


async def _rows(database) -> int:
    async with database.transaction(readonly=True) as tx:
        return (await tx.connection.execute(select(func.count()).select_from(gateway_state))).scalar()


async def test_the_first_key_becomes_the_reference_and_another_is_refused(database, tmp_path):
    first, other = os.urandom(32), os.urandom(32)
    gateway = await Gateway.open(_config(tmp_path, first), database=database)
    await gateway.close()
    assert await _rows(database) == 1  # the check value, wrapped under the first key
    with pytest.raises(StartupError, match="storage.kek.*same key"):
        await Gateway.open(_config(tmp_path, other), database=database)
    assert await _rows(database) == 1
    await (await Gateway.open(_config(tmp_path, first), database=database)).close()  # the right key still opens


async def test_a_database_from_before_the_check_is_judged_by_its_ca_keys(database, tmp_path):
    first, other = os.urandom(32), os.urandom(32)
    gateway = await Gateway.open(_config(tmp_path, first), database=database)
    await gateway.authorities.create_root(SYSTEM_ACTOR, name="old-root", subject=[("CN", "Old Root")],
                                          key_algorithm=KeyAlgorithm.ECDSA_P256)
    await gateway.close()
    async with database.transaction() as tx:  # as a database made before the check value existed
        await tx.connection.execute(delete(gateway_state).where(gateway_state.c.name == KEK_CHECK))
    # An upgrade started with the wrong key must not make its key the reference.
    with pytest.raises(StartupError, match="key-encryption key"):
        await Gateway.open(_config(tmp_path, other), database=database)
    assert await _rows(database) == 0
    await (await Gateway.open(_config(tmp_path, first), database=database)).close()
    assert await _rows(database) == 1


async def test_ca_urls_from_other_ports_refuse_the_start_unless_the_url_is_explicit(database, tmp_path):
    kek = os.urandom(32)
    made = await Gateway.open(_config(tmp_path, kek, EG_SERVER__HTTP_PORT="8080"), database=database)
    root = await made.authorities.create_root(SYSTEM_ACTOR, name="r", subject=[("CN", "R")],
                                              key_algorithm=KeyAlgorithm.ECDSA_P256, path_length=1)
    assert await check_stamped_urls(made) is None  # a root carries no URLs of ours
    await made.authorities.create_intermediate(SYSTEM_ACTOR, name="i", parent_id=root.id, subject=[("CN", "I")],
                                               key_algorithm=KeyAlgorithm.ECDSA_P256)
    assert await check_stamped_urls(made) is None  # what it carries is what this configuration serves
    await made.close()
    moved = await Gateway.open(_config(tmp_path, kek, EG_SERVER__HTTP_PORT="9090"), database=database)
    with pytest.raises(StartupError, match=r"'i'.*http://127\.0\.0\.1:8080.*http://127\.0\.0\.1:9090"):
        await check_stamped_urls(moved)
    await moved.close()
    explicit = await Gateway.open(_config(tmp_path, kek, EG_SERVER__PUBLIC_HTTP_URL="http://pki.example.com"),
                                  database=database)
    assert "warning" in await check_stamped_urls(explicit)  # the operator's word wins, loudly
    await explicit.close()


async def test_a_leaf_from_a_root_counts_as_stamped_too(world):
    # A root carries no URLs, but what it issues does: a restart on other ports must see those as well.
    from enrollment_gateway.core.urls import UrlBuilder, stamped_http_bases

    from test_issuance import ANY_DNS, issue, make_csr  # tests/core is on sys.path (no packages in tests/)

    _, ep = await world.profile("from-root", ANY_DNS, ca_id=world.root_id)
    cert = (await world.gateway.issuance.issue(issue(world, ep, csr=make_csr()))).certificate
    leaf = [("leaf", cert.ca_id, cert.certificate_pem)]
    assert stamped_http_bases(leaf, world.gateway.urls) == {}
    moved = UrlBuilder("https://127.0.0.1:8443", "http://127.0.0.1:9090")
    assert stamped_http_bases(leaf, moved) == {"leaf": "http://pki.example.com"}
