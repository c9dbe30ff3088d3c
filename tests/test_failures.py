"""Every failure has a reason and a record.

The table: real exception instances, built the way Scrapy 2.19 builds them
(``wrap_twisted_exceptions``, ``scrapy_errors.ResponseDataLossError`` from a ``ResponseFailed``,
the httpx handler's ``raise ... from e``), through :func:`failure_reason`.
The crawls: a real ``scrapy crawl`` against tests/failweb.py (a raw-socket server
per case, each on its own loopback address), on both transports (Twisted, and
httpx as the SOCKS path uses it): every case has a line in misc/failures.jsonl with
the reason, the log says it, and no traceback is logged.
"""

from __future__ import annotations

import builtins
import gzip
import json
import re
import socket
from pathlib import Path
from typing import Any

import h11
import httpx2
import pytest
import socksio.exceptions
import socksio.socks5
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import NotConfigured
from scrapy import exceptions as scrapy_errors
from scrapy.http import Response
from scrapy.utils._download_handlers import get_maxsize_msg, wrap_twisted_exceptions
from scrapy.utils.test import get_crawler
from twisted.internet.defer import CancelledError
from twisted.internet.error import (
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError as TxTimeoutError,
)
from twisted.python.failure import Failure
from twisted.web._newclient import RequestTransmissionFailed, ResponseFailed, ResponseNeverReceived, _WrapperException
from twisted.web.http import PotentialDataLoss, _DataLoss, _MalformedChunkedDataError

from darkcrawl.downloadermiddlewares.backoff import HostGivenUp
from darkcrawl.downloadermiddlewares.routing import OnionUnreachable, ProxyError
from darkcrawl.networks.socks import install_reply_codes
from darkcrawl.failures import ROBOTS_DISALLOWED, NO_TRANSFER, Transfer, failure_item, failure_reason, size_text
from darkcrawl.items import FailureItem
from darkcrawl.networks.base import NetworkUnavailable
from darkcrawl.pipelines.failures import FailurePipeline
from darkcrawl.meta import LINK_KEY
from tests import failweb
from tests.conftest import run_crawl

# -- building exceptions as Scrapy does -----------------------------------------------


def twisted(exc: BaseException) -> BaseException:
    """What Scrapy's HTTP/1.1 handler raises for a Twisted exception."""
    try:
        with wrap_twisted_exceptions():
            raise exc
    except BaseException as wrapped:  # noqa: BLE001
        return wrapped
    raise AssertionError("not raised")


def data_loss(*reasons: BaseException) -> scrapy_errors.ResponseDataLossError:
    """http11._ResponseReader.connectionLost: a ResponseFailed with _DataLoss among its reasons."""
    exc = scrapy_errors.ResponseDataLossError()
    exc.__cause__ = ResponseFailed([Failure(r) for r in reasons])
    return exc


def socks_failure(reply: bytes) -> BaseException:
    """What Scrapy's httpx handler raises when socksio (patched by darkcrawl) reads *reply*."""
    install_reply_codes()
    try:
        socksio.socks5.SOCKS5Reply.loads(reply)
    except socksio.exceptions.ProtocolError as exc:
        return raised_from(scrapy_errors.DownloadFailedError(str(exc)), exc)
    raise AssertionError(f"socksio accepted {reply!r}")


def raised_from(outer: BaseException, cause: BaseException) -> BaseException:
    """``raise outer from cause``, as the httpx handler does."""
    try:
        raise outer from cause
    except BaseException as exc:  # noqa: BLE001
        return exc


def decompression_bomb() -> BaseException:
    """The real IgnoreRequest of Scrapy's HttpCompressionMiddleware for a gzip bomb."""
    crawler = get_crawler(settings_dict={"DOWNLOAD_MAXSIZE": 1 << 20})
    middleware = HttpCompressionMiddleware.from_crawler(crawler)
    body = gzip.compress(bytes(4 << 20), mtime=0)
    request = Request("http://bomb.example/")
    response = Response("http://bomb.example/", body=body, headers={"Content-Encoding": "gzip"}, request=request)
    try:
        middleware.process_response(request, response)
    except scrapy_errors.IgnoreRequest as exc:
        return exc
    raise AssertionError("not cut")


