"""ACME challenge validators: http-01 (RFC 8555 §8.3), dns-01 (§8.4) and tls-alpn-01 (RFC 8737), IPs per RFC 8738.

Each validator returns a ValidationResult instead of raising: a failed validation is an answer (recorded on the
challenge as its `error`), not an exception. Every network step runs under one overall timeout and reads a bounded
amount. Names are resolved through the configured resolvers (protocols.acme.dns) or the system's.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from asn1crypto import core as asn1
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier
from yarl import URL

from . import dns, problems
from .identifiers import is_ip
from .jws import b64url_encode
from .problems import AcmeProblem

ACME_TLS_ALPN = "acme-tls/1"
ID_PE_ACME_IDENTIFIER = ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # RFC 8737 §6.1
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # RFC 8555 §8.1: base64url, at least 128 bits of entropy
_USER_AGENT = "enrollment-gateway-validator"


@dataclass(frozen=True)
class ValidationSettings:
    # Ports the validator treats as "80" and "443": a deployment or test may move them, §8.3's rules still apply.
    http01_port: int = 80
    tls_alpn01_port: int = 443
    dns_resolvers: tuple[str, ...] = ()  # "host:port"; () means the system's (resolv.conf / getaddrinfo)
    timeout_seconds: float = 10.0
    max_body: int = 8192
    max_redirects: int = 10
    # Never connect here whatever DNS says: link-local holds cloud metadata services (the classic SSRF target).
    # Private ranges stay allowed because an enterprise gateway validates internal names.
    blocked_networks: tuple[str, ...] = ("169.254.0.0/16", "fe80::/10")


@dataclass(frozen=True)
class ValidationResult:
    ok: bool
    problem: AcmeProblem | None
    records: tuple[dict, ...]  # RFC 8555 §8.2 validationRecord entries, one per connection attempted

    @classmethod
    def success(cls, records: list[dict]) -> ValidationResult:
        return cls(True, None, tuple(records))

    @classmethod
    def failure(cls, problem: AcmeProblem, records: list[dict]) -> ValidationResult:
        return cls(False, problem, tuple(records))


def _snippet(data: bytes, limit: int = 128) -> str:
    return repr(data[:limit].decode("utf-8", "replace")) + ("…" if len(data) > limit else "")


async def resolve(host: str, settings: ValidationSettings) -> tuple[str, ...]:
    """Addresses to try for `host`, blocked networks removed; DNSError when none is usable."""
    if is_ip(host):
        addresses: tuple[str, ...] = (host,)
    elif settings.dns_resolvers:
        addresses = await dns.lookup_addresses(host, settings.dns_resolvers, settings.timeout_seconds)
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise dns.DNSError(f"no valid A or AAAA records for {host}: {exc}") from None
        addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    blocked = [ipaddress.ip_network(n) for n in settings.blocked_networks]
    usable = tuple(a for a in addresses if not any(ipaddress.ip_address(a) in net for net in blocked))
    if not usable:
        raise dns.DNSError(f"{host} resolves only to addresses the validator will not connect to")
    return usable


class _PinnedResolver(AbstractResolver):
    """Hands aiohttp the addresses we resolved (and recorded) ourselves, so records show what was dialled."""

    def __init__(self) -> None:
        self.addresses: dict[str, tuple[str, ...]] = {}

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in self.addresses.get(host, ())
        ]

    async def close(self) -> None:
        return None


def _redirect_target(current: URL, location: str, settings: ValidationSettings) -> URL:
    """RFC 8555 §8.3 / Boulder: follow only to http on "80" or https on "443"; anything else is refused."""
    target = current.join(URL(location))
    ports = {"http": settings.http01_port, "https": settings.tls_alpn01_port}
    if target.scheme not in ports or not target.host:
        raise problems.connection(f"redirect to {str(target)[:256]!r} refused: only http and https are followed")
    if target.explicit_port is not None and target.explicit_port != ports[target.scheme]:
        raise problems.connection(
            f"redirect to {str(target)[:256]!r} refused: only ports {ports['http']} (http) "
            f"and {ports['https']} (https) are followed"
        )
    # An implicit port means the scheme's standard one, which this validator maps to the configured port.
    return target.with_port(ports[target.scheme])


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    while len(body) <= limit:
        chunk = await response.content.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


async def _get_from_any(
    session: aiohttp.ClientSession, resolver: _PinnedResolver, url: URL, addresses: tuple[str, ...], record: dict
) -> aiohttp.ClientResponse:
    """GET `url` from each address in turn until one accepts the connection (Boulder's IPv6-then-IPv4 fallback).

    One address at a time, so the record names the address that answered and those that did not.
    """
    host = url.host or ""
    error: Exception | None = None
    for address in addresses:
        resolver.addresses[host] = (address,)
        record["addressUsed"] = address
        try:
            return await session.get(url, allow_redirects=False)
        except aiohttp.ClientConnectorError as exc:
            record.setdefault("addressesTried", []).append(address)
            error = exc
    assert error is not None  # resolve() never returns an empty tuple
    raise error


async def validate_http01(
    domain: str, token: str, key_authorization: str, settings: ValidationSettings
) -> ValidationResult:
    """RFC 8555 §8.3: GET http://<domain>/.well-known/acme-challenge/<token> must return the key authorization."""
    records: list[dict] = []
    if not _TOKEN.match(token):
        return ValidationResult.failure(problems.malformed("challenge token is not base64url"), records)
    url = URL.build(
        scheme="http", host=domain, port=settings.http01_port, path=f"/.well-known/acme-challenge/{token}"
    )
    resolver = _PinnedResolver()
    try:
        async with asyncio.timeout(settings.timeout_seconds), aiohttp.ClientSession(
            # ssl=False: an https redirect target is not certificate-checked, as Boulder does (§8.3 allows it).
            connector=aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True, ssl=False),
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": _USER_AGENT},
        ) as session:
            for _hop in range(settings.max_redirects + 1):
                record: dict[str, Any] = {"url": str(url), "hostname": url.host, "port": str(url.port)}
                records.append(record)
                addresses = await resolve(url.host or "", settings)
                record["addressesResolved"] = list(addresses)
                response = await _get_from_any(session, resolver, url, addresses, record)
                try:
                    if response.status in REDIRECT_STATUSES:
                        url = _redirect_target(url, response.headers.get("Location", ""), settings)
                        continue
                    if response.status != 200:
                        return ValidationResult.failure(
                            problems.unauthorized(f"Invalid response from {record['url']}: {response.status}"),
                            records,
                        )
                    body = await _read_bounded(response, settings.max_body)
                    break
                finally:
                    response.close()
            else:
                return ValidationResult.failure(
                    problems.connection(f"too many redirects (more than {settings.max_redirects})"), records
                )
    except TimeoutError:
        return ValidationResult.failure(
            problems.connection(f"Timeout after {settings.timeout_seconds:g}s fetching {url}"), records
        )
    except dns.DNSError as exc:
        return ValidationResult.failure(problems.dns(f"DNS problem: {exc}"), records)
    except AcmeProblem as problem:
        return ValidationResult.failure(problem, records)
    except (aiohttp.ClientError, OSError) as exc:
        return ValidationResult.failure(problems.connection(f"Error fetching {url}: {exc}"[:512]), records)

    if len(body) > settings.max_body:
        return ValidationResult.failure(
            problems.incorrect_response(f"response from {url} is larger than {settings.max_body} bytes"), records
        )
    if body.rstrip(b" \t\r\n") != key_authorization.encode("ascii"):
        # §8.3: trailing whitespace is ignored; anything else must match exactly.
        return ValidationResult.failure(
            problems.incorrect_response(
                f"The key authorization file from the server did not match this challenge. "
                f"Expected {key_authorization!r} (got {_snippet(body)})"
            ),
            records,
        )
    return ValidationResult.success(records)


