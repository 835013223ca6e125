"""Property-based fuzzing of the OCSP request parser over HTTP (issue 7): whatever arrives at any OCSP URL, by POST
or GET, the answer is an OCSP response (malformedRequest, unauthorized, or a real answer) or a 4xx, never a 5xx
or internalError, and nothing in storage changes.

A real gateway on a loopback port (its own event loop in a thread), driven by a plain HTTP client.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import threading
import urllib.parse
from dataclasses import dataclass

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.server.app import create_app
from enrollment_gateway.storage import Database

from revocation_world import build_world, gateway_config
from test_revocation_service import issuer_pem

ALLOWED = {ocsp.OCSPResponseStatus.SUCCESSFUL, ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
           ocsp.OCSPResponseStatus.UNAUTHORIZED}
TABLES = ("certificates", "revoked_certificates", "ca_revocations", "cas", "crls", "keys", "audit_events",
          "counters")


@dataclass
class LiveGateway:
    port: int
    ca_ids: list[str]
    seeds: list[bytes]  # valid requests to mutate
    loop: asyncio.AbstractEventLoop
    gateway: Gateway

    def call(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _state(self) -> dict[str, int]:
        out = {}
        async with self.gateway.db.engine.connect() as conn:
            for table in TABLES:
                out[table] = (await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one()
            out["counter_sum"] = (await conn.execute(text("SELECT COALESCE(SUM(value), 0) FROM counters"))).scalar()
        return out

    def state(self) -> dict[str, int]:
        return self.call(self._state())

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Content-Type": "application/ocsp-request"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type", ""), r.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    data = tmp_path_factory.mktemp("ocsp-fuzz")
    loop = asyncio.new_event_loop()
    ready: dict = {}

    async def start():
        db = await Database.open(f"sqlite+aiosqlite:///{data}/gateway.db")
        gateway = await Gateway.open(gateway_config(data / "data"), database=db)
        world = await build_world(gateway)
        good, bad = await world.issue("good.example.com"), await world.issue("bad.example.com")
        await gateway.revocation.revoke(world.admin, bad.id, "key_compromise")
        seeds = []
        for cert in (good, bad):
            leaf, issuer = (x509.load_pem_x509_certificate(p.encode()) for p in (cert.certificate_pem,
                                                                                 issuer_pem(cert)))
            for algorithm in (hashes.SHA1(), hashes.SHA256()):
                builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, algorithm)
                seeds.append(builder.build().public_bytes(serialization.Encoding.DER))
                seeds.append(builder.add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
                             .build().public_bytes(serialization.Encoding.DER))
        runner = web.AppRunner(create_app(gateway.config, gateway=gateway))  # the plain-HTTP guard is on
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready.update(runner=runner, db=db, gateway=gateway, port=runner.addresses[0][1],
                     ca_ids=[world.issuing_id, world.root_id], seeds=seeds)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="ocsp-fuzz-gateway", daemon=True)
    thread.start()
    for _ in range(600):  # bounded: at most 60 s to come up
        if "port" in ready or not thread.is_alive():
            break
        threading.Event().wait(0.1)
    assert "port" in ready, "the gateway did not start"
    live = LiveGateway(ready["port"], ready["ca_ids"], ready["seeds"], loop, ready["gateway"])
    # Warm up once, so lazily made state (the delegated responder's key) exists before the snapshot.
    for seed in live.seeds:
        live.request("POST", "/ocsp", seed)
    try:
        yield live
    finally:
        async def stop():
            await ready["runner"].cleanup()
            await ready["gateway"].close()
            await ready["db"].close()
        live.call(stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete", "length"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[i:]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[i:i + draw(st.integers(1, 8))]
        else:  # a length octet made huge or zero: the parser's bounds
            data[i] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF]))
    return bytes(data)


def _check(status: int, content_type: str, body: bytes) -> None:
    assert status < 500, (status, body[:200])
    if status == 200:
        assert content_type == "application/ocsp-response", content_type
        assert ocsp.load_der_ocsp_response(body).response_status in ALLOWED


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


def test_fuzzed_ocsp_requests_get_ocsp_errors_never_5xx_and_change_nothing(live):
    before = live.state()

    @FUZZ
    @given(data=st.data())
    def one(data) -> None:
        body = data.draw(st.one_of(mutated(live.seeds), st.binary(max_size=600)), label="body")
        ca = data.draw(st.sampled_from([*live.ca_ids, None, "0" * 32, "x"]), label="ca")
        path = "/ocsp" if ca is None else f"/ocsp/{ca}"
        if data.draw(st.booleans(), label="get"):
            encoded = base64.b64encode(body).decode()
            if data.draw(st.booleans(), label="percent-encode"):
                encoded = urllib.parse.quote(encoded, safe="")
            _check(*live.request("GET", f"{path}/{encoded}"))
        else:
            _check(*live.request("POST", path, body))

    one()
    assert live.state() == before


def test_fuzzed_get_paths_get_ocsp_errors_never_5xx_and_change_nothing(live):
    before = live.state()

    @FUZZ
    @given(tail=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=300))
    def one(tail: str) -> None:
        path = "/ocsp/" + urllib.parse.quote(tail, safe="/+=%:@!$&'()*,;")
        _check(*live.request("GET", path))

    one()
    assert live.state() == before


def test_the_seeds_themselves_are_answered(live):
    for seed in live.seeds:
        status, content_type, body = live.request("POST", "/ocsp", seed)
        assert status == 200 and ocsp.load_der_ocsp_response(body).response_status is \
            ocsp.OCSPResponseStatus.SUCCESSFUL
