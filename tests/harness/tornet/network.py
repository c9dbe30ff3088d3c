"""A whole private Tor network on 127.0.0.1 with real v3 onion services.

Topology (see /work/shared/reference/private-tor-network.md for why):

* 5 directory authorities, which are also the network's only relays, guards
  and HSDirs (no exits: onion traffic never leaves the network, and a
  non-authority relay would serve consensuses before their microdescriptors);
* 1 client tor with a SocksPort (ExtendedErrors) and a cookie ControlPort;
* 1 onion-service tor with one v3 service per local HTTP port.

Start-up is orchestrated rather than left to tor's timers, because tor's
defaults would make the first consensus incomplete and the client back off:

1. authorities start with their first vote *held* (a 30-minute initial
   voting interval) while client and service start with ``DisableNetwork 1``;
2. once every authority holds every relay descriptor, the vote is released
   (interval 5 s, start offset chosen so voting begins within a second);
3. once every authority has that complete consensus, client and service are
   let onto the network;
4. :meth:`TorNetwork.wait_ready` waits for ``HS_DESC UPLOADED`` and then for
   a real fetch of every onion through the client's SocksPort.

Every tor gets ``__OwningControllerProcess <our pid>`` so that nothing
survives a crashed test run, and all state lives under ``workdir``; only the
authorities' identity keys are cached (in ``cache_dir``), because generating
them is most of a cold start.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import stem
from stem import Signal
from stem.control import Controller, EventType, Listener
from stem.response.events import HSDescEvent

from tests.harness.ports import free_ports
from tests.harness.service import Service
from .authorities import (
    AUTHORITY_COUNT, HOST, TorNetworkError, _ensure_key_cache, _prepare_authority,
)
from .socks import SocksError, http_get, socks5_connect
from .torrc import (
    _Options, _authority_options, _client_options, _network_options, _process_options, _render_torrc,
)

__all__ = [
    "ExtraOnion",
    "OnionService",
    "TorNetwork",
    "TorNetworkError",
    "free_ports",
]

_log = logging.getLogger(__name__)

TOR_CMD = "/usr/sbin/tor"
TOR_GENCERT_CMD = "tor-gencert"

# The first vote is held (torrc._HELD_VOTING_INTERVAL) until every descriptor is in,
# then released to this interval.
_RELEASED_VOTING_INTERVAL = 5
# tor shrinks vote+dist delay to interval/4 each when they exceed interval/2,
# so with a 5 s interval voting starts 2 s before the interval boundary. Put
# the boundary this far ahead of "now": voting begins a fraction of a second
# after every authority has the new schedule, and not before.
_FIRST_VOTE_LEAD = 2.3

_POLL = 0.1
_LOG_TAIL_LINES = 25
_STOP_TIMEOUT = 10.0
# Port clashes between picking a free port and tor binding it are rare but
# real on a machine where other test suites run; retry the whole start.
_START_ATTEMPTS = 3


class _PortClash(TorNetworkError):
    pass


@dataclass(frozen=True)
class OnionService:
    address: str  # "<56 chars>.onion"
    target_port: int  # local HTTP port it forwards to (virtual port 80)
    url: str  # "http://<address>/"


class ExtraOnion:
    """An onion service of its own (:meth:`TorNetwork.add_onion`): its own tor process,
    its own options, stopped on its own.

    ``address``/``url`` as :class:`OnionService`; ``control`` is that tor's controller
    (``CLOSECIRCUIT``, ``GETINFO``: what a service operator's front such as EndGame
    uses); :meth:`stop` takes the service off the network as a real one that goes down
    (its descriptor stays at the HSDirs until it expires, so clients find it and then
    fail to reach it)."""

    def __init__(self, tor: _Tor, address: str, target_port: int, options: _Options) -> None:
        self._tor = tor
        self.address = address
        self.target_port = target_port
        self.url = f"http://{address}/"
        self.options = list(options)

    @property
    def control(self) -> Controller:
        return self._tor.control()

    @property
    def log_path(self) -> Path:
        return self._tor.log_path

    @property
    def running(self) -> bool:
        return self._tor.popen.poll() is None

    def close_circuit(self, circuit_id: int) -> bool:
        """Close one of the service's circuits (its global ID, as ``HiddenServiceExportCircuitID``
        gives it); False when tor does not know it (closed already)."""
        try:
            self.control.close_circuit(str(circuit_id))
        except (stem.ControllerError, stem.SocketError):
            return False
        return True

    def stop(self) -> None:
        """Stop the service's tor (idempotent)."""
        _stop_all([self._tor])

    def __enter__(self) -> ExtraOnion:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------
