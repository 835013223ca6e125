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
    proc: subprocess.Popen | None = None
    log_path: Path | None = None  # stderr: the JSON logs
    stdout_path: Path | None = None  # stdout: what the gateway announces to a person

    @property
    def demo(self) -> dict:
        return json.loads((self.data_dir / "demo.json").read_text())

    def start(self, timeout: float = 60.0) -> "GatewayProcess":
        self.log_path = self.data_dir.parent / f"gateway-{self.https_port}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.stdout_path = self.log_path.with_suffix(".out")
        log, out = open(self.log_path, "wb"), open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enrollment_gateway.cli", "serve", "--demo", "--data-dir", str(self.data_dir),
             "--host", "127.0.0.1", "--https-port", str(self.https_port), "--http-port", str(self.http_port)],
            stdout=out, stderr=log, env=env, cwd=ROOT,
        )
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
                return r.status == 200 and (self.data_dir / "demo.json").exists()
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


def start_gateway(tmp_path: Path, **env: str) -> GatewayProcess:
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return GatewayProcess(data_dir, free_port(), free_port(), env=dict(env)).start()
