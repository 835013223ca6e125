"""Inventory at scale: bulk-load certificate rows, then time the listing filters and the details lookup (issue #2).

    .venv/bin/python bench/inventory.py --rows 100000              # both engines, repository layer + HTTP API
    .venv/bin/python bench/inventory.py --engines sqlite --no-api

Rows go straight into the tables with SQLAlchemy Core bulk inserts (not through issuance): several applications
and profiles, 5% revoked, 10% expired, not_after spread over the next 400 days (expired ones over the last 700),
1-3 metadata pairs each, CN and SANs. Each engine gets a fresh database: a SQLite file in a temp dir and a
dedicated PostgreSQL schema, dropped afterwards. Then one 50-row page per filter, through
`tx.certificates.list(CertificateFilter(...), 50, 0)` and, unless --no-api, through a real `serve --demo` process
on the same database (GET /api/v1/certificates?...). Target: every page under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import ssl
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from enrollment_gateway.domain import CertificateStatus  # noqa: E402
from enrollment_gateway.storage import tables as t  # noqa: E402
from enrollment_gateway.storage.engine import Database  # noqa: E402
from enrollment_gateway.storage.repositories import CertificateFilter  # noqa: E402

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
UTC = dt.timezone.utc
N_APPS, N_PROFILES, N_TEAMS, N_SERVICES = 6, 8, 50, 10_000
TTLS = ((30, 0.2), (90, 0.5), (365, 0.25), (825, 0.05))  # days, share
BATCH = 5_000


def _gateway_process_module():
    """conformance/gateway_process.py (conformance/ is a folder of tests, not a package)."""
    sys.path.insert(0, str(ROOT / "conformance"))
    import gateway_process

    return gateway_process


# --- the data ------------------------------------------------------------------------------------------------------


def _sample_pems() -> tuple[str, str]:
    """A real leaf and CA certificate (so the details route can parse what it reads), reused on every row."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(UTC)

    def cert(subject: str, key, issuer: str, signer, ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now)
             .not_valid_after(now + dt.timedelta(days=90))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return b.sign(signer, hashes.SHA256())

    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    return (pem(cert("svc-0001-1.team-01.example.com", leaf_key, "Bench CA", ca_key, False)),
            pem(cert("Bench CA", ca_key, "Bench CA", ca_key, True)))


