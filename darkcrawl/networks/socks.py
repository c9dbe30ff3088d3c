"""Why Tor refused a stream: the SOCKS5 reply code, with Tor's extended codes.

With ``ExtendedErrors`` on its SocksPort (tor ≥ 0.4.3, proposal 304; every
SocksPort darkcrawl launches has it), tor answers a failed onion connection with
its own SOCKS5 reply codes: ``F0`` descriptor not found, ``F2`` introduction
failed, ``F6`` malformed address ...  For an analyst these are different findings
(unpublished or gone, offline, a typo), but socksio (under Scrapy's httpx
handler) knows only RFC 1928's codes and reports every other one as "Malformed
reply", and httpcore words the RFC's own codes its way.

:func:`install_reply_codes` makes socksio's reply parser raise
:class:`SocksReplyError` for a code it does not know, with the code in it (a
``ProtocolError`` as before, so httpcore's handling is unchanged); it is read
back from any failure by :func:`reply_code_of`.  No second connection is made to
ask tor again.  :func:`socks5_reply_code` still asks by hand, for ``scrapy doctor``
and for a reply that arrived some other way.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

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

#: a short name per code: the failure's error name, and its stats key
REPLY_ERRORS: dict[int, str] = {
    0x01: "SocksGeneralFailure",
    0x02: "SocksNotAllowed",
    0x03: "NetworkUnreachable",
    0x04: "HostUnreachable",
    0x05: "PortRefused",
    0x06: "StreamTimeout",
    0x07: "SocksCommandRefused",
    0x08: "SocksAddressTypeRefused",
    0xF0: "OnionDescriptorNotFound",
    0xF1: "OnionDescriptorInvalid",
    0xF2: "OnionIntroFailed",
    0xF3: "OnionRendezvousFailed",
    0xF4: "OnionClientAuthMissing",
    0xF5: "OnionClientAuthWrong",
    0xF6: "OnionBadAddress",
    0xF7: "OnionIntroTimeout",
}

#: httpcore's words for the RFC 1928 codes ("Proxy Server could not connect: Host unreachable.")
_HTTPCORE_WORDS: dict[str, int] = {
    "general socks server failure": 0x01,
    "connection not allowed by ruleset": 0x02,
    "network unreachable": 0x03,
    "host unreachable": 0x04,
    "connection refused": 0x05,
    "ttl expired": 0x06,
    "command not supported": 0x07,
    "address type not supported": 0x08,
}
_HTTPCORE_MESSAGE = re.compile(r"Proxy Server could not connect: ([^.]+)\.?")
_OUR_MESSAGE = re.compile(r"SOCKS5 reply (0x[0-9a-f]{2})")
#: how deep a chain of causes is searched
_MAX_DEPTH = 10


def reply_reason(code: int) -> str:
    return REPLY_REASONS.get(code, f"SOCKS reply code {code:#04x}")


def reply_error(code: int) -> str:
    return REPLY_ERRORS.get(code, f"SocksReply{code:02X}")


@dataclass(frozen=True, slots=True)
class SocksReply:
    """A failed SOCKS5 connect: its code, in words, and its short name."""

    code: int

    @property
    def reason(self) -> str:
        return reply_reason(self.code)

    @property
    def error(self) -> str:
        return reply_error(self.code)

    @property
    def onion(self) -> bool:
        """A code only tor's onion service client sends."""
        return self.code >= 0xF0


def reply_code_of(exc: BaseException | None) -> SocksReply | None:
    """The SOCKS5 reply code a failure carries, wherever it is in the chain of
    causes: ours (an extended code), or httpcore's words for an RFC 1928 code."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < _MAX_DEPTH:
        seen.add(id(exc))
        code = getattr(exc, "socks_reply_code", None)
        if isinstance(code, int):
            return SocksReply(code)
        text = str(exc)
        match = _OUR_MESSAGE.search(text)
        if match:
            return SocksReply(int(match[1], 16))
        match = _HTTPCORE_MESSAGE.search(text)
        if match and match[1].strip().lower() in _HTTPCORE_WORDS:
            return SocksReply(_HTTPCORE_WORDS[match[1].strip().lower()])
        exc = exc.__cause__ or exc.__context__
    return None


def install_reply_codes() -> None:
    """Make socksio's SOCKS5 reply parser name a code it does not know (once per
    process; socksio is pinned with Scrapy's httpx handler)."""
    from socksio import socks5
    from socksio.exceptions import ProtocolError

    reply = socks5.SOCKS5Reply
    if getattr(reply.loads, "_darkcrawl", False):
        return
    original = reply.loads.__func__  # type: ignore[attr-defined]
    known = {member.value for member in socks5.SOCKS5ReplyCode}

    class SocksReplyError(ProtocolError):
        """A SOCKS5 reply whose code socksio does not know (tor's extended codes)."""

        def __init__(self, code: int) -> None:
            self.socks_reply_code = code
            super().__init__(f"SOCKS5 reply {code:#04x}: {reply_reason(code)}")

    def loads(cls: type, data: bytes) -> object:
        if data[0:1] == b"\x05" and len(data) >= 2 and data[1:2] not in known:
            raise SocksReplyError(data[1])
        return original(cls, data)

    loads._darkcrawl = True  # type: ignore[attr-defined]
    reply.loads = classmethod(loads)  # type: ignore[method-assign,assignment]


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


#: an address no tor accepts: asked through a SocksPort, tor answers at once, from
#: its own checks, without touching the network
MALFORMED_ONION = "darkcrawl-extended-errors-probe.onion"


def extended_errors(proxy_host: str, proxy_port: int, timeout: float = 5.0) -> bool | None:
    """Whether the tor behind this SocksPort sends its extended SOCKS5 codes
    (``ExtendedErrors``): True, False, or None when it could not be told."""
    try:
        code = socks5_reply_code(proxy_host, proxy_port, MALFORMED_ONION, 80, timeout)
    except OSError:
        return None
    return code == 0xF6
