"""Unmodified ACME clients against a real `serve --demo` process (issue #3): certbot, lego and the `acme` library.

Names resolve through pebble-challtestsrv (every A → 127.0.0.1), which also publishes dns-01 TXT records through
its management API (the clients' hooks call it, as Pebble's CI does). http-01 is answered from a webroot that a
loopback HTTP server here serves on the gateway's configured http01 port: certbot's and lego's own webroot modes.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest
from cryptography import x509

from gateway_process import start_gateway

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "acme"))
from acme_helpers import ChallTestSrv, free_port  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("pebble-challtestsrv") is None, reason="pebble-challtestsrv not installed"),
]

ROOT = Path(__file__).resolve().parents[1]
CERTBOT = ROOT / ".venv" / "bin" / "certbot"
LEGO = shutil.which("lego")
TIMEOUT = 120


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("acme-clients")
    cts = ChallTestSrv(free_port(), free_port(), free_port(), free_port()).start(http01=False)
    webroot = tmp / "webroot"
    (webroot / ".well-known" / "acme-challenge").mkdir(parents=True)
    http01_port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(webroot))
    http01 = http.server.ThreadingHTTPServer(("127.0.0.1", http01_port), handler)
    thread = threading.Thread(target=http01.serve_forever, daemon=True)
    thread.start()
    gateway = None
    try:
        gateway = start_gateway(tmp, EG_ACME__HTTP01_PORT=str(http01_port),
                                EG_ACME__TLS_ALPN01_PORT=str(cts.tlsalpn01),
                                EG_ACME__DNS_RESOLVERS=f"127.0.0.1:{cts.dns}",
                                EG_ACME__VALIDATION_TIMEOUT_SECONDS="5")
        hooks = _hooks(tmp, cts.management)
        yield {"tmp": tmp, "cts": cts, "webroot": webroot, "gateway": gateway, "demo": gateway.demo,
               "http01_port": http01_port, **hooks}
    finally:
        if gateway is not None:
            gateway.stop()
        http01.shutdown()
        http01.server_close()
        cts.stop()


def _hooks(tmp: Path, management: int) -> dict[str, Path]:
    """dns-01 hooks for certbot (--manual-auth-hook) and lego (EXEC_PATH) that call challtestsrv's API."""
    common = textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys, urllib.request
        def call(path, body):
            req = urllib.request.Request("http://127.0.0.1:{management}" + path, data=json.dumps(body).encode(),
                                         method="POST")
            urllib.request.urlopen(req, timeout=5).read()
        """)
    certbot_auth = common + textwrap.dedent("""\
        host = "_acme-challenge." + os.environ["CERTBOT_DOMAIN"].removeprefix("*.") + "."
        call("/set-txt", {"host": host, "value": os.environ["CERTBOT_VALIDATION"]})
        """)
    certbot_cleanup = common + textwrap.dedent("""\
        host = "_acme-challenge." + os.environ["CERTBOT_DOMAIN"].removeprefix("*.") + "."
        call("/clear-txt", {"host": host})
        """)
    lego_exec = common + textwrap.dedent("""\
        action, fqdn, value = sys.argv[1], sys.argv[2], sys.argv[3]
        call("/set-txt" if action == "present" else "/clear-txt", {"host": fqdn, "value": value})
        """)
    out = {}
    for name, text in (("certbot_auth", certbot_auth), ("certbot_cleanup", certbot_cleanup), ("lego_exec", lego_exec)):
        path = tmp / f"{name}.py"
        path.write_text(text)
        path.chmod(0o755)
        out[name] = path
    return out


def _run(args: list, env_extra: dict, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env={**os.environ, **env_extra}, capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def _verify_chain(env, leaf: Path, chain: Path) -> None:
    result = subprocess.run(["openssl", "verify", "-CAfile", env["demo"]["ca_bundle"], "-untrusted", str(chain),
                             str(leaf)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and ": OK" in result.stdout, result.stdout + result.stderr


def _name(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}.example.test"


# --- certbot -------------------------------------------------------------------------------------------------------


class Certbot:
    def __init__(self, env, tag: str) -> None:
        self.env = env
        self.dir = env["tmp"] / f"certbot-{tag}"
        self.dir.mkdir()
        self.base = ["--non-interactive", "--server", env["demo"]["acme_directory"],
                     "--config-dir", self.dir / "config", "--work-dir", self.dir / "work", "--logs-dir",
                     self.dir / "logs"]

    def __call__(self, *args) -> subprocess.CompletedProcess:
        return _run([CERTBOT, *args, *self.base], {"REQUESTS_CA_BUNDLE": self.env["demo"]["ca_bundle"]}, self.dir)

    def live(self, name: str) -> Path:
        return self.dir / "config" / "live" / name


@pytest.mark.skipif(not CERTBOT.exists(), reason="certbot not installed in .venv")
def test_certbot_http01_issue_renew_revoke(env):
    certbot = Certbot(env, "http")
    name = _name("certbot")
    certbot("register", "--agree-tos", "-m", "a@example.com")
    certbot("certonly", "--webroot", "-w", env["webroot"], "-d", name)
    live = certbot.live(name)
    _verify_chain(env, live / "cert.pem", live / "chain.pem")
    first = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    certbot("renew", "--force-renewal", "--no-random-sleep-on-renew")
    renewed = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    assert renewed.serial_number != first.serial_number
    _verify_chain(env, live / "cert.pem", live / "chain.pem")
    certbot("revoke", "--cert-path", live / "cert.pem", "--reason", "keycompromise", "--no-delete-after-revoke")


@pytest.mark.skipif(not CERTBOT.exists(), reason="certbot not installed in .venv")
def test_certbot_eab_dns01_wildcard(env):
    certbot = Certbot(env, "eab")
    name = _name("wild")
    demo = env["demo"]
    certbot("register", "--agree-tos", "-m", "b@example.com", "--eab-kid", demo["acme_eab_kid"],
            "--eab-hmac-key", demo["acme_eab_hmac_key"])
    certbot("certonly", "--manual", "--preferred-challenges", "dns", "--manual-auth-hook", env["certbot_auth"],
            "--manual-cleanup-hook", env["certbot_cleanup"], "-d", f"*.{name}", "-d", name)
    live = certbot.live(name)
    _verify_chain(env, live / "cert.pem", live / "chain.pem")
    cert = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    sans = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
               .get_values_for_type(x509.DNSName))
    assert sans == {name, f"*.{name}"}


# --- lego ----------------------------------------------------------------------------------------------------------


class Lego:
    def __init__(self, env, tag: str, *extra: str) -> None:
        self.env = env
        self.dir = env["tmp"] / f"lego-{tag}"
        self.dir.mkdir()
        self.base = ["--server", env["demo"]["acme_directory"], "--email", "c@example.com", "--accept-tos",
                     "--path", self.dir / "data", *extra]

    def __call__(self, *args, env_extra: dict | None = None) -> subprocess.CompletedProcess:
        return _run([LEGO, *self.base, *args], {"LEGO_CA_CERTIFICATES": self.env["demo"]["ca_bundle"],
                                                **(env_extra or {})}, self.dir)

    def certificate(self, name: str) -> Path:
        return self.dir / "data" / "certificates" / f"{name.replace('*', '_')}.crt"


def _split_bundle(path: Path) -> tuple[Path, Path]:
    pems = path.read_text().split("-----END CERTIFICATE-----")
    leaf = path.with_suffix(".leaf.pem")
    chain = path.with_suffix(".chain.pem")
    leaf.write_text(pems[0] + "-----END CERTIFICATE-----\n")
    chain.write_text("".join(p + "-----END CERTIFICATE-----\n" for p in pems[1:] if p.strip()))
    return leaf, chain


@pytest.mark.skipif(LEGO is None, reason="lego not installed")
def test_lego_http01_run_renew_revoke(env):
    name = _name("lego")
    lego = Lego(env, "http", "--domains", name, "--http", "--http.webroot", str(env["webroot"]))
    lego("run")
    _verify_chain(env, *_split_bundle(lego.certificate(name)))
    first = x509.load_pem_x509_certificate(lego.certificate(name).read_bytes())
    lego("renew", "--days", "400", "--no-random-sleep")  # the sleep spreads cron fleets; it is client-side only
    renewed = x509.load_pem_x509_certificate(lego.certificate(name).read_bytes())
    assert renewed.serial_number != first.serial_number
    lego("revoke", "--reason", "1")


@pytest.mark.skipif(LEGO is None, reason="lego not installed")
def test_lego_eab_dns01_wildcard(env):
    name = _name("legowild")
    demo = env["demo"]
    lego = Lego(env, "eab", "--eab", "--kid", demo["acme_eab_kid"], "--hmac", demo["acme_eab_hmac_key"],
                "--domains", f"*.{name}", "--dns", "exec", "--dns.disable-cp",
                "--dns.resolvers", f"127.0.0.1:{env['cts'].dns}")
    lego("run", env_extra={"EXEC_PATH": str(env["lego_exec"]), "EXEC_PROPAGATION_TIMEOUT": "10",
                           "EXEC_POLLING_INTERVAL": "1"})
    _verify_chain(env, *_split_bundle(lego.certificate(f"*.{name}")))


def test_demo_json_names_acme(env):
    demo = env["demo"]
    assert demo["acme_directory"].endswith("/directory") and demo["acme_eab_kid"] and demo["acme_eab_hmac_key"]
    json.dumps(demo)


# --- the python `acme` library: the finer paths ------------------------------------------------------------------


def test_acme_library_rollover_deactivation_orders_ari(env):
    import datetime as dt

    import josepy as jose
    from acme import challenges, client, crypto_util, messages
    from acme import jws as acme_jws
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def ec_jwk():
        return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))

    demo = env["demo"]
    key = ec_jwk()
    net = client.ClientNetwork(key, alg=jose.ES256, verify_ssl=demo["ca_bundle"], user_agent="conformance")
    acme = client.ClientV2(client.ClientV2.get_directory(demo["acme_directory"], net), net)
    regr = acme.new_account(messages.NewRegistration.from_data(email="d@example.com", terms_of_service_agreed=True))

    # One order over http-01, answered from the webroot.
    name = _name("pyacme")
    cert_key = ec.generate_private_key(ec.SECP256R1())
    csr = crypto_util.make_csr(cert_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()), [name])
    orderr = acme.new_order(csr)
    for authzr in orderr.authorizations:
        chall = next(c for c in authzr.body.challenges if isinstance(c.chall, challenges.HTTP01))
        response, validation = chall.response_and_validation(net.key)
        (env["webroot"] / ".well-known" / "acme-challenge" / chall.chall.encode("token")).write_text(validation)
        acme.answer_challenge(chall, response)
    orderr = acme.poll_and_finalize(orderr, dt.datetime.now() + dt.timedelta(seconds=60))
    assert "BEGIN CERTIFICATE" in orderr.fullchain_pem

    # ARI (RFC 9773): a renewal time inside the certificate's life.
    renew_at, _next_check = acme.renewal_time(orderr.fullchain_pem.encode())
    assert renew_at is not None

    # The orders list (§7.1.2.1): raw POST-as-GET, which the library has no call for.
    orders_url = acme._post_as_get(regr.uri).json()["orders"]  # the library's Registration drops `orders`
    listed = acme._post_as_get(orders_url).json()
    assert orderr.uri in listed["orders"]

    # Authorization deactivation (§7.5.2), on a fresh order's pending authorization.
    other = acme.new_order(crypto_util.make_csr(cert_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        [_name("deact")]))
    deactivated = acme.deactivate_authorization(other.authorizations[0])
    assert deactivated.body.status == messages.STATUS_DEACTIVATED

    # Key rollover (§7.3.5): raw, the library has no call for it either.
    new_key = ec_jwk()
    key_change_url = acme.directory["keyChange"]
    inner = acme_jws.JWS.sign(json.dumps({"account": regr.uri,
                                          "oldKey": key.public_key().to_partial_json()}).encode(),
                              key=new_key, alg=jose.ES256, nonce=None, url=key_change_url)
    acme.net.post(key_change_url, inner, new_nonce_url=acme.directory["newNonce"])
    net.key = new_key
    assert acme.query_registration(regr).body.status == "valid"

    # Account deactivation (§7.3.6): afterwards the account may do nothing.
    acme.deactivate_registration(regr)
    with pytest.raises(messages.Error) as refused:
        acme.new_order(csr)
    assert refused.value.typ.endswith(":unauthorized")


# --- kill -9 between signing and answering a finalize (issue #7, item 18) ------------------------------------------

BLOCK = 7_018  # the advisory lock the test holds; the triggers below make the gateway's transactions wait on it
BLOCKING_TRIGGERS = """
CREATE FUNCTION eg_test_block() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock({lock}); RETURN NEW; END $$;
-- Order A: the certificate is committed, the order's move to "valid" is not.
CREATE TRIGGER eg_block_attach BEFORE UPDATE ON acme_orders FOR EACH ROW
    WHEN (NEW.id = '{a}' AND NEW.status = 'valid') EXECUTE FUNCTION eg_test_block();