async def load(db: Database, rows: int, seed: int = 1) -> dict[str, Any]:
    """Insert the prerequisites and `rows` certificates; returns ids and values the queries use."""
    rnd = random.Random(seed)
    now = dt.datetime.now(UTC)
    leaf_pem, chain_pem = _sample_pems()
    ca_id, policy_id = uuid.uuid4().hex, uuid.uuid4().hex
    apps = [uuid.uuid4().hex for _ in range(N_APPS)]
    profiles = [uuid.uuid4().hex for _ in range(N_PROFILES)]
    tag = uuid.uuid4().hex[:8]  # names are unique: the demo's rows may already be there
    async with db.engine.begin() as conn:
        await conn.execute(insert(t.cas), {
            "id": ca_id, "name": f"bench-ca-{tag}", "key_algorithm": "ECDSA_P256", "hash_algorithm": None,
            "status": "active", "certificate_pem": chain_pem, "chain_pem": "", "parent_id": None,
            "path_length": 0, "validity_days": 1825, "created_at": now, "csr_pem": None, "external_parent": False,
            "key_blob": b"\0" * 64})
        await conn.execute(insert(t.policies), {"id": policy_id, "name": f"bench-policy-{tag}", "description": "",
                                                "rules": {}, "created_at": now})
        await conn.execute(insert(t.profiles), [{
            "id": p, "name": f"bench-profile-{tag}-{i}", "description": "", "ca_id": ca_id, "policy_id": policy_id,
            "defaults": {}, "enrollment": {"api": {}}, "approval_required": False, "auto_renew": False,
            "renew_before_days": 30, "created_at": now} for i, p in enumerate(profiles)])
        await conn.execute(insert(t.applications), [{"id": a, "name": f"bench-app-{tag}-{i}", "description": "",
                                                     "created_at": now} for i, a in enumerate(apps)])

    ttl_days = [d for d, _ in TTLS]
    ttl_weights = [w for _, w in TTLS]
    app_weights = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04]
    profile_weights = [0.35, 0.2, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02]
    generated = []
    for i in range(rows):
        ttl = dt.timedelta(days=rnd.choices(ttl_days, ttl_weights)[0])
        bucket = rnd.random()
        if bucket < 0.10:  # expired: not_after somewhere in the last 700 days
            not_after = now - dt.timedelta(seconds=rnd.uniform(3600, 700 * 86400))
        else:  # active or revoked: not_after within the certificate's lifetime from now
            not_after = now + dt.timedelta(seconds=rnd.uniform(3600, ttl.total_seconds()))
        created = not_after - ttl
        revoked = 0.10 <= bucket < 0.15
        generated.append((created, not_after, revoked))
    generated.sort(key=lambda g: g[0])  # rows arrive as they were issued, oldest first

    ids: list[str] = []
    metadata_rows: list[dict] = []
    cert_rows: list[dict] = []
    started = time.perf_counter()

    async def flush() -> None:
        async with db.engine.begin() as conn:
            if cert_rows:
                await conn.execute(insert(t.certificates), cert_rows)
            if metadata_rows:
                await conn.execute(insert(t.certificate_metadata), metadata_rows)
        cert_rows.clear()
        metadata_rows.clear()

    for i, (created, not_after, revoked) in enumerate(generated):
        cid = uuid.uuid4().hex
        ids.append(cid)
        team = f"team-{rnd.randrange(N_TEAMS):02d}"
        service = f"svc-{rnd.randrange(N_SERVICES):04d}"
        cn = f"{service}-{i}.{team}.example.com"
        sans = [f"DNS:{cn}"] + ([f"DNS:www.{cn}"] if rnd.random() < 0.3 else [])
        pairs = {"env": rnd.choices(["prod", "staging", "dev"], [0.6, 0.25, 0.15])[0]}
        if rnd.random() < 0.6:
            pairs["team"] = team
        if rnd.random() < 0.4:
            pairs["service"] = service
        cert_rows.append({
            "id": cid, "issuer_key": ca_id, "serial": rnd.getrandbits(127) | (1 << 126), "ca_id": ca_id,
            "application_id": rnd.choices(apps, app_weights)[0], "profile_id": rnd.choices(profiles, profile_weights)[0],
            "request_id": None, "subject": f"CN={cn}", "common_name": cn, "sans": sans,
            "search_text": "\n".join([cn, *sans]).lower(), "not_before": created, "not_after": not_after,
            "key_algorithm": "ECDSA_P256", "signature_algorithm": "ECDSA_SHA256",
            "fingerprint_sha256": "%064x" % rnd.getrandbits(256), "certificate_pem": leaf_pem, "chain_pem": chain_pem,
            "metadata": pairs, "created_at": created, "managed_key_blob": None,
            "revoked_at": created + (not_after - created) / 3 if revoked else None,
            "revocation_reason": "key_compromise" if revoked else None, "invalidity_date": None,
            "replaces_id": ids[-2] if i and rnd.random() < 0.05 else None, "is_ca": False,
        })
        metadata_rows.extend({"certificate_id": cid, "key": k, "value": v, "created_at": created}
                             for k, v in pairs.items())
        if len(cert_rows) >= BATCH:
            await flush()
            if (i + 1) % 100_000 == 0:
                print(f"    {i + 1:>9} rows  {(i + 1) / (time.perf_counter() - started):7.0f} rows/s", flush=True)
    await flush()
    elapsed = time.perf_counter() - started
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))  # what an operator's autovacuum / sqlite's optimize would have done
    print(f"    loaded {rows} certificates in {elapsed:.0f}s ({rows / elapsed:.0f} rows/s)", flush=True)
    return {"now": now, "apps": apps, "profiles": profiles, "ids": ids, "rnd": rnd}


