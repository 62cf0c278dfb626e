"""Stopping the real server and worker processes that tests start."""
from __future__ import annotations

import signal
import subprocess


def terminate(proc: subprocess.Popen, *, timeout: float = 20) -> None:
    """SIGTERM (a graceful shutdown), then SIGKILL if the process is still there after `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