-- Order B: the certificate's own transaction is still open.
CREATE TRIGGER eg_block_sign BEFORE INSERT ON certificates FOR EACH ROW
    WHEN ((NEW.metadata ->> 'acme_order') = '{b}') EXECUTE FUNCTION eg_test_block();
"""


async def _until(predicate, what: str, attempts: int = 600) -> None:
    import asyncio

    for _ in range(attempts):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def test_kill_9_mid_finalize_every_order_converges_after_restart(env):
    """A real `serve` on PostgreSQL is SIGKILLed with two finalizations in flight, each stopped at a known point
    by a lock the test holds: A after its certificate was committed, B before. After a restart, without any client
    request, A has its certificate and B is `ready`; B's second finalize then succeeds (it was orderNotReady for
    ever before the fix, and A stayed `processing` with its certificate never attached)."""
    import asyncio
    import datetime as dt

    import asyncpg
    import josepy as jose
    from acme import challenges, client, crypto_util, messages
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gateway_process import GatewayProcess

    base_url = os.environ.get("EG_TEST_POSTGRES_URL")
    if not base_url:
        pytest.skip("EG_TEST_POSTGRES_URL is not set")
    dsn = base_url.replace("postgresql+asyncpg://", "postgresql://")
    database = f"eg_crash_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    db_dsn = dsn.rsplit("/", 1)[0] + "/" + database
    data_dir = env["tmp"] / f"crash-{database}"
    data_dir.mkdir()
    gateway_env = {"EG_STORAGE__DATABASE_URL": base_url.rsplit("/", 1)[0] + "/" + database,
                   "EG_ACME__HTTP01_PORT": str(env["http01_port"]),
                   "EG_ACME__DNS_RESOLVERS": f"127.0.0.1:{env['cts'].dns}",
                   # Longer than the test takes from finalize to kill, so nothing settles them before the kill.
                   "EG_ACME__FINALIZE_LEASE_SECONDS": "15"}
    first = GatewayProcess(data_dir, free_port(), free_port(), env=gateway_env)
    control = second = None
    try:
        await asyncio.to_thread(first.start)
        demo = first.demo
        net = client.ClientNetwork(jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1())), alg=jose.ES256,
                                   verify_ssl=demo["ca_bundle"], user_agent="conformance-crash", timeout=120)
        acme = client.ClientV2(await asyncio.to_thread(client.ClientV2.get_directory, demo["acme_directory"], net), net)
        await asyncio.to_thread(acme.new_account, messages.NewRegistration.from_data(terms_of_service_agreed=True))
        key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        deadline = dt.datetime.now() + dt.timedelta(seconds=60)

        async def ready_order(name: str):
            orderr = await asyncio.to_thread(acme.new_order, crypto_util.make_csr(key_pem, [name]))
            for authzr in orderr.authorizations:
                chall = next(c for c in authzr.body.challenges if isinstance(c.chall, challenges.HTTP01))
                response, validation = chall.response_and_validation(net.key)
                (env["webroot"] / ".well-known" / "acme-challenge" / chall.chall.encode("token")).write_text(
                    validation)
                await asyncio.to_thread(acme.answer_challenge, chall, response)
            return await asyncio.to_thread(acme.poll_authorizations, orderr, deadline)

        order_a, order_b = await ready_order(_name("crash-a")), await ready_order(_name("crash-b"))
        id_a, id_b = order_a.uri.rsplit("/", 1)[1], order_b.uri.rsplit("/", 1)[1]
        control = await asyncpg.connect(db_dsn)
        await control.execute(BLOCKING_TRIGGERS.format(lock=BLOCK, a=id_a, b=id_b))
        await control.execute("SELECT pg_advisory_lock($1)", BLOCK)

        def finalize(orderr) -> None:  # the answer never comes: the process dies first
            try:
                acme.begin_finalization(orderr)
            except Exception:  # noqa: BLE001 - a reset connection is the expected end
                pass

        in_flight = [asyncio.create_task(asyncio.to_thread(finalize, o)) for o in (order_a, order_b)]

        async def both_waiting() -> bool:
            return await control.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                          "AND NOT granted AND objid = $1", BLOCK) == 2

        await _until(both_waiting, "both finalizations waiting at their crash points")
        first.proc.kill()  # SIGKILL: no shutdown, no cleanup
        first.proc.wait(10)
        await control.execute("SELECT pg_advisory_unlock($1)", BLOCK)

        async def no_gateway_sessions() -> bool:  # their open transactions rolled back with the dead connections
            return await control.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                                          "AND pid <> pg_backend_pid()", database) == 0

        await _until(no_gateway_sessions, "the killed gateway's sessions gone")
        await asyncio.gather(*in_flight)
        await control.execute("DROP TRIGGER eg_block_attach ON acme_orders; DROP TRIGGER eg_block_sign ON certificates")

        async def state(order_id: str):
            return await control.fetchrow(
                "SELECT o.status, o.certificate_id, o.processing_until, (SELECT m.certificate_id FROM "
                "certificate_metadata m WHERE m.key = 'acme_order' AND m.value = o.id) AS signed "
                "FROM acme_orders o WHERE o.id = $1", order_id)

        a, b = await state(id_a), await state(id_b)
        assert (a["status"], a["certificate_id"]) == ("processing", None) and a["signed"] is not None  # the bug
        assert (b["status"], b["signed"]) == ("processing", None)

        async def leases_lapsed() -> bool:
            return await control.fetchval("SELECT count(*) FROM acme_orders WHERE status = 'processing' "
                                          "AND processing_until >= now()") == 0

        await _until(leases_lapsed, "the finalize leases lapsed", attempts=300)
        second = GatewayProcess(data_dir, first.https_port, first.http_port, env=gateway_env)
        await asyncio.to_thread(second.start)  # healthy means the start-up recovery has run; no ACME request yet
        a, b = await state(id_a), await state(id_b)
        assert (a["status"], a["certificate_id"]) == ("valid", a["signed"])
        assert (b["status"], b["certificate_id"], b["processing_until"]) == ("ready", None, None)

        done_a = await asyncio.to_thread(acme.poll_finalization, order_a, deadline, False)
        assert "BEGIN CERTIFICATE" in done_a.fullchain_pem
        done_b = await asyncio.to_thread(acme.finalize_order, order_b, deadline)  # a second finalize works
        assert "BEGIN CERTIFICATE" in done_b.fullchain_pem
    finally:
        for proc in (second, first):
            if proc is not None:
                proc.stop()
        if control is not None:
            await control.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
