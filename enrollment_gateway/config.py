"""Gateway settings: defaults, then the TOML file, then `EG_SECTION__KEY` environment variables.

This is the only module that reads the environment. Unknown or ill-typed settings stop the start with a message
naming the key, because a typo that silently falls back to a default is worse than a refusal to start.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

ENV_PREFIX = "EG_"


class StartupError(Exception):
    """Something the operator must fix before the gateway can start; the message says what, in one line."""


class ConfigError(StartupError):
    """A setting is unknown, has the wrong type or an impossible value; the message names the key."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    https_port: int = 8443
    http_port: int = 8080
    # Base URLs stamped into certificates (CDP, AIA) and returned by the API; derived from host and ports if empty.
    public_https_url: str = ""
    public_http_url: str = ""
    tls_cert_file: str = ""  # empty: the gateway issues its own listener certificate from its CA
    tls_key_file: str = ""
    max_body_bytes: int = 256 * 1024
    shutdown_timeout_seconds: float = 10.0
    # Slow-client limits on both listeners (slowloris): the TLS handshake and each request's line and headers
    # must arrive within header_read_timeout, its body within body_read_timeout after them; a connection with no
    # request under way closes after idle_timeout.
    header_read_timeout_seconds: float = 10.0
    body_read_timeout_seconds: float = 30.0
    idle_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class StorageSettings:
    data_dir: str = "./data"
    database_url: str = ""  # empty: SQLite in data_dir; or postgresql+asyncpg://user@host/db
    kek: str = ""  # base64 of a 32-byte key-encryption key; empty: kek_file
    kek_file: str = ""  # empty: <data_dir>/kek.key, generated with 0600 permissions on first start


@dataclass(frozen=True)
class IssuanceSettings:
    backdate_seconds: int = 300  # clients with skewed clocks otherwise see "not yet valid"
    max_csr_bytes: int = 64 * 1024


@dataclass(frozen=True)
class AcmeSettings:
    http01_port: int = 80
    tls_alpn01_port: int = 443
    dns_resolvers: tuple[str, ...] = ()
    nonce_lifetime_seconds: int = 3600
    validation_timeout_seconds: float = 10.0
    validation_attempts: int = 3
    validation_workers: int = 8
    authorization_lifetime_days: int = 30
    order_lifetime_days: int = 7
    rate_limit_orders_per_account_per_hour: int = 300
    rate_limit_requests_per_ip_per_second: int = 50
    terms_of_service: str = ""
    website: str = ""
    caa_identities: tuple[str, ...] = ()
    finalize_lease_seconds: float = 60.0  # longer than any signing takes; see protocols/acme/finalize.py


@dataclass(frozen=True)
class EstSettings:
    """RFC 7030 front end: listener behaviour and limits; per-endpoint authentication lives in the admin API."""

    default_endpoint: str = ""  # endpoint id served at /.well-known/est/<op> for devices that know no label
    request_client_certificate: bool = True  # the HTTPS listener asks for (never requires) a client certificate
    client_certificate_header: str = ""  # e.g. X-SSL-Client-Cert: URL-encoded PEM set by a TLS-terminating proxy
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks whose certificate header and X-Forwarded-For count
    retry_after_seconds: int = 60  # what a device whose request awaits approval is told to wait
    basic_failures_allowed: int = 5  # wrong Basic passwords per source address per window before 429
    basic_failure_window_seconds: int = 300
    max_body_bytes: int = 96 * 1024  # a base64 CSR of issuance.max_csr_bytes fits; more is 413


@dataclass(frozen=True)
class RevocationSettings:
    crl_validity_hours: int = 24
    crl_refresh_before_hours: int = 12  # regenerate this long before nextUpdate
    crl_coalesce_seconds: float = 1.0  # retry delay after a failed CRL rebuild (revokes wait for their CRL)
    ocsp_validity_hours: int = 24
    ocsp_refresh_before_hours: int = 12
    ocsp_responder_validity_days: int = 30
    ocsp_responder_rotate_before_days: int = 7
    ocsp_signed_by_ca: bool = False


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    access_log: bool = True


