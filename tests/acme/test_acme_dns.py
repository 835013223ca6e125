"""The validators' DNS stub resolver: codec tables and loopback fake servers (NXDOMAIN, truncation, timeouts)."""

import asyncio
import socket
import struct
import time

import pytest

from protocols.acme import dns


def header(qid=0x1234, flags=0x8180, qd=1, an=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, 0, 0)


QUESTION = dns.encode_name("_acme-challenge.example.com") + struct.pack("!HH", dns.TYPE_TXT, 1)


def rr(name_wire: bytes, rtype: int, rdata: bytes, ttl=60) -> bytes:
    return name_wire + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def test_build_query():
    q = dns.build_query("Example.COM.", dns.TYPE_A, 0xBEEF)
    assert q == bytes.fromhex("beef 0100 0001 0000 0000 0000") + b"\x07Example\x03COM\x00" + b"\x00\x01\x00\x01"


@pytest.mark.parametrize("name", ["a" * 64 + ".example", "a..example", ".".join(["abcdefghij"] * 25), "é.example"])
def test_encode_name_refuses(name):
    with pytest.raises(dns.DNSError):  # one exception the validators turn into a `dns` problem
        dns.encode_name(name)


def test_parse_txt_with_compression_and_multiple_strings():
    # The answer's owner is a pointer to the question name at offset 12 (0xC00C).
    msg = header(an=2) + QUESTION
    msg += rr(b"\xc0\x0c", dns.TYPE_TXT, b"\x03abc\x03def") + rr(b"\xc0\x0c", dns.TYPE_TXT, b"\x01x")
    response = dns.parse_response(msg, expect_id=0x1234)
    assert response.rcode == dns.RCODE_NOERROR and not response.truncated
    assert [r.data for r in response.answers] == [(b"abc", b"def"), (b"x",)]
    assert response.answers[0].name == "_acme-challenge.example.com"


def test_parse_addresses_and_cname_chain():
    cname_target = b"\x03www\xc0\x1c"  # www + pointer into the question's "example.com"
    msg = (
        header(an=3)
        + QUESTION
        + rr(b"\xc0\x0c", dns.TYPE_CNAME, cname_target)
        + rr(b"\x03www\x07example\x03com\x00", dns.TYPE_A, bytes([192, 0, 2, 1]))
        + rr(b"\x03www\x07example\x03com\x00", dns.TYPE_AAAA, bytes.fromhex("20010db8000000000000000000000001"))
    )
    answers = dns.parse_response(msg).answers
    assert [a.data for a in answers[1:]] == ["192.0.2.1", "2001:db8::1"]


@pytest.mark.parametrize(
    "msg, fragment",
    [
        (b"\x00" * 5, "shorter than its header"),
        (header(flags=0x0100), "not a response"),
        (header(qid=1), "does not match"),
        (header(an=300) + QUESTION, "too many"),
        (header(an=1) + QUESTION + b"\xc0\x0c", "truncated resource record"),
        (header(an=1) + QUESTION + rr(b"\xc0\x0c", dns.TYPE_TXT, b"\x05ab"), "TXT"),  # string longer than rdata
        (header(an=1) + QUESTION + b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 0, 50), "truncated rdata"),
        (header(an=1) + QUESTION + rr(b"\xc0\x0c", dns.TYPE_A, b"\x01\x02"), "wrong length"),
        (header() + b"\xc0\x0c", "loop"),  # a pointer to itself
        (header() + b"\x40abc", "label type"),
        (header() + b"\x05ab", "truncated label"),
    ],
)
def test_parse_refuses(msg, fragment):
    with pytest.raises(dns.DNSError) as exc:
        dns.parse_response(msg, expect_id=0x1234)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(
    "spec, expected",
    [("127.0.0.1:8053", ("127.0.0.1", 8053)), ("[::1]:53", ("::1", 53)), ("192.0.2.1", ("192.0.2.1", 53)),
     ("::1", ("::1", 53))],
)
def test_parse_resolver(spec, expected):
    assert dns.parse_resolver(spec) == expected


