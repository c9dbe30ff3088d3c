"""Readiness of one network: a port that answers, maybe a daemon we launched.

A network is made ready once, on the first request that needs it; every request
for it waits on that one attempt (bounded by the network's wait setting), then
either goes through its proxy or fails with the reason the attempt gave.
"""

from __future__ import annotations

import logging
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class NetworkUnavailable(IgnoreRequest):
    """A request's network could not be made ready: refused, never sent directly."""


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """How to start a network's daemon when nothing answers on its port."""

    enabled: bool
    command: str  # shell-like, split with shlex; empty: no launcher
    wait: float  # seconds for the port to open, per attempt
    retry: int  # extra attempts after the first


class NetworkManager:
    """One network: its readiness state, and the proxy URL for a service on it."""

    name = "network"

    def __init__(self, crawler: Crawler, host: str, port: int, launch: LaunchSpec, name: str = "") -> None:
        if name:
            self.name = name
        self.crawler = crawler
        self.host = host
        self.port = port
        self.launch = launch
        self.process: subprocess.Popen[bytes] | None = None
        self._ready: Deferred[None] | None = None
        self._failure: str | None = None

    # -- what the routing middleware calls -----------------------------------------

    async def ensure_ready(self) -> None:
        if self._ready is None:
            self._ready = deferToThread(self._make_ready)
            self._ready.addCallbacks(self._on_ready, self._on_failed)
        await maybe_deferred_to_future(self._chain())
        if self._failure:
            raise NetworkUnavailable(f"{self.name} is not available: {self._failure}")

    def proxy_for(self, service: str) -> str | None:
        """The proxy URL for *service* (None: connect to the gateway directly)."""
        return None

    # -- readiness -------------------------------------------------------------------

    def _chain(self) -> Deferred[None]:
        assert self._ready is not None
        waiter: Deferred[None] = Deferred()
        self._ready.addBoth(lambda result: (waiter.callback(None), result)[1])
        return waiter

    def _on_ready(self, _: object) -> None:
        self.crawler.stats.set_value(f"darkcrawl/network/{self.name}/ready", True)
        logger.info("%s ready on %s:%d", self.name, self.host, self.port)

    def _on_failed(self, failure: object) -> None:
        reason = getattr(failure, "getErrorMessage", lambda: str(failure))()
        self._failure = reason
        self.crawler.stats.set_value(f"darkcrawl/network/{self.name}/ready", False)
        logger.error("%s unavailable: %s", self.name, reason)

    def _make_ready(self) -> None:
        """Runs in a thread: connect to a running daemon or launch one."""
        if port_open(self.host, self.port):
            return
        if not self.launch.enabled or not self.launch.command:
            raise RuntimeError(f"nothing answers on {self.host}:{self.port} and launching is disabled")
        last = "not attempted"
        for attempt in range(1 + max(0, self.launch.retry)):
            try:
                self._launch_once()
                return
            except Exception as exc:  # a failed attempt is retried, then reported
                last = str(exc)
                logger.warning("%s launch attempt %d failed: %s", self.name, attempt + 1, exc)
                self.stop()
        raise RuntimeError(f"could not launch {self.name}: {last}")

    def _launch_once(self) -> None:
        argv = shlex.split(self.launch.command)
        logger.info("launching %s: %s", self.name, " ".join(argv))
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.launch.wait
        while time.monotonic() < deadline:
            code = self.process.poll()
            # exit code 0 is a launcher that daemonised (i2prouter start): keep waiting
            if code not in (None, 0) and not port_open(self.host, self.port):
                raise RuntimeError(f"{argv[0]} exited with code {code}")
            if port_open(self.host, self.port, timeout=0.5):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.host}:{self.port} did not open within {self.launch.wait:g} s")

    def stop(self) -> None:
        """Stop what this manager launched (never a daemon it merely connected to)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


class HttpProxyNetwork(NetworkManager):
    """A network behind an HTTP proxy (I2P's, on I2P_PORT)."""

    def proxy_for(self, service: str) -> str | None:
        return f"http://{self.host}:{self.port}"