def never_subscriptable() -> BaseException:
    """Scrapy's httpx handler reading the peer address of a reset socket (None)."""

    def _build_base_response_args(server_addr: Any) -> Any:
        return server_addr[0]

    try:
        _build_base_response_args(None)
    except TypeError as exc:
        return exc
    raise AssertionError("no TypeError")


MiB = 1 << 20
REQUEST = Request("http://x.example/")

TABLE: list[tuple[str, Any, Transfer, str, str]] = [
    # -- the five that said nothing ----------------------------------------------------
    ("truncated", lambda: data_loss(ConnectionDone(), _DataLoss()), Transfer(1000, 5000),
     "body truncated: 1,000 of 5,000 bytes", "BodyTruncated"),
    ("truncated-uncounted", lambda: data_loss(ConnectionDone(), _DataLoss()), NO_TRANSFER,
     "body truncated: the server closed the connection before the end of the body", "BodyTruncated"),
    ("reset-mid-body", lambda: data_loss(ConnectionLost(), _DataLoss()), Transfer(2000, 100_000),
     "connection reset by the server mid-body (2,000 of 100,000 bytes)", "ConnectionReset"),
    ("malformed-chunked", lambda: data_loss(_MalformedChunkedDataError("Chunk-size must be an integer."),
                                            _DataLoss("Chunked decoder in 'CHUNK_LENGTH' state")),
     Transfer(5, None), "malformed chunked encoding: Chunk-size must be an integer. (after 5 bytes)",
     "ChunkedEncodingError"),
    ("chunked-ended-early", lambda: data_loss(ConnectionDone(), _DataLoss(
        "Chunked decoder in 'BODY' state, still expecting more data to get to 'FINISHED' state.")),
     NO_TRANSFER, "body truncated: the chunked body ended before its last chunk", "BodyTruncated"),
    ("maxsize-body-cancelled", lambda: twisted(CancelledError()), Transfer(262_938, None, 256 * 1024),
     "response larger than DOWNLOAD_MAXSIZE (256 KiB): cut after 262,938 bytes", "DownloadMaxSize"),
    ("maxsize-content-length", lambda: scrapy_errors.DownloadCancelledError(get_maxsize_msg(20_000_000, 8 * MiB, REQUEST, expected=True)),
     NO_TRANSFER, "response larger than DOWNLOAD_MAXSIZE (8 MiB): Content-Length 20,000,000 bytes", "DownloadMaxSize"),
    ("maxsize-received", lambda: scrapy_errors.DownloadCancelledError(get_maxsize_msg(9_000_000, 8 * MiB, REQUEST, expected=False)),
     NO_TRANSFER, "response larger than DOWNLOAD_MAXSIZE (8 MiB): 9,000,000 bytes received", "DownloadMaxSize"),
    ("decompression-bomb", decompression_bomb, NO_TRANSFER,
     "response larger than DOWNLOAD_MAXSIZE (1 MiB) once decompressed (4,098 bytes on the wire: a compression bomb?)",
     "DownloadMaxSize"),
    ("header-line-too-long", lambda: twisted(ResponseFailed([Failure(ConnectionDone())])), NO_TRANSFER,
     "connection closed during the response headers (a header line over 16 KiB, which is refused, "
     "or a server that hung up)", "HeadersCut"),
    # -- the rest of Twisted ---------------------------------------------------------
    ("cancelled", lambda: twisted(CancelledError()), NO_TRANSFER, "download cancelled before it completed",
     "DownloadCancelled"),
    ("cancelled-under-maxsize", lambda: CancelledError(), Transfer(10, None, 8 * MiB),
     "download cancelled before it completed (after 10 bytes)", "DownloadCancelled"),
    ("never-received-closed", lambda: twisted(ResponseNeverReceived([Failure(ConnectionDone())])), NO_TRANSFER,
     "the server closed the connection without answering", "NoResponse"),
    ("never-received-reset", lambda: ResponseNeverReceived([Failure(ConnectionLost())]), NO_TRANSFER,
     "connection reset by the server before any response", "ConnectionReset"),
    ("headers-reset", lambda: ResponseFailed([Failure(ConnectionLost())]), NO_TRANSFER,
     "connection reset by the server during the response headers", "ConnectionReset"),
    ("transmission-failed", lambda: RequestTransmissionFailed([Failure(ConnectionLost())]), NO_TRANSFER,
     "the request could not be sent: connection reset by the server", "ConnectionReset"),
    ("wrapper", lambda: _WrapperException([Failure(ConnectionRefusedError()), Failure(ConnectionRefusedError())]),
     NO_TRANSFER, "connection refused (nothing listens on that port)", "ConnectionRefused"),
    ("data-loss-bare", lambda: _DataLoss(), NO_TRANSFER,
     "body truncated: the connection ended before the end of the body", "BodyTruncated"),
    ("potential-data-loss", lambda: PotentialDataLoss(), Transfer(300, None),
     "body may be incomplete: the connection closed with no Content-Length (after 300 bytes)", "PotentialDataLoss"),
    ("connection-done", lambda: ConnectionDone(), NO_TRANSFER, "the server closed the connection", "ConnectionClosed"),
    ("connection-lost", lambda: ConnectionLost(), NO_TRANSFER, "connection reset by the server", "ConnectionReset"),
    ("refused", lambda: twisted(ConnectionRefusedError("111: Connection refused")), NO_TRANSFER,
     "connection refused (nothing listens on that port)", "ConnectionRefused"),
    ("dns", lambda: twisted(DNSLookupError("no results for hostname lookup: nosuch.invalid")), NO_TRANSFER,
     "DNS lookup failed: no address for nosuch.invalid", "DNSLookupError"),
    ("dns-refused", lambda: twisted(DNSLookupError("refused: a.example resolves to a loopback address (127.0.0.1)")),
     NO_TRANSFER, "refused: a.example resolves to a loopback address (127.0.0.1)", "AddressRefused"),
    ("connect-timeout", lambda: twisted(TxTimeoutError()), NO_TRANSFER,
     "connection attempt timed out (no answer from the host)", "ConnectTimeout"),
    ("tcp-timeout", lambda: twisted(TCPTimedOutError()), NO_TRANSFER,
     "TCP connection timed out (no answer from the host)", "ConnectTimeout"),
    ("download-timeout", lambda: scrapy_errors.DownloadTimeoutError("Getting http://x.example/ took longer than 90.0 seconds."),
     Transfer(1000, None), "timed out after 90 s (DOWNLOAD_TIMEOUT) (after 1,000 bytes)", "DownloadTimeout"),
    # -- refusals of ours, and robots.txt --------------------------------------------
    ("robots", lambda: scrapy_errors.IgnoreRequest("Forbidden by robots.txt"), NO_TRANSFER, "disallowed by robots.txt",
     ROBOTS_DISALLOWED),
    ("network-unavailable", lambda: NetworkUnavailable("tor is not available: bootstrap at 14%"), NO_TRANSFER,
     "tor is not available: bootstrap at 14%", "NetworkUnavailable"),
    ("onion-unreachable", lambda: OnionUnreachable("onion service descriptor not found (unpublished or gone)"),
     NO_TRANSFER, "onion service descriptor not found (unpublished or gone)", "OnionUnreachable"),
    ("proxy-error-page", lambda: ProxyError("tor proxy error page for http://x.onion/ (status 502)"), NO_TRANSFER,
     "tor proxy error page for http://x.onion/ (status 502)", "ProxyError"),
    ("host-given-up", lambda: HostGivenUp("clearnet|x:80 given up after 3 failures in a row"), NO_TRANSFER,
     "clearnet|x:80 given up after 3 failures in a row", "HostGivenUp"),
    ("ignore-refused", lambda: scrapy_errors.IgnoreRequest("refused: http://127.0.0.1/ points at a loopback address"), NO_TRANSFER,
     "refused: http://127.0.0.1/ points at a loopback address", "IgnoreRequest"),
    ("ignore-empty", lambda: scrapy_errors.IgnoreRequest(), NO_TRANSFER, "dropped by a downloader middleware", "IgnoreRequest"),
    ("stop-download", lambda: scrapy_errors.StopDownload(fail=True), NO_TRANSFER, "download stopped by a signal handler",
     "StopDownload"),
    # -- httpx (the SOCKS path), wrapped as Scrapy's httpx handler wraps them -------
    ("httpx-truncated", lambda: raised_from(
        scrapy_errors.ResponseDataLossError("x"), httpx2.RemoteProtocolError(
            "peer closed connection without sending complete message body (received 1000 bytes, expected 5000)")),
     NO_TRANSFER, "body truncated: 1,000 of 5,000 bytes", "BodyTruncated"),
    ("httpx-no-answer", lambda: raised_from(scrapy_errors.DownloadFailedError("x"), httpx2.RemoteProtocolError(
        "Server disconnected without sending a response.")), NO_TRANSFER,
     "the server closed the connection without answering", "NoResponse"),  # as Twisted's, on the clear web
    ("httpx-chunked", lambda: raised_from(scrapy_errors.DownloadFailedError("x"), httpx2.RemoteProtocolError(
        "illegal chunk header: bytearray(b'zz\\r\\n')")), NO_TRANSFER,
     "malformed chunked encoding: illegal chunk header: bytearray(b'zz\\r\\n')", "ChunkedEncodingError"),
    ("httpx-headers-too-long", lambda: raised_from(scrapy_errors.DownloadFailedError("x"), httpx2.RemoteProtocolError(
        "Receive buffer too long")), NO_TRANSFER, "response headers too long: Receive buffer too long", "HeadersTooLong"),
    ("httpx-reset-after-headers", never_subscriptable, NO_TRANSFER,
     "connection reset by the server right after the response headers", "ConnectionReset"),
    ("httpx-read-error", lambda: httpx2.ReadError(""), Transfer(10, 20),
     "connection reset by the server (10 of 20 bytes)", "ConnectionReset"),
    ("httpx-read-timeout", lambda: raised_from(
        scrapy_errors.DownloadTimeoutError("Getting http://x.onion/ took longer than 10.0 seconds."), httpx2.ReadTimeout("")),
     NO_TRANSFER, "timed out after 10 s (DOWNLOAD_TIMEOUT)", "DownloadTimeout"),
    ("httpx-connect-timeout", lambda: raised_from(
        scrapy_errors.DownloadTimeoutError("Getting http://x.onion/ took longer than 10.0 seconds."), httpx2.ConnectTimeout("")),
     NO_TRANSFER, "connection timed out after 10 s (no answer to the connection attempt)", "ConnectTimeout"),
    ("httpx-connect-error", lambda: raised_from(
        scrapy_errors.DownloadConnectionRefusedError("All connection attempts failed"), httpx2.ConnectError(
            "All connection attempts failed")), NO_TRANSFER, "connection failed: All connection attempts failed",
     "ConnectionRefused"),
    ("httpx-dns", lambda: raised_from(scrapy_errors.CannotResolveHostError("[Errno -2] Name or service not known"),
                                      httpx2.ConnectError("[Errno -2] Name or service not known")), NO_TRANSFER,
     "DNS lookup failed: Name or service not known", "DNSLookupError"),
    ("httpx-refused", lambda: raised_from(scrapy_errors.DownloadConnectionRefusedError("All connection attempts failed"), raised_from(
        httpx2.ConnectError("All connection attempts failed"), OSError("All connection attempts failed"))),
     NO_TRANSFER, "connection failed: All connection attempts failed", "ConnectionRefused"),
    ("anyio-refused", lambda: raised_from(httpx2.ConnectError("All connection attempts failed"),
                                          builtins.ConnectionRefusedError(111, "Connection refused")),
     NO_TRANSFER, "connection refused (nothing listens on that port)", "ConnectionRefused"),
    ("builtin-reset", lambda: builtins.ConnectionResetError(104, "Connection reset by peer"), NO_TRANSFER,
     "connection reset by the server", "ConnectionReset"),
    ("gaierror", lambda: socket.gaierror(-2, "Name or service not known"), NO_TRANSFER,
     "DNS lookup failed: Name or service not known", "DNSLookupError"),
    ("httpx-proxy", lambda: raised_from(scrapy_errors.DownloadConnectionRefusedError("x"), httpx2.ProxyError(
        "Proxy Server could not connect: TTL expired.")), NO_TRANSFER,
     "SOCKS proxy: TTL expired (timed out)", "StreamTimeout"),
    ("httpx-proxy-refused", lambda: raised_from(scrapy_errors.DownloadConnectionRefusedError("x"), httpx2.ProxyError(
        "Proxy Server could not connect: Connection refused.")), NO_TRANSFER,
     "SOCKS proxy: connection refused (the service does not expose this port)", "PortRefused"),
    ("httpx-proxy-other", lambda: raised_from(scrapy_errors.DownloadConnectionRefusedError("x"), httpx2.ProxyError(
        "Invalid username/password")), NO_TRANSFER,
     "proxy refused the connection: Invalid username/password", "ProxyError"),
    # tor's extended codes, as the patched socksio parser raises them (networks/socks.py)
    ("tor-no-descriptor", lambda: socks_failure(b"\x05\xf0\x00\x01\x00\x00\x00\x00\x00\x00"), NO_TRANSFER,
     "tor: onion service descriptor not found (unpublished or gone)", "OnionDescriptorNotFound"),
    ("tor-intro-failed", lambda: socks_failure(b"\x05\xf2\x00\x01\x00\x00\x00\x00\x00\x00"), NO_TRANSFER,
     "tor: onion service introduction failed (offline)", "OnionIntroFailed"),
    ("tor-bad-address", lambda: socks_failure(b"\x05\xf6\x00\x01\x00\x00\x00\x00\x00\x00"), NO_TRANSFER,
     "tor: malformed onion address", "OnionBadAddress"),
    ("tor-intro-timeout", lambda: socks_failure(b"\x05\xf7\x00\x01\x00\x00\x00\x00\x00\x00"), NO_TRANSFER,
     "tor: onion service introduction timed out", "OnionIntroTimeout"),
    ("socksio", lambda: raised_from(scrapy_errors.DownloadFailedError("Malformed reply"), socksio.exceptions.ProtocolError(
        "Malformed reply")), NO_TRANSFER, "SOCKS proxy error: Malformed reply", "ProxyError"),
    ("h11-remote", lambda: h11.RemoteProtocolError("Receive buffer too long", error_status_hint=431), NO_TRANSFER,
     "response headers too long: Receive buffer too long", "HeadersTooLong"),
    ("h11-local", lambda: h11.LocalProtocolError("Illegal header value b'a\\nb'"), NO_TRANSFER,
     "the request could not be sent: Illegal header value b'a\\nb'", "LocalProtocolError"),
    # -- the fallback: always a sentence -------------------------------------------
    ("playwright", lambda: PlaywrightTimeoutError("Page.goto: Timeout 60000ms exceeded.\nCall log:\n  - navigating"),
     NO_TRANSFER, "browser: Page.goto: Timeout 60000ms exceeded.", "TimeoutError"),
    ("fallback-message", lambda: ValueError("boom"), NO_TRANSFER, "ValueError: boom", "ValueError"),
    ("fallback-empty", lambda: KeyError(), NO_TRANSFER, "KeyError (KeyError())", "KeyError"),
    ("failed-wrapping-nothing", lambda: scrapy_errors.DownloadFailedError(), NO_TRANSFER,
     "DownloadFailedError (DownloadFailedError())", "DownloadFailedError"),
]


