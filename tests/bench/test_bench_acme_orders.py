"""bench/acme_orders.py: the lean client's pieces as tables, and a short real run against Pebble."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import shutil
import ssl
import sys
from pathlib import Path

import aiohttp
import josepy as jose
import pytest
from cryptography import x509

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import acme_procs  # noqa: E402
from acme_client import AcmeClient, Http01Responder, PollPolicy, b64decode, parse_retry_after  # noqa: E402
from acme_orders import LevelResult, Target, parse_args, run_level, run_target  # noqa: E402

NOW = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("value, seconds", [
    (None, None),  # absent
    ("", None),  # empty header
    ("3", 3.0),  # delta-seconds, the form the issue asks servers to send
    (" 7 ", 7.0),  # surrounding whitespace
    ("soon", None),  # unreadable: fall back to the poll interval
    ("Wed, 01 Jan 2025 12:00:10 GMT", 10.0),  # HTTP-date in the future
    ("Wed, 01 Jan 2025 11:00:00 GMT", 0.0),  # HTTP-date in the past: no wait
])
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("value, delay", [
    (None, 0.05),  # no Retry-After: the interval
    ("0", 0.01),  # zero would spin: a small floor
    ("1", 1.0),  # honoured up to the cap
    ("30", 2.0),  # capped
])
def test_poll_delay(value, delay):
    assert PollPolicy(interval=0.05, cap=2.0).delay(value, NOW) == delay


@pytest.mark.parametrize("values, q, expected", [
    ([1.0], 0.99, 1.0),  # one sample is every percentile
    ([3.0, 1.0, 2.0], 0.5, 2.0),  # median of three, unsorted input
    ([float(i) for i in range(1, 101)], 0.99, 99.0),  # nearest rank
    ([float(i) for i in range(1, 21)], 0.99, 20.0),  # 20 orders: p99 is the slowest
])
def test_percentile(values, q, expected):
    assert LevelResult(1, len(values), latencies=values).pct(q) == expected


async def test_jws_is_flattened_es256_with_jwk_then_kid():
    async with aiohttp.ClientSession() as session:
        client = AcmeClient(session, "https://unused/dir")
        public = jose.JWKEC(key=client.key).public_key()
        for kid, payload in ((None, {"a": 1}), ("https://ca/acct/1", None)):
            client.kid = kid
            jws = json.loads(client.jws("https://ca/x", payload, "n0nce"))
            protected = json.loads(b64decode(jws["protected"]))
            assert protected["alg"] == "ES256" and protected["url"] == "https://ca/x" and protected["nonce"] == "n0nce"
            assert ("kid" in protected) == bool(kid) and ("jwk" in protected) == (not kid)
            # POST-as-GET (RFC 8555 §6.3) sends an empty payload, not "{}" or "null"
            assert (json.loads(b64decode(jws["payload"])) if jws["payload"] else None) == payload
            signed = f"{jws['protected']}.{jws['payload']}".encode()
            assert jose.ES256.verify(public.key, signed, b64decode(jws["signature"]))


async def test_external_account_binding_macs_the_account_key():
    async with aiohttp.ClientSession() as session:
        client = AcmeClient(session, "https://unused/dir")
        client.directory = {"newAccount": "https://ca/new-acct"}
        key = b"k" * 32
        eab = client._eab("kid-1", jose.b64encode(key).decode())
        assert json.loads(b64decode(eab["protected"])) == {"alg": "HS256", "kid": "kid-1",
                                                             "url": "https://ca/new-acct"}
        assert json.loads(b64decode(eab["payload"])) == client.jwk_json
        mac = hmac.new(key, f"{eab['protected']}.{eab['payload']}".encode(), hashlib.sha256).digest()
        assert b64decode(eab["signature"]) == mac


@pytest.mark.parametrize("argv, error", [
    (["--levels", "1,8", "--orders", "5"], "one count per level"),
    (["--gateway-directory", "https://x/dir", "--start-gateway"], "exclude each other"),
])
def test_bad_arguments(argv, error, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert error in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("pebble") and shutil.which("pebble-challtestsrv")), reason="no pebble")
async def test_complete_orders_against_pebble(tmp_path):
    responder = await Http01Responder().start()
    started = []
    try:
        challtestsrv, dns_port = acme_procs.start_challtestsrv(tmp_path)
        started.append(challtestsrv)
        pebble = acme_procs.start_pebble(tmp_path, responder.port, dns_port)
        started.append(pebble.process)
        context = ssl.create_default_context(cafile=str(pebble.ca_bundle))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
            client = AcmeClient(session, pebble.directory_url)
            await client.register()
            order = await client.issue("one.bench.test", responder)
            leaf = x509.load_pem_x509_certificates(order.certificate_pem.encode())[0]
            sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert sans.get_values_for_type(x509.DNSName) == ["one.bench.test"]
            assert responder.hits >= 1 and responder.tokens == {}  # answered, then cleaned up
            result = await run_level(client, responder, 4, 6, 30.0, "t", 0, pebble.process.pid)
            assert (result.ok, sum(result.errors.values())) == (6, 0)
        target = Target("pebble", pebble.directory_url, context, pebble.process.pid)
        levels = await run_target(target, responder, [1, 2], [2, 3], 30.0, PollPolicy(), "u")
        assert [r.ok for r in levels] == [2, 3]
    finally:
        for process in reversed(started):
            process.stop()
        await responder.stop()


async def test_watch_abandons_a_wedged_level():
    from acme_orders import _watch
    result = LevelResult(2, 2)
    workers = [asyncio.create_task(asyncio.sleep(60)) for _ in range(2)]  # a server that never answers
    await asyncio.wait_for(_watch(workers, result, 0.6), 5)
    assert result.stalled and sum(result.errors.values()) == 2 and all(w.cancelled() for w in workers)


async def test_watch_surfaces_a_driver_bug():
    from acme_orders import _watch

    async def broken():
        raise TypeError("driver bug")

    with pytest.raises(TypeError):
        await _watch([asyncio.create_task(broken())], LevelResult(1, 1), 5)
