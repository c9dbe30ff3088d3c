"""Why a fetch failed, in words: any Twisted Failure or exception -> (reason, error).

Scrapy 2.19 re-raises transport errors as its own exceptions
(``ResponseDataLossError``, ``DownloadFailedError``, ``DownloadCancelledError``, ...)
whose message is often empty: the real reasons are in the ``__cause__`` chain,
where Twisted keeps them in a list (``ResponseFailed.reasons``: ``ConnectionDone``
plus ``_DataLoss`` for a truncated body, ``_MalformedChunkedDataError`` for broken
chunked encoding...), or in an httpx/httpcore/h11 exception on the SOCKS path.
``failure.getErrorMessage()`` gave ``""`` for all of these.

:func:`failure_reason` walks that chain and names what happened, as a sentence a
person can act on, plus a short error name for stats and records.  The error name
is the exception's class where that says it all (``DNSLookupError``,
``OnionUnreachable``), else the kind of failure (``BodyTruncated``,
``ConnectionReset``, ``DownloadMaxSize``...).  It never returns an empty reason.

A body's byte counts are not in the exceptions: :class:`Transfer` carries what the
:class:`~darkcrawl.extensions.transfer.TransferMeter` counted into the request's meta.
"""

from __future__ import annotations

import builtins
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotSupported,
    ResponseDataLossError,
    StopDownload,
    UnsupportedURLSchemeError,
)
from twisted.internet import error as tx_error
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure
from twisted.web._newclient import (
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
    _WrapperException,
)
from twisted.web.http import PotentialDataLoss, _DataLoss, _MalformedChunkedDataError

from darkcrawl.headerlimits import ResponseHeadersTooLarge
from darkcrawl.items import FailureItem, now_iso
from darkcrawl.networks.socks import reply_code_of
from darkcrawl.meta import BODY_EXPECTED_KEY as EXPECTED_KEY, BODY_RECEIVED_KEY as RECEIVED_KEY, LINK_KEY, TIMING_KEY

if TYPE_CHECKING:
    from scrapy import Request

#: the error name of a page skipped by robots.txt: a skip, not a failure
ROBOTS_DISALLOWED = "RobotsTxtDisallowed"

#: Twisted's LineReceiver.MAX_LENGTH: a longer response header line ends the connection
TWISTED_MAX_LINE = 16384

_MAXSIZE_MESSAGE = re.compile(r"(Expected to receive|Received) (\d+) bytes which is larger than download max size \((\d+)\)")
_DECOMPRESSED = re.compile(r"\((\d+) B compressed, (\d+) B decompressed so far\) exceeded DOWNLOAD_MAXSIZE \((\d+) B\)")
_TOOK_LONGER = re.compile(r"took longer than ([\d.]+) seconds")
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")
_HTTPX_TRUNCATED = re.compile(r"received (\d+) bytes, expected (\d+)")
#: how deep a chain of causes and wrapped reasons is followed
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Transfer:
    """What is known of the body when the failure came: bytes in, Content-Length, the cap."""

    received: int | None = None
    expected: int | None = None
    maxsize: int = 0

    @classmethod
    def of(cls, request: Request, maxsize: int = 0) -> Transfer:
        meta = request.meta
        expected = meta.get(EXPECTED_KEY)
        return cls(meta.get(RECEIVED_KEY), expected if expected is not None and expected >= 0 else None,
                   meta.get("download_maxsize", maxsize))


NO_TRANSFER = Transfer()


def failure_item(request: Request, stage: str, reason: str, error: str, *, partial: bool = False) -> FailureItem:
    """The record of *request*'s failure: where it failed, and the redirects that led there."""
    link = request.meta.get(LINK_KEY)
    return FailureItem(
        url=request.url, timestamp=now_iso(), network=link[0] if link else "", stage=stage,
        reason=reason, error=error, redirects=[*request.meta.get("redirect_urls", ()), request.url],
        partial=partial, timing=request.meta.get(TIMING_KEY),
    )


