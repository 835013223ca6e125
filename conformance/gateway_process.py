"""Start a real `enrollment-gateway serve --demo` process on free loopback ports, and stop it by its PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "enrollment_gateway.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 120.0
            ) -> subprocess.CompletedProcess:
    """Run one `enrollment-gateway` command to its end (for commands that exit, or starts that must fail)."""
    return subprocess.run([*CLI, *args], env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class GatewayProcess:
    data_dir: Path
    https_port: int
    http_port: int
    env: dict[str, str] = field(default_factory=dict)
    demo_setup: bool = True  # serve --demo
    proc: subprocess.Popen | None = None
    log_path: Path | None = None  # stderr: the JSON logs
    stdout_path: Path | None = None  # stdout: what the gateway announces to a person

    @property
    def demo(self) -> dict:
        return json.loads((self.data_dir / "demo.json").read_text())

    def start(self, timeout: float = 60.0) -> "GatewayProcess":
        self.launch()
        return self.wait_healthy(timeout)

    def launch(self) -> subprocess.Popen:
        """Start the process without waiting for it (several at once, or one expected to fail)."""
        self.log_path = self.data_dir.parent / f"gateway-{self.https_port}.log"
        self.stdout_path = self.log_path.with_suffix(".out")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with open(self.log_path, "wb") as log, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(
                [*CLI, "serve", *(["--demo"] if self.demo_setup else []), "--data-dir", str(self.data_dir),
                 "--host", "127.0.0.1", "--https-port", str(self.https_port), "--http-port", str(self.http_port)],
                stdout=out, stderr=log, env=env, cwd=ROOT,
            )
        return self.proc

    def wait_healthy(self, timeout: float = 60.0) -> "GatewayProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.output()}")
            if self._healthy():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gateway did not become healthy in {timeout}s:\n{self.output()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                return r.status == 200 and (not self.demo_setup or (self.data_dir / "demo.json").exists())
        except OSError:
            return False

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.demo["ca_bundle"])

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def announced(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path and self.stdout_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


def start_gateway(tmp_path: Path, *, ports: tuple[int, int] | None = None, **env: str) -> GatewayProcess:
    """`serve --demo` on `tmp_path/data`, on fresh free ports unless `ports` (https, http) are given: a restart on
    the same data must keep its ports, since its CA certificates carry the plain-HTTP URL."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    https_port, http_port = ports or (free_port(), free_port())
    return GatewayProcess(data_dir, https_port, http_port, env=dict(env)).start()
