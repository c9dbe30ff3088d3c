"""Run a throw-away i2pd (Debian's 2.45.1) on loopback, for tests.

There is no private I2P network here: the router has no peers, builds no
tunnels and reseeds from nowhere, so no ``.i2p`` name ever resolves. What it
*does* give us is the real i2pd HTTP proxy and its real error pages, which is
what the crawler meets when an eepsite is unknown or unreachable. The markers
below were copied from those pages; product tests match on them.

Each :class:`I2pd` owns its config, datadir, log and ports under a caller
given workdir, so it never touches ``/var/lib/i2pd`` or a system service, and
it is always stopped on exit. Linux only (readiness is checked in ``/proc``).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.harness.ports import free_port  # racy; I2pd retries on a lost race
from tests.harness.service import Service

__all__ = [
    "HOST_DOWN_DETAIL",
    "HOST_DOWN_MARKER",
    "HOST_NOT_FOUND_DETAIL",
    "HOST_NOT_FOUND_MARKER",
    "I2PD_BINARY",
    "PROXY_PAGE_TITLE",
    "I2pd",
    "I2pdError",
    "free_port",
    "i2pd_available",
    "i2pd_command",
    "i2pd_config",
    "i2pd_datadir",
]

I2PD_BINARY = "/usr/sbin/i2pd"

# Exact strings from i2pd 2.45.1's HTTP proxy error pages (HTTP 500,
# text/html; charset=UTF-8, CRLF line ends). Both pages share the title; the
# <h1> tells them apart. These are proxy pages, never site content.
PROXY_PAGE_TITLE = "<title>I2Pd HTTP proxy</title>"
HOST_NOT_FOUND_MARKER = "<h1>Proxy error: Host not found</h1>"
HOST_NOT_FOUND_DETAIL = "Remote host not found in router's addressbook"
HOST_DOWN_MARKER = "<h1>Proxy error: Host is down</h1>"
HOST_DOWN_DETAIL = "Can't create connection to requested host, it may be down. Please try again later."

# i2pd keeps running when a proxy cannot bind its port and only logs this,
# so a port lost to a race must be detected from the log, not the exit code.
# e.g. "Clients: Exception in HTTP Proxy: bind: Address already in use".
_BIND_FAILURES = ("Exception in HTTP Proxy", "Exception in SOCKS Proxy")

_LOOPBACK = "127.0.0.1"


class I2pdError(RuntimeError):
    """i2pd did not come up; the message carries the tail of its log."""


def i2pd_available() -> str | None:
    """None if i2pd can be run here, else the reason to skip."""
    if not os.path.exists(I2PD_BINARY):
        found = shutil.which("i2pd")
        hint = f" (found {found}, but tests expect Debian's path)" if found else ""
        return f"{I2PD_BINARY} missing{hint}: apt-get install i2pd"
    if not os.access(I2PD_BINARY, os.X_OK):
        return f"{I2PD_BINARY} is not executable"
    if not os.path.isdir("/proc/self/fd"):
        return "needs Linux /proc to check which process owns the proxy port"
    return None


def i2pd_datadir(workdir: Path) -> Path:
    """The datadir that goes with :func:`i2pd_config` for the same workdir."""
    return workdir / "data"


def i2pd_config(
    workdir: Path,
    http_port: int,
    socks_port: int,
    *,
    ntcp2_port: int | None = None,
    loglevel: str = "info",
) -> Path:
    """Write a loopback-only i2pd config (and its empty datadir) under ``workdir``; return the config path.

    Pair it with :func:`i2pd_command` (the datadir can only be given on the
    command line: i2pd settles it before it reads the config file).
    """
    workdir = workdir.resolve()
    datadir = i2pd_datadir(workdir)
    tunnelsdir = workdir / "tunnels.d"
    for directory in (datadir, tunnelsdir):
        directory.mkdir(parents=True, exist_ok=True)
    tunconf = workdir / "tunnels.conf"
    # An explicit empty tunnels file, so it never falls back to ~/.i2pd or
    # /var/lib/i2pd/tunnels.conf and opens someone else's tunnels.
    tunconf.write_text("")
    if ntcp2_port is None:
        ntcp2_port = free_port()
    lines = [
        "# Written by tests/i2pnet.py: loopback only, no peers, no reseed.",
        f"tunconf = {tunconf}",
        f"tunnelsdir = {tunnelsdir}",
        f"pidfile = {workdir / 'i2pd.pid'}",
        "log = file",
        f"logfile = {workdir / 'i2pd.log'}",
        # info, not warn: readiness checks and failure reports read this log.
        f"loglevel = {loglevel}",
        "daemon = false",
        "service = false",
        "host = 127.0.0.1",
        "ipv4 = true",
        "address4 = 127.0.0.1",
        "ipv6 = false",
        "nat = true",
        "notransit = true",
        "floodfill = false",
        "",
        # i2pd aborts if every transport is off, so NTCP2 stays on but
        # unpublished (Debian 2.45.1 then does not even listen on it).
        "[ntcp2]",
        "enabled = true",
        "published = false",
        f"port = {ntcp2_port}",
        "",
        "[ssu2]",
        "enabled = false",
        "",
        # The web console is not needed and would claim 7070.
        "[http]",
        "enabled = false",
        "",
        "[httpproxy]",
        "enabled = true",
        "address = 127.0.0.1",
        f"port = {http_port}",
        # No outproxy: clearnet through it must fail, not leak.
        "",
        "[socksproxy]",
        "enabled = true",
        "address = 127.0.0.1",
        f"port = {socks_port}",
        "outproxy.enabled = false",
        "",
        # Every other listener off: each would claim a fixed port (SAM 7656, ...).
        "[sam]",
        "enabled = false",
        "",
        "[bob]",
        "enabled = false",
        "",
        "[i2cp]",
        "enabled = false",
        "",
        "[i2pcontrol]",
        "enabled = false",
        "",
        "[upnp]",
        "enabled = false",
        "",
        # No reseed servers: the only way it could reach the internet.
        "[reseed]",
        "urls =",
        "yggurls =",
        "",
        # Left enabled like a real router (unknown names then get the
        # addressbook's "Host not found" page); its subscription fetches go
        # over I2P tunnels, which never build here.
        "[addressbook]",
        "enabled = true",
        "defaulturl =",
        "subscriptions =",
        "",
        "[nettime]",
        "enabled = false",
        "",
        "[meshnets]",
        "yggdrasil = false",
        "",
    ]
    config = workdir / "i2pd.conf"
    config.write_text("\n".join(lines))
    return config


def i2pd_command(config: Path) -> list[str]:
    """argv that runs i2pd with a config from :func:`i2pd_config` (foreground, own datadir)."""
    config = config.resolve()
    return [I2PD_BINARY, f"--datadir={i2pd_datadir(config.parent)}", f"--conf={config}"]


def _die_with_parent() -> None:
    # Runs in the child before exec: if pytest is killed outright, the kernel
    # sends i2pd SIGTERM, so no router outlives the test run.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes of TCP listeners on 127.0.0.1:``port`` (from /proc/net/tcp)."""
    # /proc/net/tcp shows addresses as little-endian hex: 127.0.0.1 -> 0100007F.
    local = f"0100007F:{port:04X}"
    inodes: set[str] = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for row in table:
            fields = row.split()
            if fields[1] == local and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    return inodes


