"""Challenge validators against the real pebble-challtestsrv and small loopback servers (RFC 8555 §8, RFC 8737)."""

import asyncio
import datetime
import hashlib
import json
import shutil
import socket
import ssl
import struct
import subprocess
import time
import urllib.request
from dataclasses import dataclass, replace

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from acme_helpers import free_port

from protocols.acme import challenges as c

pytestmark = pytest.mark.skipif(shutil.which("pebble-challtestsrv") is None, reason="pebble-challtestsrv not installed")

TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
KEY_AUTH = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


@dataclass
class ChallTestSrv:
    http01: int
    dns01: int
    tlsalpn01: int
    management: int

    def post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.management}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200, path

    def settings(self, **changes) -> c.ValidationSettings:
        base = c.ValidationSettings(
            http01_port=self.http01,
            tls_alpn01_port=self.tlsalpn01,
            dns_resolvers=(f"127.0.0.1:{self.dns01}",),
            timeout_seconds=2.0,
        )
        return replace(base, **changes)


@pytest.fixture(scope="module")
def cts():
    srv = ChallTestSrv(free_port(), free_port(), free_port(), free_port())
    process = subprocess.Popen(
        [
            "pebble-challtestsrv",
            "-http01", f"127.0.0.1:{srv.http01}",
            "-https01", "",
            "-dns01", f"127.0.0.1:{srv.dns01}",
            "-tlsalpn01", f"127.0.0.1:{srv.tlsalpn01}",
            "-management", f"127.0.0.1:{srv.management}",
            "-defaultIPv4", "127.0.0.1",
            "-defaultIPv6", "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", srv.management), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", srv.tlsalpn01), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("pebble-challtestsrv did not start")
                time.sleep(0.05)
        srv.post("/add-http01", {"token": TOKEN, "content": KEY_AUTH})
        yield srv
    finally:
        process.kill()
        process.wait(timeout=5)


# --- http-01 ---------------------------------------------------------------------------------------------------


async def test_http01_success(cts):
    result = await c.validate_http01("example.test", TOKEN, KEY_AUTH, cts.settings())
    assert result.ok and result.problem is None
    (record,) = result.records
    assert record["hostname"] == "example.test" and record["port"] == str(cts.http01)
    assert record["addressesResolved"] == ["127.0.0.1"] and record["addressUsed"] == "127.0.0.1"


async def test_http01_ip_identifier_connects_to_the_ip(cts):
    result = await c.validate_http01("127.0.0.1", TOKEN, KEY_AUTH, cts.settings())
    assert result.ok, result.problem


async def test_http01_wrong_key_authorization(cts):
    result = await c.validate_http01("example.test", TOKEN, TOKEN + ".wrongthumbprint", cts.settings())
    assert not result.ok and result.problem.type == "incorrectResponse"


async def test_http01_unknown_token(cts):
    # challtestsrv answers 200 with an empty body for tokens it does not know, as Pebble's VA then reports.
    result = await c.validate_http01("example.test", "x" * 43, "x" * 43 + ".thumb", cts.settings())
    assert result.problem.type == "incorrectResponse"


async def test_http01_dns_failure(cts):
    settings = cts.settings(dns_resolvers=(f"127.0.0.1:{free_port()}",), timeout_seconds=1.0)
    result = await c.validate_http01("example.test", TOKEN, KEY_AUTH, settings)
    assert result.problem.type == "dns"


async def test_http01_blocked_network_is_never_dialled(cts):
    result = await c.validate_http01("169.254.169.254", TOKEN, KEY_AUTH, cts.settings())
    assert result.problem.type == "dns" and "will not connect" in result.problem.detail


async def test_http01_bad_token_refused_before_any_request(cts):
    result = await c.validate_http01("example.test", "../../etc/passwd", KEY_AUTH, cts.settings())
    assert result.problem.type == "malformed" and result.records == ()


def challenge_app(routes) -> web.Application:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    return app


PATH = f"/.well-known/acme-challenge/{TOKEN}"


async def test_http01_follows_allowed_redirect(cts, aiohttp_server):
    async def start(request):
        raise web.HTTPFound("/moved")  # relative, same scheme and port

    async def moved(request):
        return web.Response(text=KEY_AUTH + "\r\n\n")  # trailing whitespace is ignored (§8.3)

    server = await aiohttp_server(challenge_app({PATH: start, "/moved": moved}))
    result = await c.validate_http01("redirect.test", TOKEN, KEY_AUTH, cts.settings(http01_port=server.port))
    assert result.ok, result.problem
    assert [r["url"].rsplit("/", 1)[1] for r in result.records] == [TOKEN, "moved"]


@pytest.mark.parametrize(
    "location",
    [
        "http://redirect.test:{other}/x",  # another port
        "https://redirect.test:{other}/x",  # https on a port other than the "443" one
        "ftp://redirect.test/x",  # another scheme
        "file:///etc/passwd",
    ],
)
async def test_http01_refuses_redirect(cts, aiohttp_server, location):
    async def start(request):
        raise web.HTTPMovedPermanently(location.format(other=free_port()))

    server = await aiohttp_server(challenge_app({PATH: start}))
    result = await c.validate_http01("redirect.test", TOKEN, KEY_AUTH, cts.settings(http01_port=server.port))
    assert result.problem.type == "connection" and "refused" in result.problem.detail


async def test_http01_redirect_loop_is_bounded(cts, aiohttp_server):
    async def loop(request):
        raise web.HTTPFound(PATH)

    server = await aiohttp_server(challenge_app({PATH: loop}))
    settings = cts.settings(http01_port=server.port, max_redirects=3)
    result = await c.validate_http01("redirect.test", TOKEN, KEY_AUTH, settings)
    assert result.problem.type == "connection" and "too many redirects" in result.problem.detail
    assert len(result.records) == 4


async def test_http01_error_status_is_unauthorized(cts, aiohttp_server):
    server = await aiohttp_server(challenge_app({}))  # every path 404s
    result = await c.validate_http01("example.test", TOKEN, KEY_AUTH, cts.settings(http01_port=server.port))
    assert result.problem.type == "unauthorized" and "404" in result.problem.detail


async def test_http01_silent_server_times_out(cts):
    writers = []

    async def never_answer(reader, writer):
        writers.append(writer)
        await reader.read()  # until the validator gives up and closes
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        settings = cts.settings(http01_port=port, timeout_seconds=1.0)
        result = await c.validate_http01("slow.test", TOKEN, KEY_AUTH, settings)
        assert time.monotonic() - started < 1.8
        assert result.problem.type == "connection" and "Timeout" in result.problem.detail
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_http01_huge_body_read_is_bounded(cts, aiohttp_server):
    sent = 0

    async def huge(request):
        nonlocal sent
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(1000):  # up to 64 MiB if the client kept reading
            await response.write(b"A" * 65536)
            sent += 1
        return response

    server = await aiohttp_server(challenge_app({PATH: huge}))
    result = await c.validate_http01("big.test", TOKEN, KEY_AUTH, cts.settings(http01_port=server.port))
    assert result.problem.type == "incorrectResponse" and "larger than 8192" in result.problem.detail
    assert sent < 1000  # the connection was dropped, not drained


async def test_http01_refused_connection(cts):
    result = await c.validate_http01("example.test", TOKEN, KEY_AUTH, cts.settings(http01_port=free_port()))
    assert result.problem.type == "connection"
    assert result.records[0]["addressesTried"] == ["127.0.0.1"]


# --- dns-01 ----------------------------------------------------------------------------------------------------


async def test_dns01_success_and_wildcard(cts):
    cts.post("/set-txt", {"host": "_acme-challenge.dns.test.", "value": c.dns01_digest(KEY_AUTH)})
    assert (await c.validate_dns01("dns.test", KEY_AUTH, cts.settings())).ok
    result = await c.validate_dns01("*.dns.test", KEY_AUTH, cts.settings())  # wildcards validate at the base
    assert result.ok and result.records == ({"hostname": "dns.test"},)


async def test_dns01_mismatch(cts):
    cts.post("/set-txt", {"host": "_acme-challenge.wrong.test.", "value": c.dns01_digest("other")})
    result = await c.validate_dns01("wrong.test", KEY_AUTH, cts.settings())
    assert result.problem.type == "incorrectResponse" and "_acme-challenge.wrong.test" in result.problem.detail


async def test_dns01_no_record(cts):
    result = await c.validate_dns01("empty.test", KEY_AUTH, cts.settings())
    assert result.problem.type == "unauthorized" and "No TXT record" in result.problem.detail


async def test_dns01_servfail(cts):
    cts.post("/set-servfail", {"host": "_acme-challenge.broken.test."})
    result = await c.validate_dns01("broken.test", KEY_AUTH, cts.settings())
    assert result.problem.type == "dns" and "SERVFAIL" in result.problem.detail


class NXDomain(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        flags = 0x8183  # response, RD, RA, rcode 3
        self.transport.sendto(data[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + data[12:], addr)


async def test_dns01_nxdomain():
    # challtestsrv never answers NXDOMAIN, so a four-line loopback server does.
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(NXDomain, local_addr=("127.0.0.1", 0))
    try:
        settings = c.ValidationSettings(
            dns_resolvers=(f"127.0.0.1:{transport.get_extra_info('sockname')[1]}",), timeout_seconds=1.0
        )
        result = await c.validate_dns01("gone.test", KEY_AUTH, settings)
        assert result.problem.type == "dns" and "NXDOMAIN" in result.problem.detail
    finally:
        transport.close()


async def test_dns01_resolver_timeout():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # bound but never read: queries go unanswered
    try:
        settings = c.ValidationSettings(dns_resolvers=(f"127.0.0.1:{silent.getsockname()[1]}",), timeout_seconds=0.5)
        started = time.monotonic()
        result = await c.validate_dns01("slow.test", KEY_AUTH, settings)
        assert result.problem.type == "dns" and time.monotonic() - started < 1.5
    finally:
        silent.close()


async def test_dns01_refuses_ip_identifier(cts):
    assert (await c.validate_dns01("192.0.2.1", KEY_AUTH, cts.settings())).problem.type == "malformed"


# --- tls-alpn-01 -----------------------------------------------------------------------------------------------


async def test_tls_alpn01_success(cts):
    cts.post("/add-tlsalpn01", {"host": "alpn.test", "content": KEY_AUTH})
    result = await c.validate_tls_alpn01("alpn.test", KEY_AUTH, cts.settings())
    assert result.ok, result.problem
    assert result.records[0]["addressUsed"] == "127.0.0.1"


async def test_tls_alpn01_wrong_digest(cts):
    cts.post("/add-tlsalpn01", {"host": "digest.test", "content": "some.other-key-authorization"})
    result = await c.validate_tls_alpn01("digest.test", KEY_AUTH, cts.settings())
    assert result.problem.type == "incorrectResponse"


async def test_tls_alpn01_no_certificate_for_name(cts):
    result = await c.validate_tls_alpn01("unknown.test", KEY_AUTH, cts.settings())
    assert result.problem.type == "tls"


async def test_tls_alpn01_refused_connection(cts):
    result = await c.validate_tls_alpn01("alpn.test", KEY_AUTH, cts.settings(tls_alpn01_port=free_port()))
    assert result.problem.type == "connection"


def validation_cert(tmp_path, sans, critical=True, alpn=True):
    """A self-signed tls-alpn-01 certificate and a server context that presents it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")])
    now = datetime.datetime.now(datetime.timezone.utc)
    digest = hashlib.sha256(KEY_AUTH.encode()).digest()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.UnrecognizedExtension(c.ID_PE_ACME_IDENTIFIER, b"\x04\x20" + digest), critical=critical)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.set_alpn_protocols(["acme-tls/1"] if alpn else ["http/1.1"])
    return context


@pytest.mark.parametrize(
    "sans, critical, alpn, type_, fragment",
    [
        ([x509.DNSName("own.test")], True, True, None, None),  # our own server, correct: proves the fixture
        ([x509.DNSName("own.test"), x509.DNSName("extra.test")], True, True, "unauthorized", "SANs"),  # one SAN only
        ([x509.DNSName("other.test")], True, True, "unauthorized", "SANs"),
        ([x509.DNSName("own.test")], False, True, "unauthorized", "not critical"),
        ([x509.DNSName("own.test")], True, False, "unauthorized", "ALPN"),  # server ignored acme-tls/1
    ],
)
async def test_tls_alpn01_certificate_rules(cts, tmp_path, sans, critical, alpn, type_, fragment):
    async def serve(reader, writer):
        try:
            await reader.read(1)
        except OSError:
            pass  # the validator aborts once it has the certificate
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=validation_cert(tmp_path, sans, critical, alpn))
    port = server.sockets[0].getsockname()[1]
    try:
        result = await c.validate_tls_alpn01("own.test", KEY_AUTH, cts.settings(tls_alpn01_port=port))
    finally:
        server.close()
        await server.wait_closed()
    if type_ is None:
        assert result.ok, result.problem
    else:
        assert result.problem.type == type_ and fragment in result.problem.detail