# Authority keys


# ----------------------------------------------------------------------------
# Processes


@dataclass
class _Tor:
    """One tor process we started, its log, and (once connected) its controller."""

    name: str
    data_dir: Path
    popen: subprocess.Popen[bytes]
    controller: Controller | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "tor.log"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        code = self.popen.poll()
        if code is None:
            return
        tail = self.log_tail()
        error = _PortClash if "Address already in use" in tail else TorNetworkError
        raise error(f"tor {self.name} exited with code {code}; log tail:\n{tail}")

    def control(self) -> Controller:
        if self.controller is None:
            raise TorNetworkError(f"tor {self.name} has no controller yet")
        return self.controller


def _launch(tor: str, name: str, data_dir: Path, options: _Options, empty: Path) -> _Tor:
    """Start tor in the background; it does not wait for anything (see :func:`_connect`)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)  # tor refuses a group-readable DataDirectory
    torrc = data_dir / "torrc"
    torrc.write_text(_render_torrc(options))
    argv = [
        tor,
        "-f", str(torrc),
        # Keep the host's /etc/tor/torrc-defaults (if any) out of the test network.
        "--defaults-torrc", str(empty),
        # Hidden option: tor exits soon after this pid does, so a killed test
        # run cannot leave a network behind. Command line, as stem does it.
        # Note: because we are that pid, stem's authenticate() (in _connect)
        # sends TAKEOWNERSHIP and clears the option; from then on tor exits
        # as soon as *our* control connection closes. Later controllers from
        # this process (tests) do not take ownership, so closing them is safe.
        "__OwningControllerProcess", str(os.getpid()),
    ]
    with open(data_dir / "tor.log", "wb") as log:
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return _Tor(name, data_dir, popen)


def _connect(proc: _Tor, deadline: float) -> Controller:
    """Wait for the control port file, then connect and cookie-authenticate."""
    port_file = proc.data_dir / "control_port"
    _wait_until(f"{proc.name} control port", port_file.exists, deadline, [proc])
    # File content: "PORT=127.0.0.1:<port>"; tor writes it atomically.
    port = int(port_file.read_text().strip().rsplit(":", 1)[1])
    with warnings.catch_warnings():
        # stem 1.8 calls Thread.setDaemon(); not ours to fix, and it would
        # show up in every test run that uses the network.
        warnings.filterwarnings("ignore", "setDaemon", DeprecationWarning)
        controller = Controller.from_port(address=HOST, port=port)
    controller.authenticate()
    proc.controller = controller
    return controller


def _stop_all(procs: Sequence[_Tor]) -> None:
    # Closing an owning controller already makes tor exit; SIGTERM covers
    # the ones we never connected to (failed start-up).
    for proc in procs:
        if proc.controller is not None:
            with contextlib.suppress(Exception):
                proc.controller.close()
            proc.controller = None
    # SIGTERM makes tor exit at once (ShutdownWaitLength only applies to
    # SIGINT); signal everyone first so they shut down in parallel.
    for proc in procs:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.popen.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _log.warning("tor %s ignored SIGTERM; killing it", proc.name)
            proc.popen.kill()
            proc.popen.wait()


# ----------------------------------------------------------------------------
# Readiness


def _wait_until(what: str, check: Callable[[], bool], deadline: float, procs: Sequence[_Tor]) -> None:
    while True:
        for proc in procs:
            proc.check_alive()
        if check():
            return
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in procs)
            raise TorNetworkError(f"timed out waiting for {what}\n{tails}")
        time.sleep(_POLL)


def _count_lines(controller: Controller, key: str, prefix: str) -> int:
    try:
        text = controller.get_info(key)
    except stem.ControllerError:
        return 0  # e.g. "ns/all" before any consensus exists
    return sum(1 for line in text.splitlines() if line.startswith(prefix))


def _all_descriptors_in(authorities: Sequence[_Tor]) -> bool:
    return all(
        _count_lines(a.control(), "desc/all-recent", "router ") >= AUTHORITY_COUNT for a in authorities
    )


def _complete_consensus_everywhere(authorities: Sequence[_Tor]) -> bool:
    # Every authority, not just one: a client asking one that lacks it yet
    # gets a 404 and backs off for 10-30 s.
    return all(_count_lines(a.control(), "ns/all", "r ") >= AUTHORITY_COUNT for a in authorities)


def _release_first_vote(authorities: Sequence[_Tor]) -> None:
    """Move the held first vote to "now", so the first consensus has every relay."""
    boundary = math.ceil(time.time() + _FIRST_VOTE_LEAD)
    # tor schedules interval boundaries at midnight + offset + k * interval,
    # and 86400 is a multiple of the interval, so this offset makes the
    # very next boundary the one we picked.
    offset = boundary % _RELEASED_VOTING_INTERVAL
    for auth in authorities:
        # One SETCONF: tor validates the offset against the new interval.
        auth.control().set_options(
            {
                "TestingV3AuthInitialVotingInterval": str(_RELEASED_VOTING_INTERVAL),
                "TestingV3AuthVotingStartOffset": str(offset),
            }
        )


class _UploadWatcher:
    """Collects HS_DESC events of the service tor: which onions are published.

    The client must not ask for a descriptor before it is uploaded: a miss
    at every HSDir is remembered and later requests fail at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._uploaded: set[str] = set()
        self._pending: dict[str, set[str]] = {}

    def __call__(self, event: HSDescEvent) -> None:
        with self._changed:
            address = f"{event.address}.onion"
            hsdir = event.directory_fingerprint or event.directory or ""
            pending = self._pending.setdefault(address, set())
            if event.action == "UPLOAD":
                pending.add(hsdir)
            elif event.action in ("UPLOADED", "FAILED"):
                pending.discard(hsdir)
                if event.action == "UPLOADED":
                    self._uploaded.add(address)
            self._changed.notify_all()

    def wait(self, addresses: Sequence[str], deadline: float, grace: float = 2.0) -> bool:
        """Until each address has one upload done and (within ``grace``) none still in flight."""
        with self._changed:
            grace_end: float | None = None
            while True:
                now = time.monotonic()
                uploaded = all(a in self._uploaded for a in addresses)
                if uploaded and grace_end is None:
                    grace_end = now + grace
                if uploaded and (
                    not any(self._pending.get(a) for a in addresses) or now >= (grace_end or now)
                ):
                    return True
                if now >= deadline:
                    return False
                self._changed.wait(min(deadline, grace_end or deadline) - now)


