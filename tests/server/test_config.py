"""Settings: the example file is complete and loads; the environment overrides; mistakes name the key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from enrollment_gateway.config import Config, ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_example_documents_every_setting_with_its_default():
    raw = tomllib.loads(EXAMPLE.read_text())
    config = load_config(EXAMPLE, environ={})
    for section in dataclasses.fields(Config):
        settings = getattr(config, section.name)
        default = type(settings)()
        for f in dataclasses.fields(settings):
            assert f.name in raw[section.name], f"{section.name}.{f.name} is missing from config.example.toml"
            assert getattr(settings, f.name) == getattr(default, f.name), f"{section.name}.{f.name} default differs"


@pytest.mark.parametrize(
    "env, section, key, expected",
    [
        ({"EG_ACME__HTTP01_PORT": "5002"}, "acme", "http01_port", 5002),  # the issue's own example
        ({"EG_ACME__DNS_RESOLVERS": "127.0.0.1:8053, 10.0.0.1:53"}, "acme", "dns_resolvers",
         ("127.0.0.1:8053", "10.0.0.1:53")),  # lists are comma-separated
        ({"EG_REVOCATION__OCSP_SIGNED_BY_CA": "yes"}, "revocation", "ocsp_signed_by_ca", True),
        ({"EG_SERVER__HOST": "0.0.0.0"}, "server", "host", "0.0.0.0"),
        ({"EG_ACME__VALIDATION_TIMEOUT_SECONDS": "2.5"}, "acme", "validation_timeout_seconds", 2.5),
    ],
)
def test_environment_overrides(env, section, key, expected):
    assert getattr(getattr(load_config(EXAMPLE, environ=env), section), key) == expected


@pytest.mark.parametrize(
    "env, toml, message",
    [
        ({"EG_ACME__HTTP01_PROT": "80"}, "", "acme.http01_prot"),  # a typo names the key
        ({"EG_ACME__HTTP01_PORT": "eighty"}, "", "acme.http01_port"),  # ill-typed
        ({"EG_NOPE__X": "1"}, "", "nope"),  # unknown section
        ({}, "[server]\nhttps_port = \"8443\"\n", "server.https_port"),  # string where a number belongs
        ({}, "[acme]\ndns_resolvers = \"1.1.1.1\"\n", "acme.dns_resolvers"),  # a list is required
        ({}, "[bogus]\nx = 1\n", "bogus"),
        ({}, "[server\n", "config file"),  # not TOML at all
    ],
)
def test_mistakes_stop_the_start_naming_the_key(tmp_path, env, toml, message):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(path, environ=env)


def test_derived_urls_and_database():
    config = load_config(None, environ={"EG_SERVER__HTTPS_PORT": "9443", "EG_STORAGE__DATA_DIR": "/tmp/x"})
    assert config.public_https_url == "https://127.0.0.1:9443"
    assert config.database_url == "sqlite+aiosqlite:////tmp/x/gateway.db"


@pytest.mark.parametrize(
    "env, refused",
    [
        ({"EG_SERVER__HOST": "0.0.0.0"}, "server.public_http_url"),  # Docker's host: certificates would say 127.0.0.1
        ({"EG_SERVER__HOST": "::", "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.com"},
         "server.public_https_url"),  # clients would be sent to loopback for the API
        ({"EG_SERVER__HOST": "0.0.0.0", "EG_SERVER__PUBLIC_HTTP_URL": "http://localhost:8080",
          "EG_SERVER__PUBLIC_HTTPS_URL": "https://pki.example.com"}, "server.public_http_url"),  # explicit, still loopback
        ({"EG_SERVER__HOST": "0.0.0.0", "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.com:8080",
          "EG_SERVER__PUBLIC_HTTPS_URL": "https://pki.example.com:8443"}, None),  # what the README tells Docker users
        ({"EG_SERVER__HOST": "127.0.0.1"}, None),  # loopback everywhere is consistent
        ({"EG_SERVER__HOST": "10.1.2.3"}, None),  # derived URLs carry the address itself
    ],
)
def test_loopback_urls_refused_when_listening_beyond_loopback(env, refused):
    from enrollment_gateway.config import check_public_urls

    config = load_config(None, environ=env)
    if refused is None:
        check_public_urls(config)
    else:
        with pytest.raises(ConfigError, match=refused.replace(".", r"\.")):
            check_public_urls(config)
