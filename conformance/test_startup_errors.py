"""Start-up errors from a real `enrollment-gateway` process: one clear line on stderr, exit status 2, no traceback.

Each case is a kind of fault a new user meets: a port in use (either listener), a setting the logging module or
the listeners cannot use, a database that cannot be reached, a key that cannot be read.
"""

from __future__ import annotations

import json
import socket

import pytest

from gateway_process import free_port, run_cli

pytestmark = pytest.mark.slow


def _person_lines(stderr: str) -> list[str]:
    """stderr without the JSON log lines (those are for machines and may precede the failure)."""
    out = []
    for line in stderr.splitlines():
        try:
            json.loads(line)
        except ValueError:
            if line.strip():
                out.append(line)
    return out


def _assert_one_line_exit_2(result, *words: str) -> None:
    lines = _person_lines(result.stderr)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def held_port():
    """A loopback port some other program is listening on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("listener", ["https", "http"])  # the second listener failing must not leak the first
def test_port_in_use(tmp_path, held_port, listener):
    ports = {"https": free_port(), "http": free_port()}
    ports[listener] = held_port
    result = run_cli("serve", "--data-dir", str(tmp_path / "data"), "--https-port", str(ports["https"]),
                     "--http-port", str(ports["http"]), cwd=tmp_path)
    _assert_one_line_exit_2(result, f"127.0.0.1:{held_port}", "in use", f"--{listener}-port")


@pytest.mark.parametrize(
    "env, words",
    [
        ({"EG_LOGGING__LEVEL": "LOUD"}, ["logging.level", "LOUD"]),  # logging.setLevel would raise ValueError
        ({"EG_LOGGING__LEVEL": ""}, ["logging.level"]),
        ({"EG_SERVER__HTTP_PORT": "0"}, ["server.http_port"]),  # a port the listener cannot mean
        ({"EG_SERVER__HTTPS_PORT": "70000"}, ["server.https_port"]),  # OverflowError in bind today
        ({"EG_SERVER__MAX_BODY_BYTES": "-1"}, ["server.max_body_bytes"]),
        ({"EG_SERVER__IDLE_TIMEOUT_SECONDS": "nan"}, ["server.idle_timeout_seconds"]),
        ({"EG_SERVER__PUBLIC_HTTP_URL": "pki.example.com"}, ["server.public_http_url"]),  # no scheme
        ({"EG_STORAGE__DATABASE_URL": "mysql://root@localhost/eg"}, ["storage.database_url"]),
        ({"EG_STORAGE__KEK": "not base64!"}, ["storage.kek"]),  # "internal error", exit 1 today
        ({"EG_STORAGE__KEK": "c2hvcnQ="}, ["storage.kek", "32 bytes"]),  # base64, but 5 bytes
        ({"EG_SERVER__TLS_CERT_FILE": "/nonexistent/cert.pem"}, ["server.tls_cert_file"]),
        ({"EG_SERVER__NOPE": "1"}, ["server.nope"]),
    ],
)
def test_bad_settings(tmp_path, env, words):
    result = run_cli("serve", "--data-dir", str(tmp_path / "data"), "--https-port", str(free_port()),
                     "--http-port", str(free_port()), env=env, cwd=tmp_path)
    _assert_one_line_exit_2(result, *words)


def test_bad_config_file(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text("[server]\nhttps_port = 8443\nhttps_port = 8444\n")  # TOML forbids a repeated key
    result = run_cli("serve", "--config", str(config), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    _assert_one_line_exit_2(result, str(config))


@pytest.mark.parametrize("command", [["serve"], ["list-cas"], ["create-admin-token"]])
@pytest.mark.parametrize(
    "url, words",
    [
        (lambda: f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test", ["cannot open the database"]),
        (lambda: "postgresql+asyncpg://postgres@127.0.0.1:5432/eg_no_such_database", ["eg_no_such_database"]),
        (lambda: "postgresql+asyncpg://postgres:s3cret@no-such-host.invalid:5432/test", ["no-such-host.invalid"]),
    ],
)
def test_unreachable_database(tmp_path, command, url, words):
    result = run_cli(*command, "--data-dir", str(tmp_path / "data"), "--https-port", str(free_port()),
                     "--http-port", str(free_port()), env={"EG_STORAGE__DATABASE_URL": url()}, cwd=tmp_path)
    _assert_one_line_exit_2(result, *words)
    assert "s3cret" not in result.stderr  # the password never reaches a terminal or a log
