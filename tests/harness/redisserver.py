"""A real redis-server for tests: private directory, free loopback port, append-only file.

``appendonly yes`` so that what a crawl wrote survives :meth:`RedisServer.restart`
(``SHUTDOWN`` writes the AOF out first), as a production Redis should be set up.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.harness.ports import free_port
from tests.harness.procs import stop
from tests.harness.service import Service

REDIS_SERVER = "redis-server"


def redis_server_missing() -> str | None:
    if shutil.which(REDIS_SERVER) is None:
        return "needs redis-server (apt-get install redis-server)"
    return None


class RedisServer(Service):
    """``appendonly=False`` for a benchmark that measures Redis without its disk writes."""

    def __init__(self, workdir: Path, port: int | None = None, *, appendonly: bool = True) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, socket_timeout: float = 10) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=socket_timeout)

    def cpu_seconds(self) -> float:
        """User + system CPU redis-server has used so far (``INFO cpu``)."""
        with self.client(socket_timeout=60) as client:
            info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def start(self, timeout: float = 15.0) -> None:
        missing = redis_server_missing()
        if missing:
            raise RuntimeError(missing)
        argv = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec", "--save", "",
            "--daemonize", "no", "--logfile", str(self.workdir / "redis.log"), "--protected-mode", "yes",
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        client = self.client()
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}: {self._log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server not answering on port {self.port}: {self._log_tail()}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            stop(self.process, signal.SIGTERM, timeout)  # SIGTERM: Redis writes its AOF out and exits
        self.process = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def _log_tail(self, lines: int = 10) -> str:
        try:
            return " | ".join((self.workdir / "redis.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