# --- the queries ---------------------------------------------------------------------------------------------------


def cases(info: dict[str, Any]) -> list[tuple[str, CertificateFilter, dict[str, str]]]:
    """(label, repository filter, API query) for each filter the issue names, common and rare variants."""
    now, apps, profiles = info["now"], info["apps"], info["profiles"]
    soon = now + dt.timedelta(days=30)
    F = lambda **kw: CertificateFilter(now=now, **kw)  # noqa: E731
    S = CertificateStatus
    return [
        ("all, newest first", F(), {}),
        ("status=active", F(status=S.ACTIVE), {"status": "active"}),
        ("status=expired", F(status=S.EXPIRED), {"status": "expired"}),
        ("status=revoked", F(status=S.REVOKED), {"status": "revoked"}),
        ("profile (common)", F(profile_id=profiles[0]), {"profile_id": profiles[0]}),
        ("profile (rare)", F(profile_id=profiles[-1]), {"profile_id": profiles[-1]}),
        ("profile + expired", F(profile_id=profiles[-1], status=S.EXPIRED),
         {"profile_id": profiles[-1], "status": "expired"}),
        ("expiring within 30d", F(status=S.ACTIVE, expiring_before=soon),
         {"status": "active", "expiring_within_days": "30"}),
        ("app + expiring 30d", F(application_ids=(apps[-1],), status=S.ACTIVE, expiring_before=soon),
         {"application_id": apps[-1], "status": "active", "expiring_within_days": "30"}),
        ("metadata env=prod", F(metadata=(("env", "prod"),)), {"metadata": "env=prod"}),
        ("metadata team=team-07", F(metadata=(("team", "team-07"),)), {"metadata": "team=team-07"}),
        ("metadata service (rare)", F(metadata=(("service", "svc-1234"),)), {"metadata": "service=svc-1234"}),
        ("metadata absent pair", F(metadata=(("env", "nowhere"),)), {"metadata": "env=nowhere"}),
        ("metadata 2 pairs", F(metadata=(("env", "prod"), ("team", "team-07"))),
         {"metadata": ["env=prod", "team=team-07"]}),
        ("CN substring (common)", F(text="team-07"), {"q": "team-07"}),
        ("CN substring (rare)", F(text="svc-1234-"), {"q": "svc-1234-"}),
        ("CN substring (absent)", F(text="no-such-host"), {"q": "no-such-host"}),
        ("app + CN substring", F(application_ids=(apps[-1],), text="svc-12"),
         {"application_id": apps[-1], "q": "svc-12"}),
    ]


async def _time(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float, Any]:
    """(first run ms, median ms of the next `repeat`, the last result)."""
    t0 = time.perf_counter()
    result = await call()
    first = (time.perf_counter() - t0) * 1000
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = await call()
        runs.append((time.perf_counter() - t0) * 1000)
    return first, statistics.median(runs), result


async def time_repository(db: Database, info: dict[str, Any], repeat: int) -> dict[str, float]:
    out = {}
    for label, f, _ in cases(info):
        async def page(f=f):
            async with db.transaction(readonly=True) as tx:
                return await tx.certificates.list(f, 50, 0)
        first, median, result = await _time(page, repeat)
        out[label] = median
        print(f"    {label:26} {median:8.1f} ms  (first {first:7.1f} ms, {len(result)} rows)", flush=True)
    ids = info["ids"]
    picks = [ids[info["rnd"].randrange(len(ids))] for _ in range(repeat + 1)]

    async def details():
        async with db.transaction(readonly=True) as tx:
            cert = await tx.certificates.get(picks.pop())
            return await tx.certificates.renewal_chain(cert.id)
    first, median, _ = await _time(details, repeat)
    out["details by id"] = median
    print(f"    {'details by id':26} {median:8.1f} ms  (first {first:7.1f} ms)", flush=True)
    return out


