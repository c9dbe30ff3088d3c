"""Tor: a pool of SocksPorts, launched through stem when none answers, NEWNYM on demand.

- Each onion service is pinned to one SocksPort by a hash of its identity (as
  ahmia's fleet does): streams to one service share a circuit, different ports are
  isolated from each other (tor's default per-SocksPort isolation), and a pool of N
  ports spreads the load.
- Launching uses ``stem.process.launch_tor_with_config`` with ``TOR_CFG`` merged in.
  stem's own timeout relies on SIGALRM, which only works in the main thread, so
  tor is started in a thread and its bootstrap is followed on the control port
  with our own deadline (``TOR_WAIT``), ``TOR_RETRY`` more times on failure.
- While it bootstraps, tor's own status is read on the control port: when tor
  reports it cannot reach any relay (no network, a firewall), the launch fails at
  once with tor's words and is not retried (:class:`LaunchHopeless`): every onion
  request then fails fast with that reason.
- The control port is spoken through :mod:`darkcrawl.networks.torcontrol` (no
  reader thread, quiet close).  Authentication uses the cookie or ``TOR_PASS``;
  nothing ever prompts.
- NEWNYM is a recovery step, rate-limited (tor honours one per 10 s anyway).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkcrawl.networks.base import LaunchHopeless, LaunchSpec, NetworkManager, port_open
from darkcrawl.networks.socks import extended_errors
from darkcrawl.networks.torcontrol import (
    ControlError,
    TorControl,
    bootstrap_status,
    progress_of,
    tor_says,
    unreachable_reason,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

NEWNYM_INTERVAL = 10.0
#: seconds between two "tor bootstrap N%" lines while a launch waits
BOOTSTRAP_LOG_INTERVAL = 5.0


def pool_ports(first: int, size: int, control_port: int) -> list[int]:
    """``size`` SocksPorts from ``first`` upwards, skipping the control port (darc's
    defaults put them side by side: 9050 and 9051)."""
    ports: list[int] = []
    port = first
    while len(ports) < max(1, size):
        if port != control_port:
            ports.append(port)
        port += 1
    return ports


def pinned_port(service: str, ports: list[int]) -> int:
    """The SocksPort of *service*: stable across runs and processes (not ``hash()``)."""
    digest = hashlib.blake2b(service.encode(), digest_size=8).digest()
    return ports[int.from_bytes(digest, "big") % len(ports)]


class TorNetwork(NetworkManager):
    name = "tor"

    def __init__(
        self,
        crawler: Crawler,
        *,
        socks_ports: list[int],
        control_port: int,
        password: str,
        config: dict[str, Any],
        launch: LaunchSpec,
        tor_cmd: str,
        data_dir: Path,
    ) -> None:
        super().__init__(crawler, "127.0.0.1", socks_ports[0], launch)
        self.wanted_ports = socks_ports
        self.socks_ports = list(socks_ports)
        self.control_port = control_port
        self.password = password
        self.config = config
        self.tor_cmd = tor_cmd
        self.data_dir = data_dir
        self._newnym_lock = threading.Lock()
        self._last_newnym = 0.0
        #: kept open while a tor we launched runs: it took ownership, so tor exits
        #: when this connection closes (or this process dies)
        self._owned_controller: TorControl | None = None
        self._last_phase = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TorNetwork:
        settings = crawler.settings
        control_port = settings.getint("TOR_CTRL")
        return cls(
            crawler,
            socks_ports=pool_ports(settings.getint("TOR_PORT"), settings.getint("DARKCRAWL_TOR_POOL"), control_port),
            control_port=control_port,
            password=settings.get("TOR_PASS") or "",
            config=dict(settings.getdict("TOR_CFG")),
            launch=LaunchSpec(settings.getbool("DARC_TOR"), "tor", settings.getfloat("TOR_WAIT"),
                              settings.getint("TOR_RETRY")),
            tor_cmd=settings.get("DARKCRAWL_TOR_CMD") or "tor",
            data_dir=Path(settings.get("DARKCRAWL_TOR_DATA_DIR") or Path(settings["PATH_DATA"]) / ".tor"),
        )

    def proxy_for(self, service: str) -> str | None:
        # socks5h: the proxy resolves the name (httpx always does; the h says so)
        return f"socks5h://127.0.0.1:{pinned_port(service, self.socks_ports)}"

    # -- readiness -------------------------------------------------------------------

    def _make_ready(self) -> None:
        if port_open(self.host, self.port):
            # a tor we did not launch: use the ports of the pool that answer
            self.socks_ports = [p for p in self.wanted_ports if port_open(self.host, p)] or [self.port]
            self._check_extended_errors()
            return
        super()._make_ready()

    def _check_extended_errors(self) -> None:
        """A tor we did not launch may lack ExtendedErrors: then every onion failure
        arrives as a bare "general failure".  Said once, with the fix."""
        extended = extended_errors(self.host, self.socks_ports[0])
        self.crawler.stats.set_value("darkcrawl/network/tor/extended_errors", extended)
        if extended is False:
            logger.warning("the tor on %s:%d sends no extended SOCKS errors: onion failures will say only "
                           "'general failure'; add ExtendedErrors to its SocksPort lines (SocksPort %d ExtendedErrors)",
                           self.host, self.socks_ports[0], self.socks_ports[0])

    def _launch_once(self) -> None:
        import stem.process

        self.data_dir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "SocksPort": [f"127.0.0.1:{p} ExtendedErrors" for p in self.wanted_ports],
            "ControlPort": f"127.0.0.1:{self.control_port}",
            "CookieAuthentication": "1",
            "DataDirectory": str(self.data_dir),
            "Log": "notice stdout",
        }
        config.update(self.config)
        logger.info("launching tor: %s (socks %s, control %d, data %s)", self.tor_cmd,
                    ", ".join(f"127.0.0.1:{p}" for p in self.wanted_ports), self.control_port, self.data_dir)
        # returns at the first bootstrap message; the deadline is ours (see module doc)
        self.process = stem.process.launch_tor_with_config(
            config=config, tor_cmd=self.tor_cmd, completion_percent=0, take_ownership=True,
            timeout=None, init_msg_handler=lambda line: logger.debug("tor: %s", line),
        )
        logger.info("tor launched (pid %d); waiting up to %g s for its bootstrap", self.process.pid, self.launch.wait)
        deadline = time.monotonic() + self.launch.wait
        status: dict[str, str] = {}
        troubled = False
        shown, shown_at = -1, 0.0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tor exited with code {self.process.returncode}")
            status = self._bootstrap_status()
            if progress_of(status) >= 100:
                self.socks_ports = list(self.wanted_ports)
                return
            hopeless = unreachable_reason(status)
            if hopeless:
                self.crawler.stats.set_value("darkcrawl/network/tor/unreachable", hopeless)
                raise LaunchHopeless(hopeless)
            progress, now = progress_of(status), time.monotonic()
            if status and progress != shown and (shown < 0 or now - shown_at >= BOOTSTRAP_LOG_INTERVAL):
                # a person waiting sees it move (a line every few seconds at most)
                shown, shown_at = progress, now
                logger.info("tor bootstrap %d%%: %s", progress, status.get("SUMMARY", status.get("TAG", "?")))
            if not troubled and "WARNING" in status:  # said once: tor keeps trying other relays
                troubled = True
                shown, shown_at = progress, now  # this line says the percentage too
                logger.info("tor has trouble bootstrapping (at %s%% '%s', tor says: %s; relay %s): "
                            "no network, or a firewall? still trying",
                            status.get("PROGRESS", "?"), status.get("TAG", "?"), tor_says(status),
                            status.get("HOSTADDR", "?"))
            self._sleep(0.3)
        hopeless = unreachable_reason(status, waited_out=True)
        if hopeless:
            self.crawler.stats.set_value("darkcrawl/network/tor/unreachable", hopeless)
            raise LaunchHopeless(hopeless)
        raise RuntimeError(f"tor bootstrap at {progress_of(status)}% ('{status.get('TAG', '?')}') "
                           f"after {self.launch.wait:g} s")

    def _bootstrap_status(self) -> dict[str, str]:
        try:
            if self._owned_controller is None:
                control = self._connect()
                try:
                    control.take_ownership()
                except ControlError:
                    control.close()
                    raise
                self._owned_controller = control
            phase = self._owned_controller.get_info("status/bootstrap-phase")
        except (ControlError, OSError):  # control port not up yet, or tor went away
            if self._owned_controller is not None:
                self._owned_controller.close()
                self._owned_controller = None
            return {}
        if phase != self._last_phase:
            self._last_phase = phase
            logger.debug("tor: %s", phase)
        return bootstrap_status(phase)

    # -- control -----------------------------------------------------------------------

    def _connect(self) -> TorControl:
        """An authenticated control connection (cookie, or TOR_PASS); never prompts."""
        return TorControl.connect("127.0.0.1", self.control_port, self.password)

    @contextmanager
    def controller(self) -> Iterator[TorControl]:
        """The controller of the tor we launched, or a short-lived one to a tor we
        merely use (closing that one is harmless: we do not own that tor)."""
        if self._owned_controller is not None:
            yield self._owned_controller
            return
        controller = self._connect()
        try:
            yield controller
        finally:
            controller.close()

    def newnym(self) -> bool:
        """Ask tor for new circuits; False when rate-limited (at most one per 10 s)."""
        with self._newnym_lock:
            now = time.monotonic()
            if now - self._last_newnym < NEWNYM_INTERVAL:
                self.crawler.stats.inc_value("darkcrawl/network/tor/newnym_skipped")
                return False
            with self.controller() as controller:
                controller.signal("NEWNYM")
            self._last_newnym = now
            self.crawler.stats.inc_value("darkcrawl/network/tor/newnym")
            return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            logger.info("stopping the tor we launched (pid %d)", self.process.pid)
        if self._owned_controller is not None:
            self._owned_controller.close()  # tor took ownership: it exits now
            self._owned_controller = None
        super().stop()


