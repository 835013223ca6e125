"""The HTTPS listener's certificate: the operator's, or one the gateway issues itself from its own CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..algorithms import KeyAlgorithm
from ..crypto import builder, keys, names
from ..domain import SYSTEM_ACTOR
from ..core.gateway import Gateway
from .tls_client_auth import request_client_certificates

LISTENER_CA_NAME = "gateway-listener-root"


async def listener_ssl_context(gateway: Gateway, *, ca_id: str | None = None) -> tuple[ssl.SSLContext, Path]:
    """An SSLContext for the HTTPS listener and the path of the PEM a client should trust for it."""
    server = gateway.config.server
    if server.tls_cert_file:
        cert_path, key_path = Path(server.tls_cert_file), server.tls_key_file or None
        trust_path = cert_path
    else:
        cert_path, key_path, trust_path = await ensure_listener_certificate(gateway, ca_id=ca_id)
    # TLS 1.2 and 1.3 (the default context's floor is 1.2): EST proof-of-possession needs 1.2's tls-unique.
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    if gateway.config.est.request_client_certificate:
        request_client_certificates(ctx)  # EST devices; checked per request against the endpoint's anchors
    return ctx, trust_path


async def ensure_listener_certificate(gateway: Gateway, *, ca_id: str | None = None) -> tuple[Path, Path, Path]:
    """Issue (or reuse while it has a month left) a listener certificate for the configured host names."""
    data_dir = gateway.config.data_dir
    cert_path, key_path, trust_path = data_dir / "listener.pem", data_dir / "listener.key", data_dir / "listener-ca.pem"
    hosts = _listener_names(gateway.config.server.host, gateway.config.public_https_url)
    if cert_path.exists() and key_path.exists() and trust_path.exists():
        current = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        try:
            san = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = set(names.general_names_to_pairs(san))
        except x509.ExtensionNotFound:
            have = set()
        if current.not_valid_after_utc - gateway.clock.now() > dt.timedelta(days=30) and set(hosts) <= have:
            return cert_path, key_path, trust_path
    if ca_id is None:
        ca_id = await _listener_ca(gateway)
    loaded = await gateway.authorities.load(ca_id)
    key = keys.generate_private_key(KeyAlgorithm.ECDSA_P256)
    now = gateway.clock.now()
    cert = builder.build_certificate(
        signer=loaded.signer, issuer=loaded.certificate, public_key=key.public_key(),
        subject=names.build_name([("CN", hosts[0][1])]), sans=hosts, serial=builder.random_serial(),
        not_before=now - dt.timedelta(minutes=5), not_after=min(now + dt.timedelta(days=365),
                                                                 loaded.certificate.not_valid_after_utc),
        key_usages=("digital_signature",), extended_key_usages=("server_auth",),
    )
    chain = [loaded.certificate, *loaded.chain]
    cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, *chain[:-1])))
    _write_secret(key_path, keys.private_key_to_pem(key))
    trust_path.write_bytes(chain[-1].public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path, trust_path


async def _listener_ca(gateway: Gateway) -> str:
    for ca in await gateway.authorities.list():
        if ca.name == LISTENER_CA_NAME:
            return ca.id
    ca = await gateway.authorities.create_root(
        SYSTEM_ACTOR, name=LISTENER_CA_NAME, subject=[("CN", "Enrollment Gateway Listener Root")],
        key_algorithm=KeyAlgorithm.ECDSA_P256, validity_days=3650,
    )
    return ca.id


def _listener_names(host: str, public_url: str) -> list[tuple[str, str]]:
    from urllib.parse import urlsplit

    out: list[tuple[str, str]] = []
    for name in (urlsplit(public_url).hostname, host, "localhost", "127.0.0.1"):
        if not name or name in ("0.0.0.0", "::"):
            continue
        try:
            pair = ("IP", str(ipaddress.ip_address(name)))
        except ValueError:
            pair = ("DNS", name.lower())
        if pair not in out:
            out.append(pair)
    return out


def _write_secret(path: Path, data: bytes) -> None:
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