@dataclass(frozen=True)
class Config:
    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    issuance: IssuanceSettings = field(default_factory=IssuanceSettings)
    acme: AcmeSettings = field(default_factory=AcmeSettings)
    est: EstSettings = field(default_factory=EstSettings)
    revocation: RevocationSettings = field(default_factory=RevocationSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def database_url(self) -> str:
        if self.storage.database_url:
            return self.storage.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    @property
    def public_https_url(self) -> str:
        s = self.server
        return (s.public_https_url or f"https://{_url_host(s.host)}:{s.https_port}").rstrip("/")

    @property
    def public_http_url(self) -> str:
        s = self.server
        return (s.public_http_url or f"http://{_url_host(s.host)}:{s.http_port}").rstrip("/")

    def replace(self, **sections: Mapping[str, Any]) -> "Config":
        """A copy with some keys of some sections changed, checked like the file (used by the CLI flags)."""
        data = {name: dataclasses.asdict(getattr(self, name)) for name in _sections()}
        for name, values in sections.items():
            data[name].update(values)
        return _build(data, source="override")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, overlaid by the TOML file at `path` (if any), overlaid by the environment."""
    environ = os.environ if environ is None else environ
    data: dict[str, dict[str, Any]] = {name: {} for name in _sections()}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        for section, values in raw.items():
            if section not in data:
                raise ConfigError(f"unknown setting section [{section}]")
            if not isinstance(values, dict):
                raise ConfigError(f"{section}: expected a table")
            data[section].update(values)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        if section not in data:
            raise ConfigError(f"{name}: unknown setting section {section!r}")
        data[section][key] = _FromEnv(value)
    return _build(data, source="file/env")


@dataclass(frozen=True)
class _FromEnv:
    text: str


def _build(data: Mapping[str, Mapping[str, Any]], source: str) -> Config:
    sections = {}
    for name, cls in _sections().items():
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        values = {}
        for key, value in data.get(name, {}).items():
            if key not in known:
                raise ConfigError(f"unknown setting {name}.{key}")
            values[key] = _coerce(f"{name}.{key}", hints[key], value)
        sections[name] = cls(**values)
    config = Config(**sections)
    _validate(config)
    return config


LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
# Settings where 0 means something nonsensical (a listener on a random port, a body that can never arrive).
_POSITIVE = {"server.max_body_bytes", "server.header_read_timeout_seconds", "server.body_read_timeout_seconds",
             "server.idle_timeout_seconds",
             "issuance.max_csr_bytes", "acme.validation_workers", "acme.validation_attempts",
             "revocation.crl_validity_hours", "revocation.ocsp_validity_hours"}


def _validate(config: Config) -> None:
    """Values that type-check but cannot work: every number in range, URLs and names of the right shape."""
    for section in _sections():
        settings = getattr(config, section)
        for f in dataclasses.fields(settings):
            key, value = f"{section}.{f.name}", getattr(settings, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if value != value or value in (float("inf"), float("-inf")):
                raise ConfigError(f"{key}: expected a finite number, got {value}")
            if key.endswith("_port") and not 1 <= value <= 65535:
                raise ConfigError(f"{key}: expected a port between 1 and 65535, got {value}")
            if key in _POSITIVE and value <= 0:
                raise ConfigError(f"{key}: expected a number above 0, got {value}")
            if value < 0:
                raise ConfigError(f"{key}: expected 0 or more, got {value}")
    if config.logging.level.upper() not in LOG_LEVELS:
        raise ConfigError(f"logging.level: expected one of {', '.join(LOG_LEVELS)}, got {config.logging.level!r}")
    if not config.server.host.strip():
        raise ConfigError("server.host: expected an address or host name to listen on")
    for key in ("public_https_url", "public_http_url"):
        url = getattr(config.server, key)
        if url:
            _check_base_url(f"server.{key}", url, "https" if "https" in key else "http")
    url = config.storage.database_url
    if url and not url.startswith(DATABASE_SCHEMES):
        raise ConfigError(f"storage.database_url: expected sqlite+aiosqlite:///PATH or "
                          f"postgresql+asyncpg://USER@HOST:PORT/DB, got a {url.partition(':')[0]!r} URL")
    if config.server.tls_key_file and not config.server.tls_cert_file:
        raise ConfigError("server.tls_key_file is set without server.tls_cert_file")


def _check_base_url(key: str, url: str, scheme: str) -> None:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError:
        raise ConfigError(f"{key}: {url!r} has an invalid port") from None
    if parts.scheme != scheme or not parts.hostname or parts.query or parts.fragment or parts.username:
        raise ConfigError(f"{key}: expected a base URL like {scheme}://pki.example.com:port[/path], got {url!r}")


def check_public_urls(config: Config) -> None:
    """Refuse loopback URLs in certificates from a gateway that listens beyond loopback (e.g. 0.0.0.0 in Docker).

    Relying parties elsewhere would fetch CRLs, OCSP and CA certificates from their own machine. Called by the
    commands that stamp URLs (serve, create-ca), not by every settings load.
    """
    if _is_loopback(config.server.host):
        return
    for key, env in (("public_http_url", "EG_SERVER__PUBLIC_HTTP_URL"), ("public_https_url", "EG_SERVER__PUBLIC_HTTPS_URL")):
        url = getattr(config, key)
        if _is_loopback(urlsplit(url).hostname or ""):
            what = "certificates' CRL, OCSP and CA-issuer URLs" if key == "public_http_url" else "the URLs handed to clients"
            raise ConfigError(
                f"server.host {config.server.host} listens beyond loopback but {what} would be {url}: set "
                f"server.{key} ({env}) to the URL others reach this gateway at")


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _coerce(key: str, hint: Any, value: Any) -> Any:
    from_env = isinstance(value, _FromEnv)
    if typing.get_origin(hint) is tuple:
        if from_env:
            items = [v.strip() for v in value.text.split(",") if v.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise ConfigError(f"{key}: expected a list")
        if not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{key}: expected a list of strings")
        return tuple(items)
    if hint is bool:
        if from_env:
            lowered = value.text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{key}: expected true or false, got {value.text!r}")
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false")
        return value
    if hint in (int, float):
        if from_env:
            try:
                return hint(value.text.strip())
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value.text!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (hint is int and not isinstance(value, int)):
            raise ConfigError(f"{key}: expected {'an integer' if hint is int else 'a number'}")
        return hint(value)
    if hint is str:
        if from_env:
            return value.text
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string")
        return value
    raise ConfigError(f"{key}: unsupported setting type {hint}")  # pragma: no cover - a programming error


