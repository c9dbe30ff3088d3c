"""Raw-socket HTTP hosts for the hostile test web, one loopback address each.

Every case of :mod:`.cases` gets its own :class:`Host` on ``127.0.7.N`` (its own
address, so a host that never answers cannot hold another's connections, and
the crawler sees separate hosts: separate robots.txt, backoff, cookies).  A host
reads the request head itself and hands the socket to the case's behaviour,
which writes whatever bytes it likes: lies about Content-Length, broken
chunking, a header line of a megabyte, one byte a second, or nothing at all.
The stdlib's ``http.server`` could not be made to misbehave like that.

Every connection and every request is recorded per host, so tests can assert
"nothing forbidden was requested" and "at most N requests".

Usage::

    with HostileWeb(CASES) as web:
        web.url("gzip_bomb")                   # "http://127.0.7.3:41234/"
        ...crawl...
        web["gzip_bomb"].requests              # [Recorded(...), ...]
"""

from __future__ import annotations

import contextlib
import logging
import pathlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.harness.ports import loopback_address as harness_loopback_address
from tests.harness.service import Service

if TYPE_CHECKING:
    from .cases import Case

__all__ = ["Conn", "Host", "HostileWeb", "Recorded", "loopback_address"]

_log = logging.getLogger(__name__)

#: Most bytes of a request head read before the connection is dropped.
_MAX_HEAD = 256 * 1024
#: A client that sends no complete head within this is dropped.
_HEAD_TIMEOUT = 15.0
#: Join bound for handler threads at stop (they are woken by the stop event).
_JOIN_TIMEOUT = 3.0
#: The subnet of the hostile web: 127.0.7.1 ... 127.0.7.254, then 127.0.8.x.
_SUBNET = (127, 0, 7)


def loopback_address(index: int) -> str:
    """The address of host number *index* (1-based), one /24 after another."""
    return harness_loopback_address(_SUBNET, index)


@dataclass(frozen=True)
class Recorded:
    """One request as the host saw it."""

    method: str
    target: str  # as sent: origin-form, or absolute-form through a proxy
    headers: tuple[tuple[str, str], ...]
    at: float

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def path(self) -> str:
        """Path with query, also for absolute-form targets."""
        if self.target.startswith(("http://", "https://")):
            parts = urlsplit(self.target)
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.target


class Conn:
    """The accepted socket and its parsed request, as a behaviour sees it."""

    def __init__(self, host: Host, sock: socket.socket, request: Recorded) -> None:
        self.host = host
        self.sock = sock
        self.request = request
        parts = urlsplit(request.target if "://" in request.target else "http://x" + request.target)
        self.path = parts.path or "/"
        self.query = parts.query
        #: the absolute URL's host name, when the request came through a proxy
        self.target_host = parts.hostname if "://" in request.target else None
        self.web = host.web

    # -- writing -------------------------------------------------------------------

    def send(self, data: bytes) -> bool:
        """Write *data*; False once the peer has gone (the behaviour should stop)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def reply(self, status: int = 200, body: bytes = b"", ctype: str | None = "text/html; charset=utf-8",
              headers: Iterable[tuple[str, str]] = (), length: int | None = None, reason: str = "OK") -> bool:
        """A well-formed response (Connection: close), optionally with a lying length."""
        head = [f"HTTP/1.1 {status} {reason}"]
        if ctype is not None:
            head.append(f"Content-Type: {ctype}")
        head.append(f"Content-Length: {len(body) if length is None else length}")
        head.append("Connection: close")
        head.extend(f"{k}: {v}" for k, v in headers)
        return self.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def head(self, status: int = 200, headers: Iterable[tuple[str, str]] = (), reason: str = "OK") -> bool:
        """Only a status line and headers (the body is the behaviour's business)."""
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), "Connection: close"]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def stream(self, chunks: Iterable[bytes]) -> bool:
        for chunk in chunks:
            if not self.send(chunk):
                return False
        return True

    def drip(self, data: bytes, every: float, step: int = 1) -> bool:
        """Send *data* *step* bytes at a time, *every* seconds apart, until done or stopped."""
        for start in range(0, len(data), step):
            if not self.send(data[start:start + step]) or self.sleep(every):
                return False
        return True

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN (SO_LINGER 0)."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.sock.close()

    # -- waiting -------------------------------------------------------------------

    def sleep(self, seconds: float) -> bool:
        """Wait; True when the web is stopping (the behaviour should return)."""
        return self.host.stopping.wait(seconds)

    def hang(self) -> None:
        """Hold the connection open, saying nothing, until the web stops."""
        self.host.stopping.wait()


Behaviour = Callable[[Conn], None]