def size_text(n: int) -> str:
    """1048576 -> "1 MiB", 1536 -> "1.5 KiB", 900 -> "900 bytes"."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            value = n / scale
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n:,} bytes"


def _of(transfer: Transfer) -> str:
    """" (1,000 of 5,000 bytes)" / " (after 1,000 bytes)" / ""."""
    if transfer.received is None:
        return ""
    if transfer.expected:
        return f" ({transfer.received:,} of {transfer.expected:,} bytes)"
    return f" (after {transfer.received:,} bytes)"


def failure_reason(failure: Failure | BaseException, transfer: Transfer = NO_TRANSFER) -> tuple[str, str]:
    """(human reason, error name) of a download failure; the reason is never empty."""
    exc = failure.value if isinstance(failure, Failure) else failure
    found = _explain(exc, transfer, 0)
    if found is not None:
        return found
    return _fallback(exc)


#: a reason is one line: Playwright's messages go on with a call log
_MAX_REASON = 300


def _fallback(exc: BaseException) -> tuple[str, str]:
    name = type(exc).__name__
    text = _first_line(str(exc))
    if type(exc).__module__.startswith("playwright"):
        return f"browser: {text or name}", name
    return (f"{name}: {text}" if text else f"{name} ({exc!r})"[:_MAX_REASON]), name


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 1] + "…"


def _explain(exc: BaseException, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    if depth > _MAX_DEPTH:
        return None
    text = str(exc).strip()
    if isinstance(exc, ResponseHeadersTooLarge):  # darkcrawl.headerlimits: a header bomb
        return f"response headers refused: {text}", "ResponseHeadersTooLarge"
    for section in (_explain_socks_reply, _explain_refusal, _explain_cancel, _explain_timeout, _explain_connection,
                    _explain_twisted, _explain_httpx_error, _explain_wrapper):
        found = section(exc, text, transfer, depth)
        if found is not None:
            return found
    return None


def _explain_socks_reply(exc: BaseException, text: str, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    """A SOCKS5 reply code anywhere in the chain: tor's own reason (networks/socks.py)."""
    if depth or isinstance(exc, IgnoreRequest):  # the whole chain is read at once, from the top
        return None
    reply = reply_code_of(exc)
    if reply is None:
        return None
    return f"tor: {reply.reason}" if reply.onion else f"SOCKS proxy: {reply.reason}", reply.error


