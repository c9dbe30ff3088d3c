"""A recording DNS server ("canary") for proving which names a process resolves.

glibc's ``resolv.conf`` cannot name a port, so the canary listens on port 53
of a loopback address of its own (``127.53.53.53`` by default, the next one
up if that is taken, e.g. by a parallel test run).  It answers UDP and TCP,
records every question as ``(name, qtype)`` and replies:

* an ``A`` record for names in ``answers`` (``AAAA`` etc. for those names get
  an empty NOERROR answer, so ``getaddrinfo(AF_UNSPEC)`` still succeeds);
* NXDOMAIN for everything else, so a query that reaches the canary goes
  nowhere further (the canary never forwards).

Usage::

    with DnsCanary(answers={"seed.example": "127.0.0.1"}) as canary:
        ...run something whose resolver is canary.address...
        assert "abcdef.onion" not in canary.names
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import selectors
import socket
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tests.harness.service import Service

__all__ = [
    "DEFAULT_ADDRESSES",
    "DnsCanary",
    "DnsQuery",
    "Question",
    "build_query",
    "build_response",
    "parse_query",
]

# Loopback addresses nothing else on a test machine plausibly binds (unlike
# 127.0.0.1 / 127.0.0.53, which local resolvers such as systemd-resolved
# use).  Several, so concurrent test sessions each get one.
DEFAULT_ADDRESSES: tuple[str, ...] = tuple(f"127.53.53.{n}" for n in range(53, 61))
DNS_PORT = 53

_HEADER = struct.Struct("!HHHHHH")
_QTYPES: dict[int, str] = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
    28: "AAAA", 33: "SRV", 35: "NAPTR", 41: "OPT", 64: "SVCB", 65: "HTTPS", 255: "ANY",
}
_TYPE_A = 1
_CLASS_IN = 1
_RCODE_NOERROR = 0
_RCODE_FORMERR = 1
_RCODE_NXDOMAIN = 3
_RCODE_NOTIMP = 4
_FLAG_QR = 0x8000
_FLAG_AA = 0x0400
_FLAG_RD = 0x0100
_FLAG_RA = 0x0080
_OPCODE_MASK = 0x7800
# Bound label/pointer walking so a hostile packet cannot loop us forever.
_MAX_LABELS = 128
_TTL = 5
# How often the serving thread checks for stop(); also bounds stop() latency.
_POLL_INTERVAL = 0.1
# A TCP client that connects but never sends must not keep its thread forever.
_TCP_TIMEOUT = 2.0


class DnsFormatError(ValueError):
    """The packet is not a DNS query we can read."""


@dataclass(frozen=True)
class Question:
    name: str  # as sent (case kept), without the trailing dot; "" is the root
    qtype: int
    qclass: int

    @property
    def qtype_name(self) -> str:
        return _QTYPES.get(self.qtype, f"TYPE{self.qtype}")


@dataclass(frozen=True)
class DnsQuery:
    ident: int
    flags: int
    questions: tuple[Question, ...]
    question_bytes: bytes  # the question section verbatim, echoed in the reply


def _read_name(packet: bytes, offset: int) -> tuple[str, int]:
    """Read a (possibly compressed) domain name; return it and the offset after it."""
    labels: list[str] = []
    end: int | None = None  # where the name ends in the packet once a pointer is followed
    for _ in range(_MAX_LABELS):
        if offset >= len(packet):
            raise DnsFormatError("name runs past the end of the packet")
        length = packet[offset]
        if length == 0:
            return ".".join(labels), (offset + 1 if end is None else end)
        if length & 0xC0 == 0xC0:
            # Queries are not normally compressed, but nothing forbids it.
            if offset + 1 >= len(packet):
                raise DnsFormatError("truncated compression pointer")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | packet[offset + 1]
            continue
        if length & 0xC0:
            raise DnsFormatError(f"unsupported label type {length:#x}")
        label = packet[offset + 1 : offset + 1 + length]
        if len(label) != length:
            raise DnsFormatError("label runs past the end of the packet")
        # Labels are bytes; backslashreplace keeps odd bytes visible in the
        # record instead of failing (a leak is a leak, whatever it spells).
        labels.append(label.decode("ascii", "backslashreplace"))
        offset += 1 + length
    raise DnsFormatError("too many labels (pointer loop?)")


def parse_query(packet: bytes) -> DnsQuery:
    """Parse the header and question section of a DNS message."""
    if len(packet) < _HEADER.size:
        raise DnsFormatError("shorter than a DNS header")
    ident, flags, qdcount, _an, _ns, _ar = _HEADER.unpack_from(packet)
    if flags & _FLAG_QR:
        raise DnsFormatError("a response, not a query")
    offset = _HEADER.size
    questions: list[Question] = []
    for _ in range(qdcount):
        name, offset = _read_name(packet, offset)
        if offset + 4 > len(packet):
            raise DnsFormatError("question runs past the end of the packet")
        qtype, qclass = struct.unpack_from("!HH", packet, offset)
        offset += 4
        questions.append(Question(name, qtype, qclass))
    return DnsQuery(ident, flags, tuple(questions), packet[_HEADER.size : offset])


def _encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.strip(".").split("."):
        if not label:
            continue
        raw = label.encode("ascii")
        if len(raw) > 63:
            raise ValueError(f"label too long: {label!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\x00")


def build_query(name: str, qtype: int = _TYPE_A, ident: int = 0x1234) -> bytes:
    """A minimal recursive query (used by the tests to talk to the canary directly)."""
    header = _HEADER.pack(ident, _FLAG_RD, 1, 0, 0, 0)
    return header + _encode_name(name) + struct.pack("!HH", qtype, _CLASS_IN)


def _normalise(name: str) -> str:
    return name.rstrip(".").lower()


def build_response(query: DnsQuery, answers: Mapping[str, str]) -> bytes:
    """Answer ``query``: A records from ``answers``, NXDOMAIN for anything else."""
    opcode = query.flags & _OPCODE_MASK
    flags = _FLAG_QR | _FLAG_AA | _FLAG_RA | opcode | (query.flags & _FLAG_RD)
    records = b""
    ancount = 0
    if opcode != 0:
        rcode = _RCODE_NOTIMP
    elif len(query.questions) != 1:
        # Real resolvers send exactly one question; refuse ambiguity.
        rcode = _RCODE_FORMERR
    else:
        question = query.questions[0]
        address = answers.get(_normalise(question.name))
        if address is None:
            rcode = _RCODE_NXDOMAIN
        else:
            rcode = _RCODE_NOERROR
            if question.qtype == _TYPE_A and question.qclass == _CLASS_IN:
                ancount = 1
                # 0xC00C: a pointer to the question's name right after the header.
                records = struct.pack("!HHHIH", 0xC00C, _TYPE_A, _CLASS_IN, _TTL, 4)
                records += ipaddress.IPv4Address(address).packed
    header = _HEADER.pack(query.ident, flags | rcode, len(query.questions), ancount, 0, 0)
    return header + query.question_bytes + records


def _formerr(packet: bytes) -> bytes | None:
    """A FORMERR reply for a packet we could not parse, if it has a header at all."""
    if len(packet) < _HEADER.size:
        return None
    ident, flags = struct.unpack_from("!HH", packet)
    if flags & _FLAG_QR:
        return None  # never answer responses: that is how reflection loops start
    return _HEADER.pack(ident, _FLAG_QR | _FLAG_RA | _RCODE_FORMERR, 0, 0, 0, 0)


class DnsCanary(Service):
    """A recording DNS server on ``(address, 53)``, UDP and TCP, for a ``with`` block."""

    def __init__(
        self,
        answers: Mapping[str, str] | None = None,
        addresses: Iterable[str] = DEFAULT_ADDRESSES,
        port: int = DNS_PORT,
    ) -> None:
        self._answers = {_normalise(k): str(ipaddress.IPv4Address(v)) for k, v in (answers or {}).items()}
        self._candidates = tuple(addresses)
        self._port = port
        self._lock = threading.Lock()
        self._queries: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._address: str | None = None

    # -- public API ---------------------------------------------------------

    @property
    def address(self) -> str:
        if self._address is None:
            raise RuntimeError("DnsCanary is not running")
        return self._address

    @property
    def port(self) -> int:
        return self._port

    @property
    def answers(self) -> dict[str, str]:
        return dict(self._answers)

    @property
    def queries(self) -> list[tuple[str, str]]:
        """Every question received, in order, as ``(name, qtype)``."""
        with self._lock:
            return list(self._queries)

    @property
    def names(self) -> set[str]:
        """Distinct names asked about, lower-cased, without the trailing dot."""
        with self._lock:
            return {_normalise(name) for name, _ in self._queries}

    def reset(self) -> None:
        with self._lock:
            self._queries.clear()

    def start(self) -> DnsCanary:
        if self._thread is not None:
            raise RuntimeError("DnsCanary already started")
        self._bind()
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name=f"dnscanary-{self._address}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_POLL_INTERVAL * 20)
            self._thread = None
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = None
        self._address = None

    def __enter__(self) -> DnsCanary:
        # Allow `canary = DnsCanary().start()` (to handle a bind error) then `with canary:`.
        return self if self._thread is not None else self.start()

    # -- internals ----------------------------------------------------------

    def _bind(self) -> None:
        last_error: OSError | None = None
        for address in self._candidates:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                # No SO_REUSEADDR: a second canary on the same address would
                # silently split the queries between them.
                udp.bind((address, self._port))
                tcp.bind((address, self._port))
                tcp.listen(16)
            except OSError as error:
                udp.close()
                tcp.close()
                last_error = error
                if error.errno == errno.EADDRINUSE:
                    continue  # someone else's canary: try the next address
                break  # EACCES (port 53 needs privilege) etc.: no address will do
            udp.setblocking(False)
            tcp.setblocking(False)
            self._udp, self._tcp, self._address = udp, tcp, address
            return
        raise OSError(
            last_error.errno if last_error else errno.EADDRNOTAVAIL,
            f"cannot bind a DNS canary on port {self._port} of any of {', '.join(self._candidates)}: {last_error}",
        )

    def _record(self, query: DnsQuery) -> None:
        with self._lock:
            self._queries.extend((q.name, q.qtype_name) for q in query.questions)

    def _handle(self, packet: bytes) -> bytes | None:
        try:
            query = parse_query(packet)
        except DnsFormatError:
            return _formerr(packet)
        # Record before replying, so once a client has its answer the query
        # is guaranteed to be visible in .queries.
        self._record(query)
        return build_response(query, self._answers)

    def _serve(self) -> None:
        assert self._udp is not None and self._tcp is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ, "udp")
            selector.register(self._tcp, selectors.EVENT_READ, "tcp")
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=_POLL_INTERVAL):
                    try:
                        if key.data == "udp":
                            self._serve_udp()
                        else:
                            self._serve_tcp()
                    except OSError:
                        # A client that went away mid-exchange must not stop the canary.
                        continue

    def _serve_udp(self) -> None:
        assert self._udp is not None
        while True:
            try:
                packet, peer = self._udp.recvfrom(65535)
            except BlockingIOError:
                return
            reply = self._handle(packet)
            if reply is not None:
                self._udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        assert self._tcp is not None
        try:
            conn, _ = self._tcp.accept()
        except BlockingIOError:
            return
        # Its own thread: a client holding the connection open (glibc may,
        # between its A and AAAA questions) must not stall the UDP side.
        threading.Thread(target=self._serve_tcp_conn, args=(conn,), name="dnscanary-tcp", daemon=True).start()

    def _serve_tcp_conn(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.setblocking(True)
            conn.settimeout(_TCP_TIMEOUT)
            # One connection may carry several length-prefixed messages
            # (glibc sends A and AAAA over the same TCP connection).
            while True:
                prefix = _recv_exact(conn, 2)
                if prefix is None:
                    return
                (length,) = struct.unpack("!H", prefix)
                packet = _recv_exact(conn, length)
                if packet is None:
                    return
                reply = self._handle(packet)
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except TimeoutError:
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)