# ----------------------------------------------------------------------------
# The network


@dataclass
class _Run:
    """Everything one start attempt created; thrown away whole on failure."""

    authorities: list[_Tor] = field(default_factory=list)
    client: _Tor | None = None
    service: _Tor | None = None

    @property
    def procs(self) -> list[_Tor]:
        return [*self.authorities, *(p for p in (self.client, self.service) if p is not None)]


class TorNetwork(Service):
    """A private Tor network; use as a context manager, then :meth:`wait_ready`."""

    def __init__(
        self,
        workdir: Path,
        *,
        onion_targets: Sequence[int] = (),
        cache_dir: Path | None = None,
        tor_cmd: str = TOR_CMD,
        gencert_cmd: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.onion_targets = list(onion_targets)
        self.cache_dir = cache_dir if cache_dir is not None else Path.home() / ".cache" / "darkcrawl-tornet"
        self.tor_cmd = tor_cmd
        self.gencert_cmd = gencert_cmd
        self.start_timeout = start_timeout
        self.socks_port = 0
        self.control_port = 0
        self.cookie_path = Path()
        self.onions: list[OnionService] = []
        self.dir_authorities: list[str] = []
        # Seconds since start() began, per phase: for reports and slow-run triage.
        self.timings: dict[str, float] = {}
        self._run = _Run()
        self._uploads = _UploadWatcher()
        self._geoip = self.workdir / "empty"
        self._t0 = time.monotonic()
        self._extras: list[ExtraOnion] = []

    # -- public API -----------------------------------------------------------

    def client_config(self) -> dict[str, str | list[str]]:
        """torrc options (besides ports and DataDirectory) for another client to join.

        Ready for ``stem.process.launch_tor_with_config``; no DisableNetwork,
        because by the time anyone calls this the consensus exists.
        """
        config: dict[str, str | list[str]] = {}
        for key, value in [*_network_options(self.dir_authorities, self._geoip), *_client_options()]:
            if key == "DirAuthority":
                lines = config.setdefault(key, [])
                assert isinstance(lines, list)
                lines.append(value)
            else:
                config[key] = value
        return config

    def start(self) -> None:
        """Start every tor and bring the network to a published consensus."""
        if self._run.procs:
            raise TorNetworkError("TorNetwork already started")
        gencert = self.gencert_cmd or shutil.which(TOR_GENCERT_CMD)
        if gencert is None:
            raise TorNetworkError(f"{TOR_GENCERT_CMD} not found (apt-get install tor)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._geoip.touch()
        t0 = time.monotonic()
        entries = _ensure_key_cache(self.cache_dir, self.tor_cmd, gencert, self.workdir)
        self.timings["keys"] = time.monotonic() - t0
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                self._start_attempt(entries, gencert, self.workdir / f"run{attempt}", t0)
                return
            except _PortClash as exc:
                _log.warning("port clash on attempt %d, retrying with new ports: %s", attempt, exc)
                self.stop()
            except BaseException:
                self.stop()
                raise
        raise TorNetworkError(f"could not find free ports in {_START_ATTEMPTS} attempts")

    def wait_ready(self, timeout: float = 90) -> None:
        """Until every onion has been published and fetched once through ``socks_port``."""
        deadline = time.monotonic() + timeout
        procs = self._run.procs
        if not procs:
            raise TorNetworkError("TorNetwork is not started")
        addresses = [o.address for o in self.onions]
        if not self._uploads.wait(addresses, deadline):
            for proc in procs:
                proc.check_alive()
            raise TorNetworkError(
                f"onion descriptors not uploaded within {timeout} s\n{self._log_tails()}"
            )
        self._mark("published")
        for onion in self.onions:
            self._fetch_until_ok(onion, deadline)
        self._mark("fetched")
        _log.info("tor network ready: %s", self.timings)

    def add_onion(self, target_port: int, options: Mapping[str, str] | Sequence[tuple[str, str]] = (), *,
                  timeout: float = 90.0) -> ExtraOnion:
        """Start one more onion service, forwarding its port 80 to ``127.0.0.1:target_port``,
        in a tor process of its own that joins the running network; *options*: its own
        ``HiddenService*`` lines (``HiddenServiceExportCircuitID haproxy``,
        ``HiddenServicePoWDefensesEnabled 1``, ``HiddenServiceMaxStreams 15``...).

        Returns once its descriptor is published and a stream to it opens through the
        client's SocksPort (nothing is sent on that stream: the site sees a connection,
        and its PROXY line when circuit IDs are exported, but no request).  Stopped with
        the network, or before with :meth:`ExtraOnion.stop`."""
        if not self._run.procs:
            raise TorNetworkError("TorNetwork is not started")
        deadline = time.monotonic() + timeout
        name = f"onion{len(self._extras) + 1}"
        data_dir = self.workdir / f"extra-{name}"
        hs_dir = data_dir / "hs"
        service_options = list(options.items()) if isinstance(options, Mapping) else list(options)
        torrc = [
            *_process_options(data_dir, name), *_network_options(self.dir_authorities, self._geoip),
            *_client_options(), ("SocksPort", "0"),
            # its options follow its HiddenServiceDir: they are the service's own
            ("HiddenServiceDir", str(hs_dir)), ("HiddenServicePort", f"80 {HOST}:{target_port}"), *service_options,
        ]
        proc = _launch(self.tor_cmd, name, data_dir, torrc, self._geoip)
        try:
            uploads = _UploadWatcher()
            _connect(proc, deadline).add_event_listener(uploads, EventType.HS_DESC)
            hostname = hs_dir / "hostname"
            _wait_until(f"{hostname}", hostname.exists, deadline, [proc])
            address = hostname.read_text().strip()
            if not uploads.wait([address], deadline):
                proc.check_alive()
                raise TorNetworkError(f"{address} not published within {timeout} s\n{proc.log_tail()}")
            self._reach(address, deadline, proc)
        except BaseException:
            _stop_all([proc])
            raise
        onion = ExtraOnion(proc, address, target_port, service_options)
        self._extras.append(onion)
        return onion

    def _reach(self, address: str, deadline: float, proc: _Tor) -> None:
        """Until a stream to *address*:80 opens through the client's SocksPort."""
        last: Exception | None = None
        while time.monotonic() < deadline:
            proc.check_alive()
            try:
                socks5_connect(self.socks_port, address, 80, timeout=max(1.0, deadline - time.monotonic())).close()
                return
            except SocksError as exc:
                last = exc
                client = self._run.client
                if exc.code == 0xF0 and client is not None:  # a cached miss: NEWNYM purges it
                    with contextlib.suppress(stem.ControllerError):
                        client.control().signal(Signal.NEWNYM)
            except OSError as exc:
                last = exc
            time.sleep(0.2)
        raise TorNetworkError(f"{address} not reachable through SocksPort {self.socks_port}: {last}\n"
                              f"{proc.log_tail()}")

    def stop(self) -> None:
        """Stop every tor we started (SIGTERM, then SIGKILL after 10 s). Idempotent."""
        for extra in self._extras:
            extra.stop()
        self._extras.clear()
        procs, self._run = self._run.procs, _Run()
        _stop_all(procs)

    # -- start-up phases -----------------------------------------------------

    def _mark(self, phase: str) -> None:
        self.timings[phase] = time.monotonic() - self._t0

    def _start_attempt(self, entries: Sequence[Path], gencert: str, root: Path, t0: float) -> None:
        self._t0 = t0
        self._uploads = _UploadWatcher()
        deadline = time.monotonic() + self.start_timeout
        ports = free_ports(2 * AUTHORITY_COUNT)
        authorities = [
            _prepare_authority(
                entry, root / entry.name, ports[2 * i], ports[2 * i + 1], gencert
            )
            for i, entry in enumerate(entries)
        ]
        self.dir_authorities = [a.dir_authority_line for a in authorities]
        network = _network_options(self.dir_authorities, self._geoip)
        empty = self._geoip
        run = self._run
        for auth in authorities:
            options = [*_process_options(auth.data_dir, auth.nickname), *network, *_authority_options(auth)]
            run.authorities.append(_launch(self.tor_cmd, auth.nickname, auth.data_dir, options, empty))
        # Client and service start now too (process start-up overlaps the
        # authorities'), but stay off the network until the consensus exists.
        client_dir = root / "client"
        run.client = _launch(
            self.tor_cmd, "client", client_dir,
            [
                *_process_options(client_dir, "client"), *network, *_client_options(),
                # "auto": the port is read back once the listener opens.
                ("SocksPort", f"{HOST}:auto ExtendedErrors"),
                ("DisableNetwork", "1"),
            ],
            empty,
        )
        service_dir = root / "service"
        hs_dirs = [service_dir / f"hs{i}" for i in range(len(self.onion_targets))]
        hs_options: _Options = []
        for hs_dir, target in zip(hs_dirs, self.onion_targets):
            hs_options += [("HiddenServiceDir", str(hs_dir)), ("HiddenServicePort", f"80 {HOST}:{target}")]
        run.service = _launch(
            self.tor_cmd, "service", service_dir,
            [
                *_process_options(service_dir, "service"), *network, *_client_options(),
                ("SocksPort", "0"),
                ("DisableNetwork", "1"),
                *hs_options,
            ],
            empty,
        )
        self._mark("launched")

        for proc in run.procs:
            _connect(proc, deadline)
        self._mark("controllers")

        _wait_until(
            "every authority to hold every relay descriptor",
            lambda: _all_descriptors_in(run.authorities), deadline, run.procs,
        )
        self._mark("descriptors")
        _release_first_vote(run.authorities)
        _wait_until(
            "a complete consensus on every authority",
            lambda: _complete_consensus_everywhere(run.authorities), deadline, run.procs,
        )
        self._mark("consensus")

        service = run.service.control()
        service.add_event_listener(self._uploads, EventType.HS_DESC)
        client = run.client.control()
        for controller in (client, service):
            controller.set_conf("DisableNetwork", "0")

        self.onions = [
            self._read_onion(hs_dir, target, deadline) for hs_dir, target in zip(hs_dirs, self.onion_targets)
        ]
        self.socks_port = self._socks_port(client, deadline)
        control = client.get_listeners(Listener.CONTROL)
        self.control_port = control[0][1]
        self.cookie_path = client_dir / "control_auth_cookie"
        self._mark("network_enabled")

    def _read_onion(self, hs_dir: Path, target: int, deadline: float) -> OnionService:
        hostname = hs_dir / "hostname"
        # tor writes the service keys and hostname while loading its config.
        _wait_until(f"{hostname}", hostname.exists, deadline, self._run.procs)
        address = hostname.read_text().strip()
        return OnionService(address=address, target_port=target, url=f"http://{address}/")

    def _socks_port(self, client: Controller, deadline: float) -> int:
        ports: list[int] = []

        def opened() -> bool:
            ports[:] = [port for _, port in client.get_listeners(Listener.SOCKS)]
            return bool(ports)

        _wait_until("the client's SocksPort", opened, deadline, self._run.procs)
        return ports[0]

    def _fetch_until_ok(self, onion: OnionService, deadline: float) -> None:
        last: Exception | None = None
        while time.monotonic() < deadline:
            for proc in self._run.procs:
                proc.check_alive()
            try:
                reply = http_get(self.socks_port, onion.url, timeout=max(1.0, deadline - time.monotonic()))
            except SocksError as exc:
                last = exc
                if exc.code == 0xF0:
                    # A descriptor miss at every HSDir is cached by the client;
                    # NEWNYM purges that cache (tor rate-limits it, so try).
                    client = self._run.client
                    if client is not None:
                        with contextlib.suppress(stem.ControllerError):
                            client.control().signal(Signal.NEWNYM)
            except OSError as exc:
                last = exc
            else:
                if reply.status == 200:
                    return
                last = TorNetworkError(f"HTTP {reply.status} from {onion.url}")
            time.sleep(0.2)
        raise TorNetworkError(f"{onion.url} not fetchable through SocksPort {self.socks_port}: {last}\n"
                              f"{self._log_tails()}")

    def _log_tails(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in self._run.procs)

    # -- diagnostics -------------------------------------------------------------

    def logs(self) -> Iterator[tuple[str, Path]]:
        """(name, log path) of every running tor: attach these to a failing test."""
        for proc in self._run.procs:
            yield proc.name, proc.log_path

    @property
    def pids(self) -> list[int]:
        return [p.popen.pid for p in self._run.procs]
