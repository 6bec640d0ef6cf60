"""Process plumbing for the load and chaos runs: the database, gunicorn, a Celery worker.

The web processes run the production settings (DEBUG off, secure cookies, JSON-only API)
with two local adjustments: no HTTPS redirect and no HSTS, because loopback has no TLS.
The client sends ``X-Forwarded-Proto: https`` as the TLS-terminating proxy in front of
gunicorn would, so secure cookies and the HTTPS CSRF checks behave as in production.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cp_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_host_port(database_url: str, host: str, port: int) -> str:
    """The same database reached through another address (the chaos proxy)."""
    parts = urlsplit(database_url)
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{userinfo}{host}:{port}", parts.path, parts.query, parts.fragment))


def database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


def admin_url(database_url: str) -> str:
    """The same server's ``postgres`` database, as a libpq URL."""
    parts = urlsplit(database_url)
    scheme = "postgresql" if parts.scheme in ("postgres", "pgsql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, "/postgres", "", ""))


def ensure_database(database_url: str) -> bool:
    """Create the database if it does not exist. True if it was created."""
    import psycopg

    name = database_name(database_url)
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def server_env(*, database_url: str, redis_url: str | None, broker_url: str, settings_module: str,
               eager: bool = False) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("LOAD_SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "1" if eager else "0",
        "LOG_LEVEL": os.environ.get("LOAD_LOG_LEVEL", "WARNING"),
        "PYTHONPATH": str(ROOT),
        # Fail a refused connection fast; a black-holed one within this many seconds.
        "DB_CONNECT_TIMEOUT": os.environ.get("DB_CONNECT_TIMEOUT", "3"),
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def migrate(env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


class Gunicorn:
    """gunicorn on loopback with ``workers`` processes (gthread when ``threads`` > 1).

    Its log goes to ``log_path`` so the run can prove afterwards that no worker was
    restarted or timed out (``boots``, ``timeouts``)."""

    def __init__(self, env: dict, *, port: int | None = None, workers: int = 4, threads: int = 1,
                 timeout: int = 30, log_path: Path | None = None, cpu_report: bool = False):
        self.env = dict(env)
        self.cpu_dir = None
        if cpu_report:  # tests.load.gunicorn_cpu: CPU per request kind, written at exit
            import tempfile

            self.cpu_dir = tempfile.mkdtemp(prefix="load-cpu-")
            self.env["LOAD_CPU_REPORT_DIR"] = self.cpu_dir
        self.port = port or free_port()
        self.workers = workers
        self.threads = threads
        self.timeout = timeout
        self.log_path = log_path or ROOT / "var" / "load" / f"gunicorn-{self.port}.log"
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 60) -> "Gunicorn":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        cmd = [
            sys.executable, "-m", "gunicorn", "controlplane.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
            "--worker-class", "gthread" if self.threads > 1 else "sync", "--threads", str(self.threads),
            "--timeout", str(self.timeout), "--graceful-timeout", "5", "--backlog", "256",
            "--log-level", "info", "--error-logfile", "-",
        ]
        if self.cpu_dir:
            cmd += ["--config", "python:tests.load.gunicorn_cpu"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200 and self.log().count("Booting worker") >= self.workers:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {wait} s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # Graceful: a "quick" SIGQUIT left gthread workers to be SIGKILLed after the
            # graceful timeout, which the log then reports as "perhaps out of memory".
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None) and not self._log.closed:
            self._log.close()

    def worker_cpu_seconds(self) -> float:
        """User + system CPU the worker processes have used so far (Linux /proc)."""
        if self.proc is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        try:
            children = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
        except OSError:
            return 0.0
        for pid in children:
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return total

    def cpu_report(self) -> dict:
        """After ``stop``: per endpoint name, {count, web_ms, pg_ms, statements, wall_ms}
        summed over the workers (tests.load.gunicorn_cpu)."""
        import json

        totals = {}
        for path in Path(self.cpu_dir or "/nonexistent").glob("*.json"):
            for endpoint, (count, web, pg, statements, wall) in json.loads(path.read_text()).items():
                row = totals.setdefault(endpoint, {"count": 0, "web_ms": 0.0, "pg_ms": 0.0, "statements": 0, "wall_ms": 0.0})
                row["count"] += count
                row["web_ms"] += web / 1e6
                row["pg_ms"] += pg / 1e6
                row["statements"] += statements
                row["wall_ms"] += wall / 1e6
        return totals

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def boots(self) -> int:
        """Worker processes started; more than ``workers`` means one died and was replaced."""
        return self.log().count("Booting worker")

    @property
    def timeouts(self) -> int:
        return self.log().count("WORKER TIMEOUT")

    @property
    def tracebacks(self) -> int:
        return self.log().count("Traceback (most recent call last)")


class CeleryWorker:
    """One real worker consuming what the web processes queue on commit."""

    def __init__(self, env: dict, *, log_path: Path | None = None):
        self.env = env
        self.log_path = log_path or ROOT / "var" / "load" / "celery.log"
        self.proc = None

    def start(self) -> "CeleryWorker":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "controlplane", "worker", "--concurrency=1", "--loglevel=WARNING",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"load-{os.getpid()}@%h"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None) and not self._log.closed:
            self._log.close()


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            todo += open(f"/proc/{p}/task/{p}/children").read().split()
        except (OSError, ValueError):
            continue
    return total


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    values = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, already in user
    return (total - idle) / tick, total / tick


def broker_backlog(broker_url: str, purge: bool = False) -> int | None:
    """Messages waiting in the default Celery queue (None for a non-Redis broker)."""
    if not broker_url.startswith("redis"):
        return None
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=2)
    try:
        depth = client.llen("celery")
        if purge:
            client.delete("celery")
        return depth
    finally:
        client.close()
