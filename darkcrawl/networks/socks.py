"""Why Tor refused a stream: the SOCKS5 reply code, with Tor's extended codes.

socksio (under Scrapy's httpx handler) does not know Tor's ``ExtendedErrors``
codes and reports them all as "Malformed reply"; for an analyst, "descriptor not
found" (unpublished or gone), "introduction failed" (offline) and "malformed
address" are different findings.  :func:`socks5_reply_code` repeats the connect
request by hand to read the code.
"""

from __future__ import annotations

import socket

#: RFC 1928 codes, then tor's extended ones (tor's SocksPort ExtendedErrors flag).
REPLY_REASONS: dict[int, str] = {
    0x00: "succeeded",
    0x01: "general failure",
    0x02: "not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused (the service does not expose this port)",
    0x06: "TTL expired (timed out)",
    0x07: "command not supported",
    0x08: "address type not supported",
    0xF0: "onion service descriptor not found (unpublished or gone)",
    0xF1: "onion service descriptor is invalid",
    0xF2: "onion service introduction failed (offline)",
    0xF3: "onion service rendezvous failed",
    0xF4: "onion service needs client authorisation",
    0xF5: "onion service client authorisation was refused",
    0xF6: "malformed onion address",
    0xF7: "onion service introduction timed out",
}


def reply_reason(code: int) -> str:
    return REPLY_REASONS.get(code, f"SOCKS reply code {code:#04x}")


def socks5_reply_code(proxy_host: str, proxy_port: int, host: str, port: int, timeout: float = 30.0) -> int:
    """Connect through the SOCKS5 proxy (no auth, host name sent to the proxy) and
    return the reply code; raises OSError when the proxy itself cannot be reached."""
    name = host.encode("idna")
    with socket.create_connection((proxy_host, proxy_port), timeout=timeout) as sock:
        sock.sendall(b"\x05\x01\x00")
        if sock.recv(2) != b"\x05\x00":
            raise OSError("SOCKS5 proxy refused the no-auth method")
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
        reply = sock.recv(4)
        if len(reply) < 2 or reply[0] != 5:
            raise OSError("not a SOCKS5 reply")
        return reply[1]
