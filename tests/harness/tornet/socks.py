"""A minimal SOCKS5 (RFC 1928) client and HTTP/1.0 GET, for talking to Tor in tests.

Deliberately independent of the product's networking code and of PySocks:
tests that check the product against Tor need a client whose behaviour is
obvious from reading it. Addresses are always sent as ATYP=3 (domain name)
so that Tor, not this process, resolves them; that is the only way an
``.onion`` name can work, and it is what exposes Tor's extended error codes.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "SOCKS_REPLY_NAMES",
    "HttpResponse",
    "SocksError",
    "http_get",
    "socks5_connect",
]

# RFC 1928 reply codes plus the ones Tor adds with the ExtendedErrors SocksPort
# flag (tor's socks-extensions.txt); named so that failures read well.
SOCKS_REPLY_NAMES: dict[int, str] = {
    0x00: "succeeded",
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
    0xF0: "onion service descriptor not found",
    0xF1: "onion service descriptor invalid",
    0xF2: "onion service introduction failed",
    0xF3: "onion service rendezvous failed",
    0xF4: "onion service missing client authorization",
    0xF5: "onion service wrong client authorization",
    0xF6: "onion address invalid",
    0xF7: "onion service introduction timed out",
}


class SocksError(OSError):
    """The proxy refused the CONNECT; ``code`` is the SOCKS5 reply byte."""

    def __init__(self, code: int) -> None:
        self.code = code
        name = SOCKS_REPLY_NAMES.get(code, "unknown reply")
        super().__init__(f"SOCKS5 reply 0x{code:02X}: {name}")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"SOCKS proxy closed the connection ({len(data)}/{size} bytes read)")
        data += chunk
    return bytes(data)


def _negotiate_auth(sock: socket.socket, username: str | None, password: str | None) -> None:
    if username is None:
        sock.sendall(b"\x05\x01\x00")  # one method: no authentication
        expected = 0x00
    else:
        sock.sendall(b"\x05\x01\x02")  # one method: username/password
        expected = 0x02
    version, method = _recv_exact(sock, 2)
    if version != 5 or method != expected:
        raise ConnectionError(f"SOCKS5 method negotiation failed (version {version}, method 0x{method:02X})")
    if username is not None:
        # RFC 1929. Tor accepts any credentials; it uses them only to pick
        # (isolate) circuits, which is why tests may want distinct ones.
        user = username.encode()
        pwd = (password or "").encode()
        sock.sendall(bytes((1, len(user))) + user + bytes((len(pwd),)) + pwd)
        _, status = _recv_exact(sock, 2)
        if status != 0:
            raise ConnectionError(f"SOCKS5 username/password rejected (status {status})")


def _read_connect_reply(sock: socket.socket) -> None:
    version, reply, _reserved, atyp = _recv_exact(sock, 4)
    if version != 5:
        raise ConnectionError(f"not a SOCKS5 reply (version {version})")
    # The bound address follows even on failure; read it so the stream is
    # left in a defined state (Tor sends it, then closes).
    if atyp == 0x01:
        _recv_exact(sock, 4 + 2)
    elif atyp == 0x04:
        _recv_exact(sock, 16 + 2)
    elif atyp == 0x03:
        (length,) = _recv_exact(sock, 1)
        _recv_exact(sock, length + 2)
    else:
        raise ConnectionError(f"SOCKS5 reply with unknown address type {atyp}")
    if reply != 0x00:
        raise SocksError(reply)


def socks5_connect(
    proxy_port: int,
    host: str,
    port: int,
    *,
    proxy_host: str = "127.0.0.1",
    timeout: float = 30.0,
    username: str | None = None,
    password: str | None = None,
) -> socket.socket:
    """Open a TCP stream to ``host:port`` through a SOCKS5 proxy; raise :class:`SocksError` on refusal."""
    name = host.encode("idna")
    if not 0 < len(name) < 256:
        raise ValueError(f"host name length {len(name)} does not fit SOCKS5 ATYP=3")
    sock = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    try:
        _negotiate_auth(sock, username, password)
        request = b"\x05\x01\x00\x03" + bytes((len(name),)) + name + struct.pack("!H", port)
        sock.sendall(request)
        _read_connect_reply(sock)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _parse_http(raw: bytes) -> HttpResponse:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError(f"incomplete HTTP response ({len(raw)} bytes)")
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ConnectionError(f"not an HTTP status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return HttpResponse(int(parts[1]), headers, body)


def http_get(
    proxy_port: int,
    url: str,
    *,
    timeout: float = 30.0,
    username: str | None = None,
    password: str | None = None,
) -> HttpResponse:
    """GET ``url`` (http only) through the SOCKS5 proxy; HTTP/1.0 so the body ends at EOF."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http:// URLs with a host are supported: {url!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sock = socks5_connect(
        proxy_port, parts.hostname, parts.port or 80, timeout=timeout, username=username, password=password
    )
    with sock:
        request = f"GET {target} HTTP/1.0\r\nHost: {parts.hostname}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("ascii"))
        return _parse_http(_read_response(sock))


def _read_response(sock: socket.socket) -> bytes:
    """Read one response: up to Content-Length if given, else to EOF.

    Stopping at Content-Length is what real HTTP clients do, and it matters
    through Tor: the stream's END cell often trails the data by one
    delayed-ACK period (~40 ms per relay hop, Nagle on tor's TLS links), so
    waiting for EOF would measure tor's teardown rather than the fetch.
    """
    data = bytearray()
    expected: int | None = None
    while expected is None or len(data) < expected:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if expected is None:
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                length = _content_length(bytes(data[:head_end]))
                if length is not None:
                    expected = head_end + 4 + length
    return bytes(data)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None