def dns01_record_name(domain: str) -> str:
    """RFC 8555 §8.4: _acme-challenge.<domain>, wildcards validated at their base name."""
    return "_acme-challenge." + domain.removeprefix("*.").rstrip(".")


def dns01_digest(key_authorization: str) -> str:
    return b64url_encode(hashlib.sha256(key_authorization.encode("ascii")).digest())


async def validate_dns01(domain: str, key_authorization: str, settings: ValidationSettings) -> ValidationResult:
    """RFC 8555 §8.4: a TXT record at _acme-challenge.<domain> holds base64url(SHA-256(keyAuthorization))."""
    name = dns01_record_name(domain)
    records: list[dict] = [{"hostname": domain.removeprefix("*.")}]
    if is_ip(domain):
        problem = problems.malformed("dns-01 cannot validate IP identifiers (RFC 8738 §7)")
        return ValidationResult.failure(problem, records)
    try:
        rcode, values = await dns.lookup_txt(name, settings.dns_resolvers, settings.timeout_seconds)
    except (dns.DNSError, ValueError, UnicodeError) as exc:
        return ValidationResult.failure(problems.dns(f"DNS problem: {exc}"), records)
    if rcode != dns.RCODE_NOERROR:
        return ValidationResult.failure(
            problems.dns(f"DNS problem: {dns.RCODE_NAMES.get(rcode, rcode)} looking up TXT for {name}"), records
        )
    if not values:
        return ValidationResult.failure(problems.unauthorized(f"No TXT record found at {name}"), records)
    expected = dns01_digest(key_authorization)
    if expected not in values:
        shown = ", ".join(repr(v[:64]) for v in values[:3])
        return ValidationResult.failure(
            problems.incorrect_response(f"Incorrect TXT record {shown} found at {name}"), records
        )
    return ValidationResult.success(records)


