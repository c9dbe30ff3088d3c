"""Readiness of one network: a port that answers, maybe a daemon we launched.

A network is made ready once, on the first request that needs it; every request
for it waits on that one attempt (bounded by the network's wait setting), then
either goes through its proxy or fails with the reason the attempt gave.

A launch is abortable: when the crawl closes, :meth:`NetworkManager.abort` wakes
every wait of the launch thread (it ends within a poll interval, so the reactor's
thread pool can be joined at exit) and fails the requests still waiting at once.
A launch that fails for a reason another attempt cannot fix (:class:`LaunchHopeless`:
no network at all) is not retried.
"""

from __future__ import annotations

import logging
import shlex
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from darkcrawl.closing import ShutdownCancelled

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class NetworkUnavailable(IgnoreRequest):
    """A request's network could not be made ready: refused, never sent directly."""


class LaunchHopeless(RuntimeError):
    """A launch failed for a reason a retry cannot fix (no network, a firewall)."""


class LaunchAborted(RuntimeError):
    """The crawl is closing: the launch was given up."""


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
        #: set when the crawl closes: every wait of the launch thread ends at once
        self._aborted = threading.Event()
        #: requests waiting for the launch; fired when it ends or is aborted
        self._waiters: list[Deferred[None]] = []

    # -- what the routing middleware calls -----------------------------------------

    async def ensure_ready(self) -> None:
        if self._aborted.is_set() and (self._ready is None or not self._ready.called):
            raise self._closing_error()
        if self._ready is None:
            self._ready = deferToThread(self._make_ready)
            self._ready.addCallbacks(self._on_ready, self._on_failed)
            self._ready.addBoth(self._release_waiters)
        if not self._ready.called:
            waiter: Deferred[None] = Deferred()
            self._waiters.append(waiter)
            await maybe_deferred_to_future(waiter)
            if not self._ready.called:  # aborted while waiting
                raise self._closing_error()
        if self._failure:
            raise NetworkUnavailable(f"{self.name} is not available: {self._failure}")

    def abort(self) -> None:
        """The crawl is closing: end a launch in progress, fail its waiting requests now.

        Called in the reactor thread; the launch thread sees the event within a poll."""
        if self._aborted.is_set():
            return
        self._aborted.set()
        if self._ready is not None and not self._ready.called:
            logger.info("%s launch aborted: the crawl is closing", self.name)
            self.crawler.stats.inc_value(f"darkcrawl/network/{self.name}/launch_aborted")
        self._release_waiters(None)

    def _closing_error(self) -> Exception:
        return ShutdownCancelled(f"{self.name} launch aborted: the crawl is closing")

    def _release_waiters(self, result: object) -> object:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)
        return result

    def proxy_for(self, service: str) -> str | None:
        """The proxy URL for *service* (None: connect to the gateway directly)."""
        return None

    # -- readiness -------------------------------------------------------------------

    def _on_ready(self, _: object) -> None:
        self.crawler.stats.set_value(f"darkcrawl/network/{self.name}/ready", True)
        logger.info("%s ready on %s:%d", self.name, self.host, self.port)

    def _on_failed(self, failure: object) -> None:
        reason = getattr(failure, "getErrorMessage", lambda: str(failure))()
        self._failure = reason
        self.crawler.stats.set_value(f"darkcrawl/network/{self.name}/ready", False)
        if self._aborted.is_set():
            logger.info("%s not started: %s", self.name, reason)
        else:
            logger.error("%s unavailable: %s", self.name, reason)

    def _make_ready(self) -> None:
        """Runs in a thread: connect to a running daemon or launch one."""
        if port_open(self.host, self.port):
            return
        if not self.launch.enabled or not self.launch.command:
            raise RuntimeError(f"nothing answers on {self.host}:{self.port} and launching is disabled")
        last = "not attempted"
        for attempt in range(1 + max(0, self.launch.retry)):
            self._check_aborted()
            try:
                self._launch_once()
                return
            except (LaunchAborted, LaunchHopeless):
                self.stop()
                raise
            except Exception as exc:  # a failed attempt is retried, then reported
                last = str(exc)
                self.stop()
                self._check_aborted()
                logger.warning("%s launch attempt %d failed: %s", self.name, attempt + 1, exc)
        raise RuntimeError(f"could not launch {self.name}: {last}")

    def _check_aborted(self) -> None:
        if self._aborted.is_set():
            raise LaunchAborted("the crawl is closing")

    def _sleep(self, seconds: float) -> None:
        """A poll interval of the launch thread, cut short by :meth:`abort`."""
        if self._aborted.wait(seconds):
            raise LaunchAborted("the crawl is closing")

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
            self._sleep(0.2)
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
