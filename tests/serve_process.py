"""A real `python -m modelcore serve` subprocess for tests (the server test and the openai backend's tests)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.processes import terminate

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`modelcore serve` on a free loopback port; `url` is its OpenAI base URL (…/v1)."""

    def __init__(self, model: str | Path, *, log_path: Path, api_key: str, model_name: str,
                 adapters: dict[str, str | Path] | None = None, args: tuple[str, ...] = (), timeout: float = 120):
        self.port = free_port()
        self.api_key = api_key
        self.model_name = model_name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        cmd = [sys.executable, "-m", "modelcore", "serve", "--model", str(model), "--served-model-name", model_name,
               "--host", "127.0.0.1", "--port", str(self.port), "--api-key", api_key, *args]
        for name, path in (adapters or {}).items():
            cmd += ["--adapters", f"{name}={path}"]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.root}/health", timeout=5) as response:
            return json.loads(response.read())

    def _wait_ready(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"modelcore serve exited early:\n{self.log()[-3000:]}")
            try:
                self.health()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"modelcore serve not ready after {timeout}s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        terminate(self.proc)
        if not self._log.closed:
            self._log.close()
