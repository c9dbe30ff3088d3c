"""A real PostgreSQL server for tests and benchmarks: private cluster, free loopback port.

``initdb`` with trust authentication (local socket and 127.0.0.1 only) and a
superuser named ``postgres``, so every URL is ``postgresql://postgres@127.0.0.1:PORT/db``
whoever started it.  ``fsync``, ``synchronous_commit`` and ``full_page_writes`` are off:
a test cluster is thrown away, and its disk flushes would dominate a 2-core CI run.
A clean :meth:`PostgresServer.stop` (fast shutdown, a checkpoint) still keeps what
was committed, so :meth:`~PostgresServer.restart` finds it again.

postgres refuses to run as root.  Run as root (CI containers), the cluster belongs to
the ``postgres`` OS user and lives in a directory of its own under the system temp
dir, because pytest's ``tmp_path`` (under a 0700 root-owned folder) is out of that
user's reach; the server's log still goes to ``postgres.log`` in *workdir* (its
stderr, a file we open).  Run as anyone else, it all lives in *workdir*.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from tests.harness.ports import LOOPBACK, free_port
from tests.harness.procs import stop
from tests.harness.service import Service

__all__ = ["PostgresServer", "postgres_bindir", "postgres_missing"]

INSTALL_HINT = "needs postgresql (apt-get install postgresql)"
SUPERUSER = "postgres"
#: the OS user a server started by root runs as (Debian's package creates it)
OS_USER = "postgres"


def _version_key(bindir: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,): numeric, so 10 sorts after 9
    name = Path(bindir).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def postgres_bindir() -> Path | None:
    """The newest Debian /usr/lib/postgresql/*/bin with initdb and postgres, else pg_config's."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for candidate in candidates:
        path = Path(candidate)
        if all(os.access(path / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return path
    return None


def postgres_missing() -> str | None:
    if postgres_bindir() is None:
        return INSTALL_HINT
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"needs the {OS_USER!r} OS user to run postgres as (apt-get install postgresql creates it)"
    return None


class PostgresServer(Service):
    """One cluster; :meth:`create_database` for a database per test."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "postgres.log"
        self._as_root = os.geteuid() == 0
        # made on first start, kept across restarts; removed by cleanup()
        self._root: Path | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``postgres`` maintenance database."""
        return self.database_url(SUPERUSER)

    def database_url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{self.port}/{name}"

    @property
    def datadir(self) -> Path:
        return self._cluster_root() / "data"

    @property
    def socketdir(self) -> Path:
        return self._cluster_root() / "socket"

    def connect(self, dbname: str = SUPERUSER, *, autocommit: bool = False, timeout: int = 10) -> psycopg.Connection:
        return psycopg.connect(self.database_url(dbname), autocommit=autocommit, connect_timeout=timeout)

    def create_database(self, name: str) -> str:
        """CREATE DATABASE *name* (outside a transaction, as it must be); its URL."""
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def start(self, timeout: float = 30.0) -> None:
        missing = postgres_missing()
        if missing:
            raise RuntimeError(missing)
        bindir = postgres_bindir()
        assert bindir is not None
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb(bindir)
        argv = [
            str(bindir / "postgres"), "-D", str(self.datadir),
            "-c", f"listen_addresses={LOOPBACK}", "-c", f"port={self.port}",
            "-c", f"unix_socket_directories={self.socketdir}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "logging_collector=off",  # to stderr, i.e. our log file
        ]  # fmt: skip
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                        cwd=self._cluster_root(), **self._run_as())
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect(timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                pass  # not listening yet, or "the database system is starting up"
            if self.process.poll() is not None:
                code = self.process.returncode
                self._close_log()
                self.process = None
                raise RuntimeError(f"postgres exited with {code}: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"postgres not accepting connections on port {self.port} "
                                   f"after {timeout:.0f}s: {self._log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # SIGINT is postgres's "fast" shutdown: ends sessions, checkpoints, exits.
            # (SIGTERM, "smart", would wait for every client to disconnect.)
            stop(self.process, signal.SIGINT, timeout)
        self.process = None
        self._close_log()

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def cleanup(self) -> None:
        """Stop, and remove the cluster if it lives outside *workdir* (the root case)."""
        self.stop()
        if self._root is not None and self._as_root:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    # -- internals ---------------------------------------------------------------------

    def _cluster_root(self) -> Path:
        if self._root is None:
            if self._as_root:
                import pwd

                user = pwd.getpwnam(OS_USER)
                root = Path(tempfile.mkdtemp(prefix="darkcrawl-pg-"))
                for path in (root, root / "data", root / "socket"):
                    path.mkdir(mode=0o700, exist_ok=True)
                    os.chown(path, user.pw_uid, user.pw_gid)
                # a pointer from the workdir, for whoever debugs a failed run
                link = self.workdir / "cluster"
                if not link.is_symlink():
                    link.symlink_to(root)
                self._root = root
            else:
                root = self.workdir
                for path in (root / "data", root / "socket"):
                    path.mkdir(mode=0o700, exist_ok=True)
                self._root = root
        return self._root

    def _run_as(self) -> dict[str, object]:
        """Popen keywords: run as the postgres OS user when we are root (postgres refuses root)."""
        if not self._as_root:
            return {}
        return {"user": OS_USER, "group": OS_USER, "extra_groups": [],
                "env": {**os.environ, "HOME": str(self._cluster_root()), "USER": OS_USER, "LOGNAME": OS_USER}}

    def _initdb(self, bindir: Path) -> None:
        base = [str(bindir / "initdb"), "-D", str(self.datadir), "-U", SUPERUSER,
                "--auth-local=trust", "--auth-host=trust", "-E", "UTF8", "--no-sync", "--no-instructions"]
        # C.UTF-8 where the libc has it (Debian does), else plain C: both sort bytewise,
        # so tests do not depend on the machine's locales.
        errors = []
        for locale in ("C.UTF-8", "C"):
            proc = subprocess.run([*base, f"--locale={locale}"], capture_output=True, text=True, timeout=120,
                                  cwd=self._cluster_root(), **self._run_as())  # type: ignore[call-overload]
            if proc.returncode == 0:
                return
            errors.append(f"--locale={locale}: {proc.stderr.strip()[-500:]}")
            # a half-made cluster would make the next try refuse "directory not empty"
            for child in self.datadir.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise RuntimeError(f"initdb failed: {'; '.join(errors)}")

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
