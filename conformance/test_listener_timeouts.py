"""Slow clients on both listeners of a real gateway: a connection that sends nothing, or drips a request head or
body one byte at a time, is closed. Small timeouts are configured so the bounded waits stay short; each case uses a
process where only the timeout under test is small, so it cannot pass thanks to the other one."""

from __future__ import annotations

import itertools
import socket
import ssl
import time

import pytest

from gateway_process import start_gateway

pytestmark = pytest.mark.slow

WAIT = 20.0  # bounded wait for the server to close; the configured timeouts are 1 s
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: " + b"a" * 400


@pytest.fixture(scope="module")
def header_gw(tmp_path_factory):
    """Header-read timeout 1 s, idle timeout long."""
    gw = start_gateway(tmp_path_factory.mktemp("header"), EG_SERVER__HEADER_READ_TIMEOUT_SECONDS="1",
                       EG_SERVER__IDLE_TIMEOUT_SECONDS="300")
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def body_gw(tmp_path_factory):
    """Body-read timeout 1 s, the others long."""
    gw = start_gateway(tmp_path_factory.mktemp("body"), EG_SERVER__BODY_READ_TIMEOUT_SECONDS="1",
                       EG_SERVER__HEADER_READ_TIMEOUT_SECONDS="300", EG_SERVER__IDLE_TIMEOUT_SECONDS="300")
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def idle_gw(tmp_path_factory):
    """Idle timeout 1 s, header-read timeout long."""
    gw = start_gateway(tmp_path_factory.mktemp("idle"), EG_SERVER__HEADER_READ_TIMEOUT_SECONDS="300",
                       EG_SERVER__IDLE_TIMEOUT_SECONDS="1")
    yield gw
    gw.stop()


def _connect(gw, listener: str, handshake: bool = True) -> socket.socket:
    port = gw.https_port if listener == "https" else gw.http_port
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if listener == "https" and handshake:
        sock = gw.ssl_context().wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def _closed_by_server(sock: socket.socket, drip: bytes = b"", every: float = 0.3,
                     received: bytearray | None = None) -> bool:
    """Send `drip` one byte per `every` seconds (or nothing) until the server closes, at most WAIT seconds;
    what the server sent meanwhile goes to `received`."""
    deadline = time.monotonic() + WAIT
    data = iter(drip)
    sock.settimeout(every)
    received = bytearray() if received is None else received
    while time.monotonic() < deadline:
        byte = next(data, None)
        try:
            if byte is not None:
                sock.sendall(bytes([byte]))
            chunk = sock.recv(4096)
            if chunk == b"":
                return True
            received += chunk
        except (TimeoutError, socket.timeout):
            continue
        except (OSError, ssl.SSLError):  # reset, broken pipe, TLS EOF: closed
            return True
    return False


@pytest.mark.parametrize("listener", ["http", "https"])
def test_sends_nothing(idle_gw, listener):
    with _connect(idle_gw, listener) as sock:
        assert _closed_by_server(sock)


def test_tls_handshake_never_started(header_gw):
    # Before TLS completes no request exists yet: the handshake has the header-read timeout.
    with _connect(header_gw, "https", handshake=False) as sock:
        assert _closed_by_server(sock)


@pytest.mark.parametrize("listener", ["http", "https"])
def test_drips_a_header_byte_at_a_time(header_gw, listener):
    with _connect(header_gw, listener) as sock:
        assert _closed_by_server(sock, drip=HEAD)


@pytest.mark.parametrize("listener", ["http", "https"])
def test_drips_a_body_byte_at_a_time(body_gw, listener):
    demo = body_gw.demo
    if listener == "http":  # the OCSP responder reads its POSTed request body
        head = f"POST /ocsp/{demo['issuing_ca_id']} HTTP/1.1\r\nContent-Type: application/ocsp-request\r\n"
    else:  # the API reads the body once the token is accepted
        path = demo["issue_url"].split(str(body_gw.https_port), 1)[1]
        head = (f"POST {path} HTTP/1.1\r\nAuthorization: Bearer {demo['admin_token']}\r\n"
                "Content-Type: application/json\r\n")
    with _connect(body_gw, listener) as sock:
        sock.sendall(f"{head}Host: 127.0.0.1\r\nContent-Length: 400\r\n\r\n".encode())
        answer = bytearray()
        assert _closed_by_server(sock, drip=b"{" + b" " * 399, received=answer)
    # The handler reading the body is told, and answers 408: a slow client is not a server error.
    assert answer.startswith(b"HTTP/1.1 408 "), bytes(answer[:200])
    assert '"status": 500' not in body_gw.output() and '"level": "error"' not in body_gw.output()


@pytest.mark.parametrize("listener", ["http", "https"])
def test_idle_after_a_response_and_normal_requests_unaffected(idle_gw, header_gw, body_gw, listener):
    for gw in (idle_gw, header_gw, body_gw):  # short timeouts do not disturb a client that is not slow
        with _connect(gw, listener) as sock:
            for _ in range(2):  # keep-alive: two requests on one connection
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert _read_response(sock).startswith(b"HTTP/1.1 200")
            if gw is idle_gw:
                assert _closed_by_server(sock)  # and then left idle


def _read_response(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    buf = b""
    for _ in itertools.repeat(None, 100):
        buf += sock.recv(4096)
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep:
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(body) >= length:
                return buf
    raise AssertionError(buf)