def _owns_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the listening socket on 127.0.0.1:``port``."""
    # Connecting is not enough: on a lost port race the listener could be
    # another process, and i2pd would carry on without its proxy.
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    wanted = {f"socket:[{inode}]" for inode in inodes}
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                if os.readlink(fd) in wanted:
                    return True
            except OSError:
                continue  # fd closed while we looked
    except OSError:
        return False
    return False


class I2pd(Service):
    """A private i2pd process; use as a context manager.

    On entry it writes the config, launches i2pd, and returns once i2pd
    itself listens on both proxy ports. On exit it sends SIGTERM, waits
    ``stop_timeout`` seconds (i2pd 2.45.1 takes ~2.6 s), then SIGKILLs.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        ready_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        attempts: int = 3,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.attempts = attempts
        self.http_proxy_port = 0
        self.socks_port = 0
        self.config: Path | None = None
        self.command: list[str] = []
        # Launch-to-ready and SIGTERM-to-exit times, for reporting.
        self.ready_seconds: float | None = None
        self.stop_seconds: float | None = None
        self.killed = False
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise I2pdError("i2pd is not running")
        return self._proc.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / "i2pd.log"

    @property
    def output_path(self) -> Path:
        """stdout/stderr of i2pd: config errors land here before its log is set up."""
        return self.workdir / "i2pd.out"

    @property
    def http_proxy(self) -> str:
        return f"http://{_LOOPBACK}:{self.http_proxy_port}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        last: I2pdError | None = None
        for _ in range(self.attempts):
            try:
                self._start_once()
                return
            except _PortLost as lost:
                last = lost  # another process took a port between pick and bind
                self.stop()
        raise I2pdError(f"i2pd could not bind its ports in {self.attempts} attempts") from last

    def _start_once(self) -> None:
        self.http_proxy_port = free_port()
        self.socks_port = free_port()
        self.config = i2pd_config(self.workdir, self.http_proxy_port, self.socks_port)
        self.command = i2pd_command(self.config)
        # A fresh log per attempt so old lines cannot satisfy or fail checks.
        self.log_path.unlink(missing_ok=True)
        self.ready_seconds = self.stop_seconds = None
        self.killed = False
        with open(self.output_path, "wb") as out:
            started = time.monotonic()
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                preexec_fn=_die_with_parent,
            )
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, started: float) -> None:
        assert self._proc is not None
        deadline = started + self.ready_timeout
        ports = (self.http_proxy_port, self.socks_port)
        while True:
            code = self._proc.poll()
            if code is not None:
                raise I2pdError(f"i2pd exited with {code} before its proxy was up\n{self.log_tail()}")
            log = self._read_log()
            if any(failure in log for failure in _BIND_FAILURES):
                raise _PortLost(f"i2pd could not bind a proxy port\n{self.log_tail()}")
            if all(_owns_listener(self._proc.pid, port) for port in ports):
                self.ready_seconds = time.monotonic() - started
                return
            if time.monotonic() > deadline:
                raise I2pdError(f"i2pd proxy not listening after {self.ready_timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM, bounded wait, then SIGKILL; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.killed = True
            proc.kill()
            proc.wait()
        self.stop_seconds = time.monotonic() - started

    def rss_kib(self) -> int:
        """Resident set size of the running router, in KiB (VmRSS)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise I2pdError("no VmRSS in /proc status")

    def _read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        text = self._read_log()
        try:
            output = self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            output = ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- i2pd output ---\n{output.strip()}\n--- i2pd log ({self.log_path}) ---\n{tail}"


class _PortLost(I2pdError):
    """A proxy port was taken by someone else between picking and binding it."""