async def time_api(api_url: str, token: str, bundle: str, info: dict[str, Any], repeat: int) -> dict[str, float]:
    ctx = ssl.create_default_context(cafile=bundle)
    out = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, ssl=ctx)) as session:
        async def get(url: str):
            async with session.get(url, headers=headers) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{url}: {resp.status} {body[:300]!r}")
                return json.loads(body)

        await get(f"{api_url}/certificates?limit=1")  # TLS handshake outside the timings
        for label, _, query in cases(info):
            url = f"{api_url}/certificates?" + urllib.parse.urlencode({**query, "limit": "50"}, doseq=True)
            first, median, result = await _time(lambda url=url: get(url), repeat)
            out[label] = median
            print(f"    {label:26} {median:8.1f} ms  (first {first:7.1f} ms, {len(result['items'])} rows)",
                  flush=True)
        ids = info["ids"]
        picks = [ids[info["rnd"].randrange(len(ids))] for _ in range(repeat + 1)]
        first, median, _ = await _time(lambda: get(f"{api_url}/certificates/{picks.pop()}"), repeat)
        out["details by id"] = median
        print(f"    {'details by id':26} {median:8.1f} ms  (first {first:7.1f} ms)", flush=True)
    return out


# --- per engine ----------------------------------------------------------------------------------------------------


async def _open_and_load(url: str, rows: int, schema: str | None) -> dict[str, Any]:
    db = await Database.open(url, schema=schema)
    try:
        return await load(db, rows)
    finally:
        await db.close()


def run_engine(engine: str, rows: int, repeat: int, api: bool) -> dict[str, dict[str, float]]:
    tmp = tempfile.TemporaryDirectory(prefix=f"eg-inv-{engine}-")
    data_dir = Path(tmp.name) / "data"
    data_dir.mkdir()
    schema = f"bench_inventory_{uuid.uuid4().hex[:8]}" if engine == "postgresql" else None
    url = PG_URL if engine == "postgresql" else f"sqlite+aiosqlite:///{data_dir / 'gateway.db'}"
    results: dict[str, dict[str, float]] = {}
    gw = None
    try:
        print(f"== {engine}: loading {rows} rows" + (f" into schema {schema}" if schema else ""), flush=True)
        info = asyncio.run(_open_and_load(url, rows, schema))

        async def repo() -> dict[str, float]:
            db = await Database.open(url, schema=schema)
            try:
                return await time_repository(db, info, repeat)
            finally:
                await db.close()

        print(f"  repository layer, one 50-row page, median of {repeat}:", flush=True)
        results["repository"] = asyncio.run(repo())
        if api:
            env = {"EG_STORAGE__DATABASE_URL": f"{PG_URL}?schema={schema}"} if schema else {}
            gw = _gateway_process_module().GatewayProcess(data_dir, *_two_ports(), env=env).start()
            demo = gw.demo
            print(f"  HTTP API (GET {demo['api_url']}/certificates?...), median of {repeat}:", flush=True)
            results["api"] = asyncio.run(time_api(demo["api_url"], demo["admin_token"], demo["ca_bundle"], info,
                                                  repeat))
    finally:
        if gw is not None:
            gw.stop()
        if schema is not None:
            asyncio.run(_drop_schema(schema))
        tmp.cleanup()
    return results


def _two_ports() -> tuple[int, int]:
    gp = _gateway_process_module()
    return gp.free_port(), gp.free_port()


async def _drop_schema(schema: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(PG_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query (after one untimed)")
    parser.add_argument("--no-api", action="store_true", help="time the repository layer only")
    args = parser.parse_args()
    summary = {}
    for engine in args.engines.split(","):
        summary[engine] = run_engine(engine, args.rows, args.repeat, not args.no_api)
    worst = max((ms, engine, layer, label) for engine, layers in summary.items()
                for layer, res in layers.items() for label, ms in res.items())
    print(f"slowest page: {worst[0]:.1f} ms ({worst[1]}, {worst[2]}, {worst[3]}); target < 200 ms: "
          f"{'met' if worst[0] < 200 else 'MISSED'}")
    print(json.dumps({"rows": args.rows, **summary}))


if __name__ == "__main__":
    main()
