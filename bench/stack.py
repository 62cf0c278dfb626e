"""The processes the service benchmarks (bench/load.py, bench/faults.py) start for themselves: a private
redis-server, a fresh PostgreSQL database, gunicorn, Celery workers and beat. Not a benchmark itself.

Every process runs config.settings.production (the deployed settings) with the environment it requires:
a bench-only secret key, ALLOWED_HOSTS 127.0.0.1, DATABASE_URL and CELERY_BROKER_URL pointed at the bench's own
database and Redis. Production redirects plain HTTP to HTTPS; the bench's clients say they came through a TLS
proxy (X-Forwarded-Proto: https, which production trusts via SECURE_PROXY_SSL_HEADER), as the load balancer in
front of gunicorn would, so every request is answered by the view and not by a redirect.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
PG = {"host": os.environ.get("BENCH_PGHOST", "127.0.0.1"), "port": os.environ.get("BENCH_PGPORT", "5432"),
      "user": os.environ.get("BENCH_PGUSER", "postgres")}
FORWARDED_HTTPS = {"X-Forwarded-Proto": "https"}


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return out + ("+dirty" if dirty else "")


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "loadavg": list(os.getloadavg())}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_result(name: str, result: dict) -> Path:
    path = REPO / "bench" / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


class Redis:
    """A private redis-server without persistence (a restart loses every message, the worst case)."""

    def __init__(self, port: int, log_dir: Path):
        self.port, self.log_path = port, log_dir / f"redis-{port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,
        )
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.3) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # --save "": nothing is written, every message is gone
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


def pg_admin(sql: str, db: str = "postgres") -> str:
    return subprocess.run(
        ["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", db, "-Atc", sql],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def fresh_database(name: str) -> str:
    """Drop and create the bench's own database; returns its URL."""
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{name}"')
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


class Stack:
    """The environment of every process of one bench run, and the processes it started (stopped at exit)."""

    def __init__(self, *, db_name: str, redis: Redis, extra_env: dict[str, str] | None = None):
        self.db_name, self.redis = db_name, redis
        self.log_dir = Path(tempfile.mkdtemp(prefix="plumbline-bench-"))
        self.procs: list[subprocess.Popen] = []
        self.db_url = f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{db_name}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PLUMBLINE_"))},
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.db_url,
            "CELERY_BROKER_URL": redis.url,
            "PLUMBLINE_DATA_DIR": str(REPO / "var" / "test-cache"),  # the converted model the tests use
            "PLUMBLINE_ENGINE_MAX_SEQ_LEN": "1024",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }

    def use_here(self) -> None:
        """This process talks to the same database and broker through Django (users, tokens, counts)."""
        os.environ.update(self.env)
        sys.path.insert(0, str(REPO))
        import django

        django.setup()

    def migrate(self) -> None:
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=self.env, check=True)

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(args, cwd=REPO, env={**self.env, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = self.log_dir / f"{name}.log"  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def gunicorn(self, port: int, workers: int = 2) -> subprocess.Popen:
        proc = self.spawn("gunicorn", [PY, "-m", "gunicorn", "-c", "platform/gunicorn.conf.py",
                                       "config.wsgi:application"],
                          env={"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers)})
        wait_for(lambda: _port_open(port), 60, f"gunicorn on {port}", proc)
        return proc

    def worker(self, name: str, queues: str, *, concurrency: int = 4, pool: str = "threads",
               env: dict[str, str] | None = None, dbapp: str | None = None) -> subprocess.Popen:
        extra = dict(env or {})
        if dbapp:  # the worker's PostgreSQL connections carry this application_name (pg_stat_activity)
            extra["DATABASE_URL"] = f"{self.db_url}?application_name={dbapp}"
        proc = self.spawn(name, [PY, "-m", "celery", "-A", "config", "worker", "-Q", queues, "--pool", pool,
                                 "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-mingle",
                                 "--without-gossip", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"], env=extra)
        wait_for(lambda: "ready." in log_of(proc), 90, f"worker {name}", proc)
        return proc

    def beat(self) -> subprocess.Popen:
        return self.spawn("beat", [PY, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                                   "--schedule", str(self.log_dir / "celerybeat-schedule")])

    def kill(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.redis.stop()

    def cleanup(self, keep_logs: bool) -> None:
        if not keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)


def log_of(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def wait_for(cond, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log_of(proc)[-3000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout}s" + (f":\n{log_of(proc)[-3000:]}" if proc else ""))


def make_clients(n_users: int, tokens_per_user: int, role: str = "analyst") -> list[str]:
    """Users of one role, each with API tokens (apps.accounts.services); returns the plaintext keys."""
    from apps.accounts.services import api_token_create, user_create

    keys = []
    for u in range(n_users):
        user = user_create(username=f"bench-{role}-{u}", password=uuid.uuid4().hex, role=role)
        keys += [api_token_create(user=user, name=f"bench-{t}") for t in range(tokens_per_user)]
    return keys
