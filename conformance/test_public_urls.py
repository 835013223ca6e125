"""One source of truth for public URLs: what CA certificates carry is what the running gateway serves.

A CA made by `create-ca` before `serve` carries the URLs of the settings create-ca ran with; `serve` with other
ports must refuse rather than hand out certificates whose CRL/OCSP/CA-issuer URLs lead nowhere. The Docker
image listens on 0.0.0.0: without a public URL it must refuse instead of stamping 127.0.0.1.
"""

from __future__ import annotations

import json
import shlex
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from gateway_process import ROOT, GatewayProcess, free_port, run_cli

pytestmark = pytest.mark.slow


def _create_ca(data_dir: Path, name: str, *extra: str, env: dict[str, str] | None = None):
    return run_cli("create-ca", "--data-dir", str(data_dir), "--name", name, "--cn", name, *extra, env=env,
                   cwd=data_dir.parent)


def _certificate(result) -> tuple[dict, x509.Certificate]:
    assert result.returncode == 0, result.stderr
    first, _, pem = result.stdout.partition("\n")
    return json.loads(first), x509.load_pem_x509_certificate(pem.encode())


def _urls(cert: x509.Certificate) -> list[str]:
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return [n.value for dp in cdp for n in dp.full_name] + [d.access_location.value for d in aia]


def test_ca_made_by_the_cli_with_other_ports_refuses_the_start(tmp_path):
    data_dir = tmp_path / "data"
    root, _ = _certificate(_create_ca(data_dir, "root"))
    _certificate(_create_ca(data_dir, "issuing", "--parent", root["id"]))  # the default ports: 8080 in its URLs
    result = run_cli("serve", "--data-dir", str(data_dir), "--https-port", str(free_port()),
                     "--http-port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "'issuing'" in line and "http://127.0.0.1:8080" in line and "--http-port" in line, line


def test_ca_made_by_the_cli_with_the_same_ports_carries_urls_the_server_serves(tmp_path):
    data_dir = tmp_path / "data"
    https_port, http_port = free_port(), free_port()
    ports = ("--https-port", str(https_port), "--http-port", str(http_port))  # create-ca takes serve's flags
    root, _ = _certificate(_create_ca(data_dir, "root", *ports))
    issuing, cert = _certificate(_create_ca(data_dir, "issuing", "--parent", root["id"], *ports))
    gw = GatewayProcess(data_dir, https_port, http_port, demo_setup=False).start()
    try:
        urls = _urls(cert)
        assert len(urls) == 3 and all(u.startswith(f"http://127.0.0.1:{http_port}/") for u in urls), urls
        for url in urls:
            if "/ocsp/" in url:
                continue  # an OCSP URL answers POSTed requests; its CA id is the one the CRL URL names
            with urllib.request.urlopen(url, timeout=10) as r:
                assert r.status == 200 and r.read()
        assert any(u.endswith(f"/ocsp/{root['id']}") for u in urls)
    finally:
        assert gw.stop() == 0, gw.output()


def _docker_env(tmp_path: Path) -> dict[str, str]:
    """The ENV the Dockerfile sets, with the state directory moved into the test's temp dir."""
    env: dict[str, str] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            env.update(dict(item.split("=", 1) for item in shlex.split(line[4:])))
    assert env.get("EG_SERVER__HOST") == "0.0.0.0", env  # what made certificates carry 127.0.0.1
    env["EG_STORAGE__DATA_DIR"] = str(tmp_path / "state")
    return env


@pytest.mark.parametrize("command", [["serve"], ["serve", "--demo"], ["create-ca", "--name", "r", "--cn", "R"]])
def test_docker_image_without_a_public_url_refuses_loopback_urls(tmp_path, command):
    result = run_cli(*command, env=_docker_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "EG_SERVER__PUBLIC_HTTP_URL" in line and "127.0.0.1" in line, line
    assert not (tmp_path / "state" / "gateway.db").exists()  # refused before anything was made


def test_docker_image_with_a_public_url_stamps_it(tmp_path):
    env = {**_docker_env(tmp_path), "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.test:8080",
           "EG_SERVER__PUBLIC_HTTPS_URL": "https://pki.example.test:8443"}
    state = Path(env["EG_STORAGE__DATA_DIR"])
    root, _ = _certificate(run_cli("create-ca", "--name", "root", "--cn", "Root", env=env, cwd=tmp_path))
    _, cert = _certificate(run_cli("create-ca", "--name", "issuing", "--cn", "Issuing", "--parent", root["id"],
                                   env=env, cwd=tmp_path))
    assert sorted(_urls(cert)) == sorted([f"http://pki.example.test:8080/crl/{root['id']}.crl",
                                          f"http://pki.example.test:8080/ocsp/{root['id']}",
                                          f"http://pki.example.test:8080/ca/{root['id']}.crt"])
    assert (state / "gateway.db").exists()
