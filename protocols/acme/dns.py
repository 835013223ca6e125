"""A minimal DNS stub resolver (RFC 1035) for the ACME validators: TXT, A and AAAA over UDP, TCP on truncation.

Only what dns-01 and http-01 need: one question per query, answers taken from the answer section (a recursive
resolver has already followed any CNAME chain), compression pointers followed with a hop limit, every length
checked against the message. No caching, no DNSSEC, no recursion of our own. Message and record counts are bounded.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import struct
from dataclasses import dataclass

TYPE_A, TYPE_CNAME, TYPE_TXT, TYPE_AAAA = 1, 5, 16, 28
CLASS_IN = 1
RCODE_NOERROR, RCODE_SERVFAIL, RCODE_NXDOMAIN = 0, 2, 3
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
TYPE_NAMES = {TYPE_A: "A", TYPE_CNAME: "CNAME", TYPE_TXT: "TXT", TYPE_AAAA: "AAAA"}

MAX_UDP_MESSAGE = 4096  # what we advertise nowhere (no EDNS) but accept; classic servers send at most 512
MAX_RECORDS = 256  # per section; a TXT answer with more is not one we will read
_MAX_POINTER_HOPS = 32
_FLAG_QR, _FLAG_TC, _FLAG_RD = 0x8000, 0x0200, 0x0100


class DNSError(Exception):
    """The lookup could not be completed (timeout, unreachable resolver, malformed answer, SERVFAIL…)."""


@dataclass(frozen=True)
class Record:
    name: str  # owner name, lower case, no trailing dot
    type: int
    ttl: int
    data: bytes | str | tuple[bytes, ...]  # A/AAAA: address text; TXT: the character-strings; other: raw rdata


@dataclass(frozen=True)
class Response:
    id: int
    rcode: int
    truncated: bool
    answers: tuple[Record, ...]

    @property
    def rcode_name(self) -> str:
        return RCODE_NAMES.get(self.rcode, str(self.rcode))


def encode_name(name: str) -> bytes:
    """Wire form of a domain name (RFC 1035 §3.1); IDNs must already be A-labels."""
    name = name.rstrip(".")
    out = bytearray()
    for label in name.split(".") if name else []:
        if not label.isascii():  # a U-label: newOrder refuses them, but never let one become an exception
            raise DNSError(f"{name!r} is not an ASCII (A-label) domain name")
        raw = label.encode("ascii")
        if not 0 < len(raw) <= 63:
            raise DNSError(f"bad DNS label in {name!r}")
        out += bytes([len(raw)]) + raw
    out += b"\x00"
    if len(out) > 255:
        raise DNSError("DNS name longer than 255 octets")
    return bytes(out)


def build_query(name: str, qtype: int, qid: int) -> bytes:
    """A recursion-desired query with one question."""
    header = struct.pack("!HHHHHH", qid, _FLAG_RD, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def _read_name(msg: bytes, offset: int) -> tuple[str, int]:
    """Decode a possibly compressed name at `offset`; returns it and the offset just past it in the record."""
    labels: list[str] = []
    end = None
    hops = 0
    total = 0
    while True:
        if offset >= len(msg):
            raise DNSError("truncated name")
        length = msg[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(msg):
                raise DNSError("truncated compression pointer")
            hops += 1
            if hops > _MAX_POINTER_HOPS:
                raise DNSError("compression pointer loop")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | msg[offset + 1]
            continue
        if length & 0xC0:
            raise DNSError("unsupported label type")
        offset += 1
        if length == 0:
            break
        if offset + length > len(msg):
            raise DNSError("truncated label")
        total += length + 1
        if total > 255:
            raise DNSError("name too long")
        labels.append(msg[offset : offset + length].decode("ascii", "replace").lower())
        offset += length
    return ".".join(labels), (end if end is not None else offset)


def _parse_txt(rdata: bytes) -> tuple[bytes, ...]:
    strings = []
    i = 0
    while i < len(rdata):
        n = rdata[i]
        if i + 1 + n > len(rdata):
            raise DNSError("truncated TXT character-string")
        strings.append(rdata[i + 1 : i + 1 + n])
        i += 1 + n
    return tuple(strings)


def parse_response(msg: bytes, *, expect_id: int | None = None) -> Response:
    """Decode a response's header and answer section; authority and additional sections are ignored."""
    if len(msg) < 12:
        raise DNSError("DNS message shorter than its header")
    qid, flags, qdcount, ancount, _nscount, _arcount = struct.unpack("!HHHHHH", msg[:12])
    if expect_id is not None and qid != expect_id:
        raise DNSError("DNS response ID does not match the query")
    if not flags & _FLAG_QR:
        raise DNSError("DNS message is not a response")
    if qdcount > 1 or ancount > MAX_RECORDS:
        raise DNSError("DNS response has too many questions or answers")
    offset = 12
    for _ in range(qdcount):
        _, offset = _read_name(msg, offset)
        offset += 4
    answers = []
    for _ in range(ancount):
        owner, offset = _read_name(msg, offset)
        if offset + 10 > len(msg):
            raise DNSError("truncated resource record")
        rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[offset : offset + 10])
        offset += 10
        if offset + rdlen > len(msg):
            raise DNSError("truncated rdata")
        rdata = msg[offset : offset + rdlen]
        offset += rdlen
        if rclass != CLASS_IN:
            continue
        data: bytes | str | tuple[bytes, ...] = rdata
        if rtype == TYPE_A and rdlen == 4:
            data = str(ipaddress.IPv4Address(rdata))
        elif rtype == TYPE_AAAA and rdlen == 16:
            data = str(ipaddress.IPv6Address(rdata))
        elif rtype == TYPE_TXT:
            data = _parse_txt(rdata)
        elif rtype in (TYPE_A, TYPE_AAAA):
            raise DNSError("address record of the wrong length")
        answers.append(Record(owner, rtype, ttl, data))
    return Response(qid, flags & 0x000F, bool(flags & _FLAG_TC), tuple(answers))