def test_system_resolvers(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nsearch example\n")
    assert dns.system_resolvers(str(conf)) == ("192.0.2.53:53", "[fe80::1]:53")
    assert dns.system_resolvers(str(tmp_path / "missing")) == ()


# --- loopback fake servers ------------------------------------------------------------------------------------


def answer_for(query: bytes, *, rcode=0, txts=(), tc=False) -> bytes:
    qid = query[:2]
    question = query[12:]
    flags = 0x8180 | rcode | (0x0200 if tc else 0)
    body = b"".join(rr(b"\xc0\x0c", dns.TYPE_TXT, bytes([len(t)]) + t) for t in txts)
    return qid + struct.pack("!HHHHH", flags, 1, len(txts), 0, 0) + question + body


class FakeUDP(asyncio.DatagramProtocol):
    def __init__(self, respond):
        self.respond = respond

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        reply = self.respond(data)
        if reply is not None:
            self.transport.sendto(reply, addr)


async def start_udp(respond):
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: FakeUDP(respond), local_addr=("127.0.0.1", 0))
    return transport, f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"


async def test_nxdomain_is_reported():
    transport, spec = await start_udp(lambda q: answer_for(q, rcode=dns.RCODE_NXDOMAIN))
    try:
        assert await dns.lookup_txt("_acme-challenge.gone.example", (spec,), 1.0) == (dns.RCODE_NXDOMAIN, ())
    finally:
        transport.close()


async def test_truncated_udp_falls_back_to_tcp():
    long_value = b"v" * 200

    async def tcp(reader, writer):
        try:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = answer_for(await reader.readexactly(length), txts=(long_value, b"second"))
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
        finally:
            writer.close()

    loop = asyncio.get_running_loop()
    for _ in range(20):  # the TCP listener's port number must also be free for UDP
        server = await asyncio.start_server(tcp, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: FakeUDP(lambda q: answer_for(q, tc=True)), local_addr=("127.0.0.1", port)
            )
            break
        except OSError:
            server.close()
    try:
        rcode, values = await dns.lookup_txt("_acme-challenge.big.example", (f"127.0.0.1:{port}",), 2.0)
        assert rcode == 0 and values == (long_value.decode(), "second")
    finally:
        transport.close()
        server.close()
        await server.wait_closed()


async def test_silent_resolver_times_out_and_next_one_answers():
    silent, silent_spec = await start_udp(lambda q: None)
    good, good_spec = await start_udp(lambda q: answer_for(q, txts=(b"ok",)))
    try:
        started = time.monotonic()
        with pytest.raises(dns.DNSError, match="timed out"):
            await dns.lookup_txt("x.example", (silent_spec,), 0.3)
        assert time.monotonic() - started < 1.0
        assert await dns.lookup_txt("x.example", (silent_spec, good_spec), 0.6) == (0, ("ok",))
    finally:
        silent.close()
        good.close()


async def test_forged_reply_with_wrong_id_is_ignored():
    def respond(q):
        return answer_for(bytes([q[0] ^ 0xFF, q[1]]) + q[2:], txts=(b"forged",))

    transport, spec = await start_udp(respond)
    try:
        with pytest.raises(dns.DNSError, match="timed out"):
            await dns.lookup_txt("x.example", (spec,), 0.3)
    finally:
        transport.close()


async def test_servfail_tries_next_resolver():
    bad, bad_spec = await start_udp(lambda q: answer_for(q, rcode=dns.RCODE_SERVFAIL))
    good, good_spec = await start_udp(lambda q: answer_for(q, txts=(b"ok",)))
    try:
        assert await dns.lookup_txt("x.example", (bad_spec, good_spec), 1.0) == (0, ("ok",))
        assert (await dns.lookup_txt("x.example", (bad_spec,), 1.0))[0] == dns.RCODE_SERVFAIL
    finally:
        bad.close()
        good.close()


async def test_unreachable_resolver():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: the kernel answers ICMP port unreachable
    with pytest.raises(dns.DNSError):
        await dns.lookup_addresses("x.example", (f"127.0.0.1:{port}",), 0.5)