@pytest.mark.parametrize(("exception", "transfer", "reason", "error"),
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_failure_reason(exception: Any, transfer: Transfer, reason: str, error: str) -> None:
    exc = exception()
    assert failure_reason(exc, transfer) == (reason, error)
    assert failure_reason(Failure(exc), transfer) == (reason, error)  # a Failure reads the same


def test_every_twisted_and_scrapy_exception_gets_a_sentence() -> None:
    import scrapy.exceptions
    import twisted.internet.error

    classes = [c for m in (scrapy.exceptions, twisted.internet.error) for c in vars(m).values()
               if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) > 40
    for cls in classes:
        try:
            exc = cls()
        except TypeError:
            continue
        reason, error = failure_reason(exc)
        assert reason.strip() and error, cls


@pytest.mark.parametrize(("size", "text"), [(900, "900 bytes"), (1536, "1.5 KiB"), (8 * MiB, "8 MiB"),
                                            (10 << 30, "10 GiB")])
def test_size_text(size: int, text: str) -> None:
    assert size_text(size) == text


def test_failure_item_has_the_redirect_chain() -> None:
    request = Request("http://c.example/", meta={"redirect_urls": ["http://a.example/", "http://b.example/"],
                                                 LINK_KEY: ("clearnet", "c.example", "c.example:80")})
    item = failure_item(request, "plain", "connection refused", "ConnectionRefused")
    assert item.redirects == ["http://a.example/", "http://b.example/", "http://c.example/"]
    assert (item.url, item.network, item.stage, item.partial) == ("http://c.example/", "clearnet", "plain", False)


def test_pipeline_writes_one_json_line_each(tmp_path: Path) -> None:
    crawler = get_crawler()
    crawler.stats.open_spider()
    pipeline = FailurePipeline(tmp_path, crawler.stats)
    other = object()
    assert pipeline.process_item(other) is other  # not a failure: passed on, nothing written
    assert not (tmp_path / "misc").exists()
    for stage, error in (("plain", "BodyTruncated"), ("render", "RenderDeadline"), ("plain", "BodyTruncated")):
        item = FailureItem(url="http://x.example/", timestamp="2026-01-01T00:00:00+00:00", network="clearnet",
                           stage=stage, reason="r é", error=error, redirects=["http://x.example/"])
        assert pipeline.process_item(item) is item
    pipeline.close_spider()
    lines = (tmp_path / "misc" / "failures.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["stage"] for line in lines] == ["plain", "render", "plain"]
    assert json.loads(lines[0]) == {"url": "http://x.example/", "timestamp": "2026-01-01T00:00:00+00:00",
                                    "network": "clearnet", "stage": "plain", "reason": "r é",
                                    "error": "BodyTruncated", "redirects": ["http://x.example/"], "partial": False}
    stats = crawler.stats.get_stats()
    assert stats["darkcrawl/failures/plain"] == 2
    assert stats["darkcrawl/failures/render"] == 1
    assert stats["darkcrawl/failures/reason/BodyTruncated"] == 2


# -- crawls against the broken web ----------------------------------------------------

MAXSIZE = 256 * 1024
#: case -> (handler, path): each its own loopback address
CASES = {
    "truncated": ("127.0.93.1", failweb.truncated(5000, 1000)),
    "reset": ("127.0.93.2", failweb.reset_mid_body()),
    "chunked": ("127.0.93.3", failweb.bad_chunked()),
    "bomb": ("127.0.93.4", failweb.gzip_bomb(10 << 30)),  # 10 GiB of zeros, ~10 MiB on the wire
    "small_bomb": ("127.0.93.5", failweb.gzip_bomb(64 << 20)),  # 64 KiB on the wire: cut while decompressing
    "header": ("127.0.93.6", failweb.long_header(200 * 1024)),  # over Twisted's 16 KiB and httpcore's 100 KiB
    "robots": ("127.0.93.7", failweb.robots_disallow()),
}
#: case -> (error, pattern of the reason), per transport where they differ
EXPECTED: dict[str, tuple[str, str]] = {
    "truncated": ("BodyTruncated", r"^body truncated: 1,000 of 5,000 bytes$"),
    "reset": ("ConnectionReset", r"^connection reset by the server"),
    "chunked": ("ChunkedEncodingError", r"^malformed chunked encoding: \S"),
    "bomb": ("DownloadMaxSize", r"^response larger than DOWNLOAD_MAXSIZE \(256 KiB\): "),
    "small_bomb": ("DownloadMaxSize", r"^response larger than DOWNLOAD_MAXSIZE \(256 KiB\) once decompressed "),
    "header": ("ResponseHeadersTooLarge", r"^response headers refused: a response header line over 16,384 bytes"),
    "robots": (ROBOTS_DISALLOWED, r"^disallowed by robots\.txt$"),
    "refused": ("ConnectionRefused", r"^connection refused \(nothing listens on that port\)$"),
    "dns": ("DNSLookupError", r"^DNS lookup failed: \S"),
}
HTTPX = {
    "header": ("HeadersTooLong", r"^response headers too long: "),
}
HTTPX_HANDLER = {"http": "scrapy.core.downloader.handlers._httpx.HttpxDownloadHandler"}


@pytest.mark.parametrize("transport", ["twisted", "httpx"])
def test_crawl_records_every_failure_with_its_reason(tmp_path: Path, transport: str) -> None:
    with failweb.serve(CASES) as servers:
        urls = {name: f"{server.url}/page" for name, server in servers.items()}
        urls["robots"] = f"{servers['robots'].url}/private/page"
        urls["refused"] = failweb.refused_url("127.0.93.8")
        urls["dns"] = "http://no-such-host.invalid/"  # RFC 6761: never resolves
        # backoff off: each case's own reason, not "host given up" once its robots.txt failed
        settings: dict[str, Any] = {"DOWNLOAD_MAXSIZE": MAXSIZE, "DOWNLOAD_WARNSIZE": 0, "RETRY_TIMES": 1,
                                    "DOWNLOAD_TIMEOUT": 15, "JOBDIR": "", "DARKCRAWL_BACKOFF_ENABLED": 0}
        if transport == "httpx":
            settings["DOWNLOAD_HANDLERS"] = json.dumps(HTTPX_HANDLER)
        result = run_crawl(tmp_path, "-a", "urls=" + ",".join(urls.values()), settings=settings, timeout=120)
    assert result.returncode == 1, result.log[-3000:]  # every seed failed: nothing fetched
    assert "Traceback" not in result.log, result.log[-5000:]

    path = result.data / "misc" / "failures.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    by_url = {r["url"]: r for r in records if r["stage"] == "plain"}
    expected = {**EXPECTED, **(HTTPX if transport == "httpx" else {})}
    for name, url in urls.items():
        record = by_url.get(url)
        assert record is not None, (name, records)
        error, pattern = expected[name]
        assert record["error"] == error, (name, record)
        assert re.search(pattern, record["reason"]), (name, record)
        assert record["redirects"] == [url] and record["network"] == "clearnet" and record["timestamp"]
        # the log says it, with the same reason
        verb = "skipped" if name == "robots" else "fetch failed"
        assert f"{verb} {url}: {record['reason']}" in result.log, name
    # dead hosts' bootstrap fetches are recorded too
    assert {r["url"] for r in records if r["stage"] == "bootstrap"} >= {
        urls["refused"] + "robots.txt", "http://no-such-host.invalid/robots.txt"}
    assert all(r["reason"].strip() for r in records)

    # nothing logged without its reason
    for line in result.log.splitlines():
        if "fetch failed " in line or "Gave up retrying" in line:
            assert not line.rstrip().endswith(":"), line
            assert re.search(r": \S.*$", line.split("> (failed", 1)[-1]), line
    # a robots.txt Scrapy could not fetch: one line with the reason, not an ERROR and a traceback
    assert re.search(r"robots\.txt not fetched for <GET http://no-such-host\.invalid/(robots\.txt)?>: DNS lookup failed: ",
                     result.log), result.log[-3000:]
    assert "Gave up retrying" in result.log  # retried failures reached the give-up line...
    assert result.stats["retry/reason_count/scrapy.exceptions.ResponseDataLossError"] >= 1  # ...keeping Scrapy's stats keys
    assert result.stats["darkcrawl/failures/plain"] == len(urls)
    assert result.stats["darkcrawl/failures/reason/DownloadMaxSize"] == 2
    assert result.stats[f"darkcrawl/failures/reason/{ROBOTS_DISALLOWED}"] == 1
    # the feed export carries the records as well
    fed = [item for item in result.items if "reason" in item and "stage" in item]
    assert len(fed) == len(records)


def test_every_pipeline_passes_failure_and_trap_records_through(tmp_path: Path) -> None:
    """Only the failures pipeline writes a FailureItem; nothing is submitted to the API
    (darc has no such payload) and nothing else lands in PATH_DATA."""
    from scrapy.utils.misc import build_from_crawler, load_object

    from darkcrawl.addon import ITEM_PIPELINES
    from darkcrawl.items import TrapItem

    crawler = get_crawler(settings_dict={"ADDONS": {"darkcrawl.addon.Addon": 0}, "PATH_DATA": str(tmp_path),
                                         "JOBDIR": ""})
    crawler._apply_settings()
    crawler.stats.open_spider()
    failure = FailureItem(url="http://x.example/", timestamp="2026-01-01T00:00:00+00:00", network="clearnet",
                          stage="plain", reason="connection refused (nothing listens on that port)",
                          error="ConnectionRefused", redirects=["http://x.example/"])
    trap = TrapItem(url="http://x.example/cal", host="x.example", trap="query_variants",
                    timestamp="2026-01-01T00:00:00+00:00", detail="100 variants", dropped=3)
    built = 0
    for path in sorted(ITEM_PIPELINES, key=ITEM_PIPELINES.__getitem__):
        try:
            pipeline = build_from_crawler(load_object(path), crawler)
        except NotConfigured:  # off by default (the archive): nothing of it runs in a crawl either
            continue
        built += 1
        if path.endswith("LinkCsvPipeline"):
            pipeline.open_spider()
        for item in (failure, trap):
            assert pipeline.process_item(item) is item, path
        if hasattr(pipeline, "close_spider") and not path.endswith("SubmitPipeline"):
            pipeline.close_spider()
    assert built >= len(ITEM_PIPELINES) - 1
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert "misc/failures.jsonl" in written
    assert not [p for p in written if p not in ("misc/failures.jsonl", "misc/traps.jsonl", "link.csv")], written
    assert not any(key.startswith("darkcrawl/api/") for key in crawler.stats.get_stats())


def test_render_errback_records_the_failure() -> None:
    import asyncio

    from dataclasses import replace

    from darkcrawl.spiders.darkweb import DarkwebSpider
    from darkcrawl.spiders.options import SpiderOptions

    crawler = get_crawler(DarkwebSpider, settings_dict={"ADDONS": {"darkcrawl.addon.Addon": 0}})
    crawler._apply_settings()
    crawler.stats.open_spider()
    spider = DarkwebSpider.from_crawler(crawler)
    spider.options = replace(SpiderOptions.from_settings(crawler.settings), render_retries=0)  # set when the spider opens
    request = Request("http://x.example/", meta={"playwright": True, LINK_KEY: ("clearnet", "x.example", "x.example:80")})
    failure = Failure(PlaywrightTimeoutError("Page.goto: Timeout 60000ms exceeded.\nCall log:\n  - navigating"))
    failure.request = request  # type: ignore[attr-defined]
    [item] = asyncio.run(spider.on_render_error(failure))
    assert isinstance(item, FailureItem)
    assert (item.stage, item.reason, item.error) == ("render", "browser: Page.goto: Timeout 60000ms exceeded.",
                                                     "TimeoutError")


def test_scrapy_log_lines_get_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from scrapy import Spider
    from scrapy.downloadermiddlewares.retry import get_retry_request

    from darkcrawl.extensions.reasonlog import ReasonLog
    from darkcrawl.failures import EXPECTED_KEY, RECEIVED_KEY

    ReasonLog(maxsize=8 * MiB)
    ReasonLog(maxsize=8 * MiB)  # a second crawler in the process: still one filter per logger
    assert sum(type(f).__name__ == "RetryReasonFilter" for f in logging.getLogger("scrapy.downloadermiddlewares.retry").filters) == 1
    crawler = get_crawler(Spider, {"RETRY_TIMES": 0})
    crawler.stats.open_spider()
    spider = Spider.from_crawler(crawler, name="s")
    request = Request("http://x.example/", meta={RECEIVED_KEY: 1000, EXPECTED_KEY: 5000})
    with caplog.at_level(logging.INFO):
        assert get_retry_request(request, spider=spider, reason=data_loss(ConnectionDone(), _DataLoss())) is None
        robots_logger = logging.getLogger("scrapy.downloadermiddlewares.robotstxt")
        try:
            raise twisted(DNSLookupError("no results for hostname lookup: x.invalid"))
        except Exception as exc:
            robots_logger.error("Error downloading %(request)s: %(f_exception)s",
                                {"request": request, "f_exception": exc}, exc_info=True)
    assert "Gave up retrying <GET http://x.example/> (failed 1 times): body truncated: 1,000 of 5,000 bytes" in caplog.text
    robots = [r for r in caplog.records if r.name == "scrapy.downloadermiddlewares.robotstxt"]
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in robots] == [
        ("INFO", "robots.txt not fetched for <GET http://x.example/>: DNS lookup failed: no address for x.invalid", None)]
    # Scrapy's stats keys are kept
    assert crawler.stats.get_value("retry/max_reached") == 1