def _reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer  # RFC 8738 §6: SNI for an IP identifier


async def _peer_certificate(address: str, port: int, sni: str) -> tuple[bytes, str | None]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the certificate is self-signed by design; we check its contents
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8737 §3
    context.set_alpn_protocols([ACME_TLS_ALPN])
    _reader, writer = await asyncio.open_connection(address, port, ssl=context, server_hostname=sni)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.getpeercert(binary_form=True) or b"", ssl_object.selected_alpn_protocol()
    finally:
        writer.transport.abort()  # no close_notify exchange: the peer owes us nothing more, and may never answer


def _check_alpn_certificate(der: bytes, domain: str, key_authorization: str) -> AcmeProblem | None:
    """RFC 8737 §3: one SAN, exactly the identifier; a critical acmeIdentifier holding SHA-256(keyAuthorization)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return problems.unauthorized(f"tls-alpn-01 certificate for {domain} has no subjectAltName")
    except ValueError:
        return problems.tls(f"tls-alpn-01 server for {domain} sent a malformed certificate")
    wanted: x509.GeneralName = (
        x509.IPAddress(ipaddress.ip_address(domain)) if is_ip(domain) else x509.DNSName(domain.lower())
    )
    names = [x509.DNSName(n.value.lower()) if isinstance(n, x509.DNSName) else n for n in sans]
    if names != [wanted]:
        shown = ", ".join(str(getattr(n, "value", n)) for n in list(sans)[:5])
        return problems.unauthorized(
            f"Incorrect validation certificate for tls-alpn-01 challenge: requested {domain}, got SANs [{shown}]"
        )
    try:
        extension = cert.extensions.get_extension_for_oid(ID_PE_ACME_IDENTIFIER)
    except x509.ExtensionNotFound:
        return problems.unauthorized("tls-alpn-01 certificate lacks the acmeIdentifier extension")
    if not extension.critical:
        return problems.unauthorized("tls-alpn-01 certificate's acmeIdentifier extension is not critical")
    expected = asn1.OctetString(hashlib.sha256(key_authorization.encode("ascii")).digest()).dump()
    if getattr(extension.value, "value", None) != expected:
        return problems.incorrect_response(
            "tls-alpn-01 certificate's acmeIdentifier does not match the key authorization"
        )
    return None


async def validate_tls_alpn01(domain: str, key_authorization: str, settings: ValidationSettings) -> ValidationResult:
    """RFC 8737: a TLS handshake with ALPN acme-tls/1 and SNI = domain must present the validation certificate."""
    port = settings.tls_alpn01_port
    record: dict[str, Any] = {"hostname": domain, "port": str(port)}
    records = [record]
    sni = _reverse_name(domain) if is_ip(domain) else domain
    try:
        async with asyncio.timeout(settings.timeout_seconds):
            addresses = await resolve(domain, settings)
            record["addressesResolved"] = list(addresses)
            last_error: Exception | None = None
            for address in addresses:
                record["addressUsed"] = address
                try:
                    der, alpn = await _peer_certificate(address, port, sni)
                    break
                except ssl.SSLError as exc:
                    return ValidationResult.failure(
                        problems.tls(f"TLS handshake with {domain} ({address}:{port}) failed: {exc.reason}"), records
                    )
                except OSError as exc:
                    last_error = exc
            else:
                return ValidationResult.failure(
                    problems.connection(f"Error connecting to {domain}:{port}: {last_error}"), records
                )
    except TimeoutError:
        return ValidationResult.failure(problems.connection(f"Timeout connecting to {domain}:{port}"), records)
    except dns.DNSError as exc:
        return ValidationResult.failure(problems.dns(f"DNS problem: {exc}"), records)
    if alpn != ACME_TLS_ALPN:
        return ValidationResult.failure(
            problems.unauthorized(f"Cannot negotiate ALPN protocol {ACME_TLS_ALPN!r} for tls-alpn-01 challenge"),
            records,
        )
    problem = _check_alpn_certificate(der, domain, key_authorization)
    return ValidationResult.failure(problem, records) if problem else ValidationResult.success(records)