def parse_resolver(spec: str, default_port: int = 53) -> tuple[str, int]:
    """'host:port', '[v6]:port' or a bare address, as ValidationSettings.dns_resolvers holds them."""
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return host, int(port)
    return spec, default_port


def system_resolvers(path: str = "/etc/resolv.conf") -> tuple[str, ...]:
    """The nameservers the machine is configured with; () when there is no resolv.conf."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            lines = f.read(64 * 1024).splitlines()
    except OSError:
        return ()
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            host = parts[1].split("%")[0]
            out.append(f"[{host}]:53" if ":" in host else f"{host}:53")
    return tuple(out)


class _UDPQuery(asyncio.DatagramProtocol):
    def __init__(self, query: bytes, qid: int) -> None:
        self.query, self.qid = query, qid
        self.done: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.sendto(self.query)  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.done.done() or len(data) > MAX_UDP_MESSAGE:
            return
        try:
            response = parse_response(data, expect_id=self.qid)
        except DNSError:
            return  # a stray or forged datagram: keep waiting for the real answer until the timeout
        self.done.set_result(response)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(DNSError(f"resolver unreachable: {exc}"))


async def _query_udp(host: str, port: int, query: bytes, qid: int) -> Response:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: _UDPQuery(query, qid), remote_addr=(host, port))
    try:
        return await protocol.done
    finally:
        transport.close()


async def _query_tcp(host: str, port: int, query: bytes, qid: int) -> Response:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        return parse_response(await reader.readexactly(length), expect_id=qid)
    finally:
        writer.close()


async def query(name: str, qtype: int, resolvers: tuple[str, ...], timeout: float) -> Response:
    """Ask each resolver in turn until one answers (any rcode); DNSError when none does within `timeout` overall."""
    resolvers = resolvers or system_resolvers()
    if not resolvers:
        raise DNSError("no DNS resolver configured")
    errors = []
    # Each resolver gets its share of the budget, so a dead first resolver does not starve the others.
    share = timeout / len(resolvers)
    for spec in resolvers:
        host, port = parse_resolver(spec)
        qid = secrets.randbelow(0x10000)  # unpredictable IDs make off-path spoofing harder
        raw = build_query(name, qtype, qid)
        try:
            async with asyncio.timeout(share):
                response = await _query_udp(host, port, raw, qid)
                if response.truncated:
                    response = await _query_tcp(host, port, raw, qid)
        except TimeoutError:
            errors.append(f"{spec}: query timed out looking up {TYPE_NAMES.get(qtype, qtype)} for {name}")
            continue
        except (OSError, DNSError, asyncio.IncompleteReadError) as exc:
            errors.append(f"{spec}: {exc}")
            continue
        if response.rcode == RCODE_SERVFAIL and spec != resolvers[-1]:
            errors.append(f"{spec}: SERVFAIL")
            continue
        return response
    raise DNSError("; ".join(errors) or "no resolver answered")


async def lookup_txt(name: str, resolvers: tuple[str, ...], timeout: float) -> tuple[int, tuple[str, ...]]:
    """(rcode, TXT values) for `name`, each value its character-strings joined (RFC 7208 §3.3 style)."""
    response = await query(name, TYPE_TXT, resolvers, timeout)
    values = tuple(
        b"".join(r.data).decode("utf-8", "replace")  # type: ignore[arg-type]
        for r in response.answers
        if r.type == TYPE_TXT
    )
    return response.rcode, values


async def lookup_addresses(name: str, resolvers: tuple[str, ...], timeout: float) -> tuple[str, ...]:
    """AAAA then A addresses for `name` (Boulder tries IPv6 first); DNSError when there are none."""
    v6, v4 = await asyncio.gather(
        query(name, TYPE_AAAA, resolvers, timeout), query(name, TYPE_A, resolvers, timeout), return_exceptions=True
    )
    addresses: list[str] = []
    failures: list[str] = []
    for result, rtype in ((v6, TYPE_AAAA), (v4, TYPE_A)):
        if isinstance(result, BaseException):
            if not isinstance(result, DNSError):
                raise result
            failures.append(str(result))
            continue
        if result.rcode != RCODE_NOERROR:
            failures.append(f"{result.rcode_name} looking up {TYPE_NAMES[rtype]} for {name}")
        addresses += [r.data for r in result.answers if r.type == rtype]  # type: ignore[misc]
    if not addresses:
        raise DNSError("; ".join(failures) or f"no valid A or AAAA records for {name}")
    return tuple(addresses)