@dataclass
class Host:
    """One listening socket (or a deliberately dead one) and what it received."""

    name: str
    address: str
    behaviour: Behaviour | None
    #: "serve" (accept and run the behaviour), "refuse" (bound, never listening:
    #: connections are refused), "blackhole" (listening with a full backlog and
    #: never accepting: SYNs go unanswered, connect() times out), "canary"
    #: (accept, record, close: anything reaching it is a failure of the crawler)
    mode: str = "serve"
    port: int = 0
    web: Any = None
    stopping: threading.Event = field(default_factory=threading.Event)
    connections: int = 0
    _requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sock: socket.socket | None = None
    _fillers: list[socket.socket] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _open: set[socket.socket] = field(default_factory=set)

    @property
    def netloc(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    def url_for(self, path: str = "/") -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def hits(self, path: str | None = None) -> int:
        """Requests received, in all or for one path (with query)."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    # -- lifecycle -------------------------------------------------------------------

    def bind(self) -> None:
        if self.mode == "virtual":
            return  # answered by another host (the SSRF cases: the recording proxy)
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.address, self.port))
        self.port = sock.getsockname()[1]
        self._sock = sock
        if self.mode == "refuse":
            return  # bound (so the port stays ours) but not listening: RST on connect
        if self.mode == "blackhole":
            sock.listen(0)
            # fill the accept queue ourselves: further SYNs are dropped unanswered
            for _ in range(3):
                filler = socket.socket(family, socket.SOCK_STREAM)
                filler.setblocking(False)
                with contextlib.suppress(OSError):
                    filler.connect((self.address, self.port))
                self._fillers.append(filler)
            return
        sock.listen(128)
        sock.settimeout(0.2)

    def start(self) -> None:
        if self.mode in ("serve", "canary"):
            thread = threading.Thread(target=self._accept_loop, name=f"hostile-{self.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            open_socks = list(self._open)
        for conn in open_socks:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(_JOIN_TIMEOUT)
        for sock in [self._sock, *self._fillers]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    # -- serving ---------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.add(conn)
            if self.mode == "canary":
                # read what came (a redis-like port would see the request line), then close
                conn.settimeout(0.5)
                with contextlib.suppress(OSError):
                    data = conn.recv(4096)
                    if data:
                        self._record(data.split(b"\r\n\r\n", 1)[0])
                self._close(conn)
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True, name=f"hostile-{self.name}-c")
            thread.start()
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)

    def _record(self, head: bytes) -> Recorded | None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) < 2:
            return None
        headers = tuple((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:] if line))
        request = Recorded(parts[0], parts[1], headers, time.time())
        with self._lock:
            self._requests.append(request)
        return request

    def _serve(self, sock: socket.socket) -> None:
        try:
            head = _read_head(sock, self.stopping)
            if head is None:
                return
            request = self._record(head)
            if request is None or self.behaviour is None:
                return
            sock.settimeout(None)
            conn = Conn(self, sock, request)
            try:
                self.behaviour(conn)
            except OSError:
                pass  # the crawler hung up: that is what bounds are for
            except Exception:  # a bug in a behaviour must show, not kill the host
                _log.exception("hostile %s: behaviour failed on %s", self.name, request.target)
        finally:
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            sock.close()


def _read_head(sock: socket.socket, stopping: threading.Event) -> bytes | None:
    sock.settimeout(0.5)
    buffer = b""
    deadline = time.monotonic() + _HEAD_TIMEOUT
    while b"\r\n\r\n" not in buffer:
        if stopping.is_set() or time.monotonic() > deadline or len(buffer) > _MAX_HEAD:
            return None
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return None
        if not data:
            return None
        buffer += data
    return buffer.split(b"\r\n\r\n", 1)[0]


class HostileWeb(Service):
    """Starts one :class:`Host` per case (plus the named extra hosts); a context manager.

    ``extra``: name -> mode of hosts that are not cases (canaries, dead ports,
    the recording proxy), started on the next free addresses.  A stopped web keeps
    its hosts so tests can read what they received after exit.
    """

    def __init__(self, cases: Iterable[Case], extra: dict[str, tuple[str, Behaviour | None, str | None]] | None = None,
                 cache: pathlib.Path | None = None, first: int = 1) -> None:
        self.cases = {case.name: case for case in cases}
        #: name -> (mode, behaviour, address): address None takes the next free one,
        #: "::1" an IPv6 loopback host, "=NAME" the address of host NAME (another port)
        self.extra = dict(extra or {})
        self.first = first
        self.hosts: dict[str, Host] = {}
        self.cache = cache
        self._cache_lock = threading.Lock()
        self._running = False

    def cached_file(self, name: str, build: Callable[[str], None]) -> str:
        """A payload file built once (per cache folder: once per test session) and kept."""
        if self.cache is None:
            raise RuntimeError("this HostileWeb has no cache folder")
        path = self.cache / name
        with self._cache_lock:
            if not path.exists():
                partial = path.with_suffix(".partial")
                build(str(partial))
                partial.rename(path)
        return str(path)

    def start(self) -> None:
        if self._running:
            raise RuntimeError("hostile web already started")
        self._running = True
        self.hosts = {}
        index = self.first
        try:
            for case in self.cases.values():
                self.hosts[case.name] = Host(case.name, loopback_address(index), case.serve, case.mode, web=self)
                index += 1
            for name, (mode, behaviour, where) in self.extra.items():
                if where is None:
                    address = loopback_address(index)
                    index += 1
                elif where.startswith("="):
                    address = self.hosts[where[1:]].address
                else:
                    address = where
                self.hosts[name] = Host(name, address, behaviour, mode, web=self)
            for host in self.hosts.values():
                host.bind()
            for host in self.hosts.values():
                host.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for host in self.hosts.values():
            host.stopping.set()
        for host in self.hosts.values():
            host.stop()
        self._running = False

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def url(self, name: str, path: str = "/") -> str:
        return self.hosts[name].url_for(path)

    def netloc(self, name: str) -> str:
        return self.hosts[name].netloc

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts.values())