def _explain_refusal(exc: BaseException, text: str, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    """Refusals before the request left: our middlewares' messages say it all."""
    if isinstance(exc, IgnoreRequest):
        if text == "Forbidden by robots.txt":
            return "disallowed by robots.txt", ROBOTS_DISALLOWED
        match = _DECOMPRESSED.search(text)
        if match:
            wire, limit = int(match[1]), int(match[3])
            return (f"response larger than DOWNLOAD_MAXSIZE ({size_text(limit)}) once decompressed "
                    f"({wire:,} bytes on the wire: a compression bomb?)"), "DownloadMaxSize"
        if type(exc) is IgnoreRequest:
            return (text or "dropped by a downloader middleware"), "IgnoreRequest"
        # a refusal may name itself more precisely than its class (routing's OnionUnreachable: tor's reply)
        name = getattr(exc, "error_name", None) or type(exc).__name__
        return (text or f"dropped: {type(exc).__name__}"), name
    if isinstance(exc, StopDownload):
        return "download stopped by a signal handler", "StopDownload"
    return None


def _explain_cancel(exc: BaseException, text: str, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    """Body cut by DOWNLOAD_MAXSIZE, or cancelled."""
    if isinstance(exc, (DownloadCancelledError, CancelledError)):
        match = _MAXSIZE_MESSAGE.search(text)
        if match:
            size, limit = int(match[2]), int(match[3])
            what = f"Content-Length {size:,} bytes" if match[1].startswith("Expected") else f"{size:,} bytes received"
            return f"response larger than DOWNLOAD_MAXSIZE ({size_text(limit)}): {what}", "DownloadMaxSize"
        if transfer.maxsize and transfer.received is not None and transfer.received > transfer.maxsize:
            # Scrapy's HTTP/1.1 handler cancels the body's Deferred: no message at all
            return (f"response larger than DOWNLOAD_MAXSIZE ({size_text(transfer.maxsize)}): "
                    f"cut after {transfer.received:,} bytes"), "DownloadMaxSize"
        return f"download cancelled before it completed{_of(transfer)}", "DownloadCancelled"
    return None


def _explain_timeout(exc: BaseException, text: str, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    """Timeouts."""
    if isinstance(exc, DownloadTimeoutError):
        if isinstance(exc.__cause__, tx_error.TimeoutError):  # Twisted's connect timeout
            return "connection attempt timed out (no answer from the host)", "ConnectTimeout"
        cause = _httpx_name(exc.__cause__)
        match = _TOOK_LONGER.search(text)
        after = f" after {float(match[1]):g} s" if match else ""
        if cause == "ConnectTimeout":
            return f"connection timed out{after} (no answer to the connection attempt)", "ConnectTimeout"
        if cause == "PoolTimeout":
            return f"timed out{after} waiting for a free connection", "DownloadTimeout"
        return f"timed out{after} (DOWNLOAD_TIMEOUT){_of(transfer)}", "DownloadTimeout"
    if isinstance(exc, tx_error.TCPTimedOutError):
        return "TCP connection timed out (no answer from the host)", "ConnectTimeout"
    if isinstance(exc, tx_error.TimeoutError):
        return "connection attempt timed out (no answer from the host)", "ConnectTimeout"
    return None


def _explain_connection(exc: BaseException, text: str, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    """Names and connections."""
    if isinstance(exc, (CannotResolveHostError, tx_error.DNSLookupError)):
        inner = exc.__cause__
        if isinstance(inner, tx_error.DNSLookupError) and str(inner):
            text = str(inner).strip()
        if "refused: " in text:  # darkcrawl.dns: the name points back inside
            return text[text.index("refused: "):].rstrip("."), "AddressRefused"
        detail = _ERRNO.sub("", text.removeprefix("DNS lookup failed:").strip()).rstrip(".")
        detail = detail.replace("no results for hostname lookup:", "no address for")
        return f"DNS lookup failed: {detail or 'no address'}", "DNSLookupError"
    if isinstance(exc, (DownloadConnectionRefusedError, tx_error.ConnectionRefusedError)):
        cause = exc.__cause__
        if cause is not None and _httpx_name(cause) == "ProxyError":
            return f"proxy refused the connection: {str(cause).strip() or type(cause).__name__}", "ProxyError"
        if _refused(exc):
            return "connection refused (nothing listens on that port)", "ConnectionRefused"
        return f"connection failed: {text or 'refused'}", "ConnectionRefused"
    # the standard library's, under httpx/anyio (and in plain sockets)
    if isinstance(exc, builtins.ConnectionRefusedError):
        return "connection refused (nothing listens on that port)", "ConnectionRefused"
    if isinstance(exc, builtins.ConnectionResetError):
        return f"connection reset by the server{_of(transfer)}", "ConnectionReset"
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed: {exc.strerror or text}", "DNSLookupError"
    if isinstance(exc, tx_error.NoRouteError):
        return "no route to the host", "NoRoute"
    if isinstance(exc, tx_error.SSLError) or type(exc).__module__.startswith(("OpenSSL", "ssl")):
        return f"TLS failed: {text or type(exc).__name__}", "TLSError"
    return None


def _explain_twisted(exc: BaseException, text: str, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    """Twisted's lists of reasons."""
    if isinstance(exc, ResponseDataLossError) or isinstance(exc, _WrapperException):
        found = _wrapped(exc, transfer, depth)
        if found is not None:
            return found
    if isinstance(exc, _DataLoss):
        return f"body truncated: the connection ended before the end of the body{_of(transfer)}", "BodyTruncated"
    if isinstance(exc, PotentialDataLoss):
        return f"body may be incomplete: the connection closed with no Content-Length{_of(transfer)}", "PotentialDataLoss"
    if isinstance(exc, _MalformedChunkedDataError):
        return f"malformed chunked encoding: {text or 'bad chunk'}{_of(transfer)}", "ChunkedEncodingError"
    if isinstance(exc, tx_error.ConnectionDone):
        return "the server closed the connection", "ConnectionClosed"
    if isinstance(exc, tx_error.ConnectionLost):
        return "connection reset by the server", "ConnectionReset"
    return None


def _explain_httpx_error(exc: BaseException, text: str, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    """The httpx handler (SOCKS: Tor, I2P's SOCKS port)."""
    name = _httpx_name(exc)
    if name is not None:
        return _explain_httpx(name, text, exc, transfer)
    return None


def _explain_wrapper(exc: BaseException, text: str, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    """Scrapy's wrappers whose message is a repr: look at what they wrap."""
    if isinstance(exc, (DownloadFailedError, ResponseDataLossError)) or (not text and exc.__cause__ is not None):
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            found = _explain(cause, transfer, depth + 1)
            if found is not None:
                return found
        if isinstance(exc, ResponseDataLossError):
            return f"body truncated{_of(transfer)}", "BodyTruncated"
        if text:
            return f"download failed: {text}", "DownloadFailed"
    if isinstance(exc, (UnsupportedURLSchemeError, NotSupported)):
        return (text or "unsupported URL scheme"), type(exc).__name__
    if isinstance(exc, TypeError) and _raised_in(exc, "_build_base_response_args"):
        # Scrapy's httpx handler reads the peer address after the headers; a reset
        # socket has none, and it fails with "'NoneType' object is not subscriptable"
        return "connection reset by the server right after the response headers", "ConnectionReset"
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """*exc* and what it was raised from or during, nearest first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) <= _MAX_DEPTH:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _refused(exc: BaseException) -> bool:
    """A connection refused somewhere down the chain (anyio says "All connection attempts failed")."""
    return any(isinstance(e, (builtins.ConnectionRefusedError, tx_error.ConnectionRefusedError)) for e in _causes(exc))


def _raised_in(exc: BaseException, function: str) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == function:
            return True
        tb = tb.tb_next
    return False


def _wrapped(exc: BaseException, transfer: Transfer, depth: int) -> tuple[str, str] | None:
    """A ResponseFailed & co (directly or as ResponseDataLossError's cause): read its reasons."""
    wrapper = exc
    if not isinstance(wrapper, _WrapperException):
        cause = exc.__cause__
        if not isinstance(cause, _WrapperException):
            return None
        wrapper = cause
    reasons = [r.value if isinstance(r, Failure) else r for r in getattr(wrapper, "reasons", ()) or ()]
    kinds = {type(r) for r in reasons}
    lost = any(isinstance(r, tx_error.ConnectionLost) and not isinstance(r, tx_error.ConnectionDone) for r in reasons)
    chunked = next((r for r in reasons if isinstance(r, _MalformedChunkedDataError)), None)
    if chunked is not None:
        return (f"malformed chunked encoding: {str(chunked).strip() or 'bad chunk'}{_of(transfer)}",
                "ChunkedEncodingError")
    if _DataLoss in kinds or isinstance(exc, ResponseDataLossError):
        if lost:
            return f"connection reset by the server mid-body{_of(transfer)}", "ConnectionReset"
        data_loss = next((r for r in reasons if isinstance(r, _DataLoss)), None)
        if data_loss is not None and "Chunked decoder" in str(data_loss):
            return f"body truncated: the chunked body ended before its last chunk{_of(transfer)}", "BodyTruncated"
        if transfer.received is not None and transfer.expected:
            return f"body truncated: {transfer.received:,} of {transfer.expected:,} bytes", "BodyTruncated"
        return f"body truncated: the server closed the connection before the end of the body{_of(transfer)}", \
            "BodyTruncated"
    if isinstance(wrapper, RequestTransmissionFailed):
        inner = _first_reason(reasons, transfer, depth)
        return f"the request could not be sent: {inner[0]}", inner[1]
    if isinstance(wrapper, ResponseNeverReceived):
        if lost:
            return "connection reset by the server before any response", "ConnectionReset"
        if any(isinstance(r, tx_error.ConnectionDone) for r in reasons):
            return "the server closed the connection without answering", "NoResponse"
        inner = _first_reason(reasons, transfer, depth)
        return f"no response: {inner[0]}", inner[1]
    if isinstance(wrapper, ResponseFailed):
        # Reasons without _DataLoss: the connection ended inside the status line or
        # the headers.  Twisted hangs up itself on a header line over 16 KiB.
        if lost:
            return "connection reset by the server during the response headers", "ConnectionReset"
        if any(isinstance(r, tx_error.ConnectionDone) for r in reasons):
            return (f"connection closed during the response headers (a header line over "
                    f"{size_text(TWISTED_MAX_LINE)}, which is refused, or a server that hung up)"), "HeadersCut"
    if reasons:
        return _first_reason(reasons, transfer, depth)
    return None


def _first_reason(reasons: list[Any], transfer: Transfer, depth: int) -> tuple[str, str]:
    explained = [_explain(r, transfer, depth + 1) or _fallback(r) for r in reasons if isinstance(r, BaseException)]
    if not explained:
        return "no reason given", "Unknown"
    # distinct sentences, in order: Twisted often lists the same loss twice
    sentences = list(dict.fromkeys(reason for reason, _ in explained))
    return "; ".join(sentences), explained[0][1]


#: httpx and httpcore as Scrapy 2.19 installs them (httpx2, httpcore2) or not
_HTTPX_MODULES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "h11", "socksio"})


def _httpx_name(exc: BaseException | None) -> str | None:
    """The class name of an httpx/httpcore/h11/socksio exception (any version), else None."""
    if exc is None:
        return None
    if type(exc).__module__.split(".", 1)[0] in _HTTPX_MODULES:
        return type(exc).__name__
    return None


def _explain_httpx(name: str, text: str, exc: BaseException, transfer: Transfer) -> tuple[str, str]:  # noqa: PLR0911
    module = type(exc).__module__.split(".", 1)[0]
    if name == "RemoteProtocolError":
        match = _HTTPX_TRUNCATED.search(text)
        if match:
            return f"body truncated: {int(match[1]):,} of {int(match[2]):,} bytes", "BodyTruncated"
        if "Server disconnected without sending a response" in text:  # h11: not a byte of an answer
            return "the server closed the connection without answering", "NoResponse"
        if "peer closed connection" in text or "Server disconnected" in text:
            return f"the server closed the connection before the end of the response{_of(transfer)}", "BodyTruncated"
        if "chunk" in text.lower():
            return f"malformed chunked encoding: {text}", "ChunkedEncodingError"
        if "too long" in text.lower() or "too large" in text.lower():
            return f"response headers too long: {text}", "HeadersTooLong"
        return f"protocol error from the server: {text or name}", "ProtocolError"
    if name == "LocalProtocolError":
        if "too long" in text.lower():
            return f"response headers too long: {text}", "HeadersTooLong"
        return f"the request could not be sent: {text or name}", "LocalProtocolError"
    if name in ("ReadError", "WriteError"):
        if "reset" in text.lower() or not text:
            return f"connection reset by the server{_of(transfer)}", "ConnectionReset"
        return f"connection broken: {text}", "ConnectionReset"
    if name in ("ReadTimeout", "WriteTimeout"):
        return f"timed out waiting for the server{_of(transfer)}", "DownloadTimeout"
    if name == "ConnectTimeout":
        return "connection timed out (no answer to the connection attempt)", "ConnectTimeout"
    if name == "PoolTimeout":
        return "timed out waiting for a free connection", "DownloadTimeout"
    if name == "ConnectError":
        if _refused(exc):
            return "connection refused (nothing listens on that port)", "ConnectionRefused"
        return f"connection failed: {text or 'refused'}", "ConnectionRefused"
    if name == "ProxyError" or module.startswith("socksio"):
        return f"SOCKS proxy error: {text or name}", "ProxyError"
    return f"{name}: {text}" if text else f"{name} ({exc!r})", name

