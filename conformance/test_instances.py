"""Several real gateway processes on one database (a SQLite file, a PostgreSQL schema).

Item 19: `serve --demo` again, or three at once, leaves exactly one demo (one superadmin, one of each object)
and every instance starts and issues. Item 20: an instance with another key-encryption key refuses to start,
says what to do, and writes nothing; correctly configured instances keep working.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import ssl
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway_process import GatewayProcess, free_port, run_cli

pytestmark = pytest.mark.slow

POSTGRES_URL = os.environ.get("EG_TEST_POSTGRES_URL", "")
TABLES = ("identities", "cas", "policies", "profiles", "applications", "endpoints", "acme_eab_keys",
          "audit_events", "gateway_state", "certificates")


class SharedDatabase:
    """One database for several processes, and a way to count what is in it."""

    def __init__(self, engine: str, tmp_path: Path) -> None:
        self.engine = engine
        if engine == "sqlite":
            self.path = tmp_path / "shared.db"
            self.url = f"sqlite+aiosqlite:///{self.path}"
        else:
            if not POSTGRES_URL:
                pytest.skip("EG_TEST_POSTGRES_URL is not set")
            self.schema = f"t_{uuid.uuid4().hex[:16]}"
            self.url = f"{POSTGRES_URL}?schema={self.schema}"

    def rows(self, where: dict[str, str] | None = None) -> dict[str, int]:
        where = where or {}
        queries = {t: f"SELECT count(*) FROM {t}" + (f" WHERE {where[t]}" if t in where else "") for t in TABLES}
        if self.engine == "sqlite":
            with sqlite3.connect(self.path) as conn:
                return {t: conn.execute(q).fetchone()[0] for t, q in queries.items()}
        return _run(self._pg_rows(queries))

    async def _pg_rows(self, queries: dict[str, str]) -> dict[str, int]:
        engine = create_async_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": self.schema}})
        try:
            async with engine.connect() as conn:
                return {t: (await conn.execute(text(q))).scalar() for t, q in queries.items()}
        finally:
            await engine.dispose()

    def drop(self) -> None:
        if self.engine == "postgresql":
            _run(self._drop())

    async def _drop(self) -> None:
        engine = create_async_engine(POSTGRES_URL)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        finally:
            await engine.dispose()


def _run(coro):
    import asyncio

    return asyncio.run(coro)


def _instance(tmp_path: Path, name: str, env: dict[str, str], ports: tuple[int, int] | None = None,
              **kw) -> GatewayProcess:
    data_dir = tmp_path / name / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return GatewayProcess(data_dir, *(ports or (free_port(), free_port())), env=env, **kw)


def _issue(gw: GatewayProcess, cn: str) -> int:
    demo = gw.demo
    key = subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-nodes", "-keyout", "/dev/null", "-subj", f"/CN={cn}",
                          "-addext", f"subjectAltName=DNS:{cn}"], capture_output=True, text=True, check=True)
    # Each instance is asked at its own address, trusting the demo root it wrote.
    url = f"https://127.0.0.1:{gw.https_port}/api/v1/endpoints/{demo['endpoints']['tls-server']['id']}/certificates"
    req = urllib.request.Request(url, data=json.dumps({"csr": key.stdout}).encode(), method="POST", headers={
        "Authorization": f"Bearer {demo['admin_token']}", "Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=demo["ca_bundle"])
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return r.status


def _one_demo(db: SharedDatabase) -> None:
    counts = db.rows({"identities": "superadmin = true" if db.engine == "postgresql" else "superadmin = 1",
                      "cas": "name LIKE 'demo-%'", "policies": "name LIKE 'demo-%'",
                      "profiles": "name LIKE 'demo-%'", "applications": "name = 'demo'"})
    assert counts["identities"] == 1, counts  # one superadmin, however many instances set up
    assert (counts["cas"], counts["policies"], counts["profiles"], counts["applications"],
            counts["endpoints"], counts["acme_eab_keys"]) == (2, 2, 2, 1, 2, 1), counts


@pytest.mark.parametrize("engine, layout", [
    ("sqlite", "one data_dir"),  # `serve --demo --data-dir D` typed three times: the database and kek.key in D
    ("sqlite", "data_dir each"),  # one database file named by storage.database_url
    pytest.param("postgresql", "data_dir each", marks=pytest.mark.postgres),
])
def test_demo_set_up_once_by_concurrent_and_later_instances(tmp_path, engine, layout):
    shared_db = SharedDatabase(engine, tmp_path)
    # Instances behind one load balancer share the key and the public URLs; here the first one's addresses.
    first_ports = (free_port(), free_port())
    env = {"EG_SERVER__PUBLIC_HTTPS_URL": f"https://127.0.0.1:{first_ports[0]}",
           "EG_SERVER__PUBLIC_HTTP_URL": f"http://127.0.0.1:{first_ports[1]}"}
    if layout == "one data_dir":
        shared_db.path = tmp_path / "gw" / "data" / "gateway.db"
        names = ["gw"] * 3
    else:
        env.update({"EG_STORAGE__DATABASE_URL": shared_db.url,
                    "EG_STORAGE__KEK": base64.b64encode(os.urandom(32)).decode()})
        names = ["gw0", "gw1", "gw2"]
    gws = [_instance(tmp_path, names[i], env, first_ports if i == 0 else None) for i in range(3)]
    try:
        for gw in gws:  # three at once
            gw.launch()
        for gw in gws:
            gw.wait_healthy(120)
        _one_demo(shared_db)
        tokens = {gw.demo["admin_token"] for gw in gws}
        assert len(tokens) == 1, "every instance hands out the one demo admin's token"
        for i, gw in enumerate(gws):
            assert _issue(gw, f"i{i}.example.test") == 201
        # A later start (a restart of the first instance) reuses it too.
        gws[0].stop()
        gws[0] = _instance(tmp_path, names[0], env, first_ports).start(120)
        _one_demo(shared_db)
        assert gws[0].demo["admin_token"] in tokens
        assert _issue(gws[0], "again.example.test") == 201
    finally:
        stopped = [(gw.stop(), gw) for gw in gws]
        shared_db.drop()
    for rc, gw in stopped:
        assert rc in (0, None), gw.output()  # SIGTERM: a clean exit


@pytest.mark.postgres
def test_wrong_key_encryption_key_refused_before_writing(tmp_path):
    db = SharedDatabase("postgresql", tmp_path)
    try:
        ports = (free_port(), free_port())
        env = {"EG_STORAGE__DATABASE_URL": db.url, "EG_SERVER__PUBLIC_HTTPS_URL": f"https://127.0.0.1:{ports[0]}",
               "EG_SERVER__PUBLIC_HTTP_URL": f"http://127.0.0.1:{ports[1]}"}
        first = _instance(tmp_path, "first", env, ports).start(120)  # its key: first/data/kek.key, generated
        try:
            before = db.rows()
            # A second instance started without the first one's key generates its own (the issue's case).
            result = run_cli("serve", "--demo", "--data-dir", str(tmp_path / "second" / "data"),
                             "--https-port", str(free_port()), "--http-port", str(free_port()), env=env,
                             cwd=tmp_path)
            assert result.returncode == 2, result.stderr
            assert "Traceback" not in result.stderr
            message = result.stderr.strip().splitlines()[-1]
            assert "key-encryption key" in message and "kek.key" in message and "storage.kek" in message, message
            assert db.rows() == before  # nothing written: no CA, no admin, no audit event
            # The first instance still works, and one given the right key (the documented fix) starts and issues.
            assert _issue(first, "first.example.test") == 201
            third = _instance(tmp_path, "third", {**env, "EG_STORAGE__KEK_FILE": str(first.data_dir / "kek.key")})
            third.start(120)
            try:
                assert _issue(third, "third.example.test") == 201
            finally:
                assert third.stop() == 0
        finally:
            first.stop()
    finally:
        db.drop()
