"""``scrapy doctor``'s checks: does each thing a crawl needs answer, now, in seconds.

Each check is a function of the effective settings returning a :class:`Check`; they
run side by side in threads, each bounded, so the whole takes a few seconds even
when everything is down.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from scrapy.settings import BaseSettings

from darkcrawl.config import ConfigError
from darkcrawl.networks.socks import extended_errors
from darkcrawl.render.browser import browser_missing, chromium_binary

OK, WARN, FAIL = "ok", "warn", "FAIL"
#: Seconds one network probe may take.
PROBE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<9} {self.detail}"


def socks5_answers(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when a SOCKS5 proxy answers the no-auth greeting there, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"\x05\x01\x00")
            reply = sock.recv(2)
    except OSError as exc:
        return f"nothing answers ({exc.strerror or exc})"
    if reply[:1] != b"\x05":
        return f"answers, but not as a SOCKS5 proxy (got {reply!r})"
    return None


def tcp_answers(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"nothing answers ({exc.strerror or exc})"


def check_tor(settings: BaseSettings) -> Check:
    port = settings.getint("TOR_PORT")
    problem = socks5_answers("127.0.0.1", port)
    if problem is None:
        extended = extended_errors("127.0.0.1", port, PROBE_TIMEOUT)
        if extended is False:
            return Check("tor", WARN, f"SOCKS5 proxy answers on 127.0.0.1:{port}, without ExtendedErrors: onion "
                                      "failures arrive without their reason; add ExtendedErrors to its SocksPort "
                                      f"line (SocksPort {port} ExtendedErrors) and reload tor")
        said = "with ExtendedErrors" if extended else "ExtendedErrors could not be checked"
        return Check("tor", OK, f"SOCKS5 proxy answers on 127.0.0.1:{port} ({said})")
    command = settings.get("DARKCRAWL_TOR_CMD") or "tor"
    if not settings.getbool("DARC_TOR"):
        return Check("tor", FAIL, f"127.0.0.1:{port}: {problem}, and DARC_TOR=0: onions cannot be crawled")
    binary = shutil.which(command)
    if binary is None:
        return Check("tor", FAIL, f"127.0.0.1:{port}: {problem}, and {command!r} is not installed (apt-get install tor)")
    return Check("tor", WARN, f"127.0.0.1:{port}: {problem}; a crawl launches {binary} "
                              "(whether it reaches the Tor network shows while it bootstraps)")


def _gateway(name: str, port_setting: str, enabled: str, path_setting: str | None) -> Callable[[BaseSettings], Check]:
    def check(settings: BaseSettings) -> Check:
        port = settings.getint(port_setting)
        problem = tcp_answers("127.0.0.1", port)
        if problem is None:
            return Check(name, OK, f"answers on 127.0.0.1:{port}")
        if not settings.getbool(enabled):
            launch = f"not launched ({enabled}=0)"
        elif path_setting and not Path(settings[path_setting]).exists():
            launch = f"not installed at {path_setting}={settings[path_setting]}"
        elif name == "i2p" and not (settings.get("DARKCRAWL_I2P_CMD") or shutil.which("i2prouter") or shutil.which("i2pd")):
            launch = "no I2P router installed (apt-get install i2pd)"
        else:
            launch = "launched on first use"
        return Check(name, WARN, f"127.0.0.1:{port}: {problem}; {launch}: its links fail until it answers")
    return check


def check_chromium(settings: BaseSettings) -> Check:
    if not settings.getbool("DARKCRAWL_RENDER"):
        return Check("chromium", OK, "render stage off (DARKCRAWL_RENDER=0)")
    binary = chromium_binary(settings.get("DARKCRAWL_CHROMIUM") or "")
    missing = browser_missing(binary)
    if missing:
        return Check("chromium", FAIL, missing)
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("chromium", FAIL, f"{binary} does not run: {exc}")
    version = (out.stdout or out.stderr).strip().splitlines()[:1]
    if out.returncode:
        return Check("chromium", FAIL, f"{binary} --version failed (exit {out.returncode}): {' '.join(version)}")
    return Check("chromium", OK, f"{version[0]} ({binary})" if version else binary)


def check_path_data(settings: BaseSettings) -> Check:
    folder = Path(settings["PATH_DATA"]).expanduser()
    if not folder.exists():  # not created here: the doctor leaves no trace
        from darkcrawl.preflight import check_writable_folder

        try:
            check_writable_folder("PATH_DATA", str(folder))
        except ConfigError as exc:
            return Check("PATH_DATA", FAIL, str(exc))
        return Check("PATH_DATA", OK, f"{folder.absolute()} does not exist yet; a crawl creates it")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("PATH_DATA", FAIL, f"{folder} is not writable: {exc.strerror or exc}")
    free = shutil.disk_usage(folder).free
    status = WARN if free < 1 << 30 else OK
    return Check("PATH_DATA", status, f"{folder.resolve()} writable, {free / (1 << 30):.1f} GiB free")


def check_redis(settings: BaseSettings) -> Check | None:
    if not (settings.getbool("DARKCRAWL_DISTRIBUTED") or settings.get("DARKCRAWL_REDIS_URL")):
        return None
    from darkcrawl.distributed.connection import redis_url

    url = redis_url(settings)
    parts = urlsplit(url)
    started = time.monotonic()
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379),
                                      timeout=PROBE_TIMEOUT) as sock:
            sock.settimeout(PROBE_TIMEOUT)
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        return Check("redis", FAIL, f"{url}: nothing answers ({exc.strerror or exc})")
    if reply.startswith(b"+PONG"):
        return Check("redis", OK, f"{url} answers PING in {1000 * (time.monotonic() - started):.0f} ms")
    if reply.startswith(b"-NOAUTH"):
        return Check("redis", OK, f"{url} answers (needs a password: give it in the URL)")
    return Check("redis", FAIL, f"{url} answers, but not as Redis ({reply[:30]!r})")


def check_api(settings: BaseSettings, name: str) -> Check | None:
    url = settings.get(name)
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check(name, FAIL, f"{url!r} is not an http(s) URL")
    problem = tcp_answers(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    if problem:
        return Check(name, WARN, f"{url}: {problem}; payloads stay spooled for `scrapy resubmit`")
    return Check(name, OK, f"{url} accepts connections")


CHECKS: tuple[Callable[[BaseSettings], Check | None], ...] = (
    check_path_data,
    check_tor,
    _gateway("i2p", "I2P_PORT", "DARC_I2P", None),
    _gateway("zeronet", "ZERONET_PORT", "DARC_ZERONET", "ZERONET_PATH"),
    _gateway("freenet", "FREENET_PORT", "DARC_FREENET", "FREENET_PATH"),
    check_chromium,
    check_redis,
    lambda s: check_api(s, "API_NEW_HOST"),
    lambda s: check_api(s, "API_REQUESTS"),
    lambda s: check_api(s, "API_SELENIUM"),
)


def run_checks(settings: BaseSettings) -> list[Check]:
    with ThreadPoolExecutor(max_workers=len(CHECKS)) as pool:
        results = list(pool.map(lambda check: check(settings), CHECKS))
    return [result for result in results if result is not None]
