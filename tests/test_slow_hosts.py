"""Dead and slow hosts do not hold the round (issue 11, items 3 and 7).

Pure parts first (the rate watch, the dead-host policy, what counts as unreachable),
then two one-round crawls against real loopback servers, each host on its own
address: a port whose listen backlog is full (connects hang), a closed port, a
server that accepts and never answers, a body dripped a byte a second, a dead port
next to a live one on the same address, and a redirect from a live host to a dead
one; the second crawl goes through a SOCKS5 proxy (the httpx transport) whose
"circuit" to one address never gets built.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
)
from twisted.internet.error import ConnectionRefusedError as TxConnectionRefusedError

from darkcrawl.downloadermiddlewares.backoff import STATE_FILE, unreachable
from darkcrawl.policy.backoff import BackoffPolicy, BackoffTable, Event, Verdict
from darkcrawl import transfer
from tests.conftest import run_crawl
from tests.harness.http import QuietHandler, serving
from tests.harness.tcp import tcp_server
from tests.harness.ports import free_port as closed_port  # nothing listens there once it is closed

# -- the rate watch -----------------------------------------------------------------------

RULE = transfer.RateRule(rate=100, window=2.0)


def replay(events: list[tuple[float, str, int]], grace: float = 1.0) -> tuple[float, str] | None:
    """Feed *events* (time, "headers"|"data"|"tick", bytes) to a watch started at 0;
    the first tick that finds the download too slow, as (time, reason)."""
    watch = transfer.RateWatch(RULE, start=0.0, grace=grace)
    for now, kind, size in events:
        if kind == "headers":
            watch.headers(now)
        elif kind == "data":
            watch.data(size)
        else:
            reason = watch.check(now)
            if reason is not None:
                return now, reason
    return None


def ticks(until: float, step: float = 0.5) -> list[tuple[float, str, int]]:
    return [(round(step * i, 3), "tick", 0) for i in range(1, int(until / step) + 1)]


def merged(*streams: list[tuple[float, str, int]]) -> list[tuple[float, str, int]]:
    order = {"headers": 0, "data": 1, "tick": 2}
    return sorted((e for stream in streams for e in stream), key=lambda e: (e[0], order[e[1]]))


def steady(rate: int, start: float, until: float) -> list[tuple[float, str, int]]:
    """*rate* bytes a second, in quarter-second chunks."""
    return [(start + 0.25 * i, "data", rate // 4) for i in range(1, int((until - start) * 4) + 1)]


@pytest.mark.parametrize(
    ("events", "cut_at", "reason"),
    [
        # nothing ever: cut one window after the connect allowance
        (ticks(10), 3.0, "no response in 3 s: nothing for 2 s after the 1 s connect allowance"),
        # headers at once, then a byte a second: cut one window after the headers
        (merged([(0.1, "headers", 0)], [(float(t), "data", 1) for t in range(1, 10)], ticks(10)),
         2.5, "body slower than 100 B/s"),
        # fast enough all along: never cut
        (merged([(0.1, "headers", 0)], steady(400, 0.1, 10), ticks(10)), None, None),
        # fast, then a stall: cut a window after the bytes stop
        (merged([(0.1, "headers", 0)], steady(400, 0.1, 3), ticks(10)), 5.0, "body slower than 100 B/s"),
        # headers late (within the allowance), then fast: never cut
        (merged([(0.9, "headers", 0)], steady(400, 0.9, 10), ticks(10)), None, None),
        # just under the rate (90 B/s): cut
        (merged([(0.1, "headers", 0)], steady(360, 0.1, 10)[::4], ticks(10)), 2.5, "body slower"),
    ],
    ids=["silent", "drip", "fast", "stall", "late-headers", "just-under"],
)
def test_rate_watch(events, cut_at, reason):
    outcome = replay(events)
    if cut_at is None:
        assert outcome is None
    else:
        assert outcome is not None
        assert outcome[0] == pytest.approx(cut_at)
        assert reason in outcome[1]


def test_rate_watch_off():
    watch = transfer.RateWatch(transfer.RateRule(rate=0, window=2.0), start=0.0, grace=0.0)
    assert all(watch.check(float(t)) is None for t in range(100))


@pytest.mark.parametrize(("rate", "window"), [(-1, 2.0), (10, 0.0), (10, float("inf"))])
def test_rate_rule_refuses_nonsense(rate, window):
    with pytest.raises(ValueError):
        transfer.RateRule(rate, window)


@pytest.mark.parametrize(
    ("network", "timeout"),
    [("clearnet", 15.0), ("tor2web", 15.0), (None, 15.0), ("tor", 60.0), ("i2p", 60.0),
     ("zeronet", 60.0), ("freenet", 60.0)],
)
def test_connect_timeout_per_network(network, timeout):
    bounds = transfer.TransferBounds(connect_clearnet=15.0, connect_darknet=60.0, rule=RULE)
    assert bounds.connect_timeout(network) == timeout


# -- what counts as unreachable ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        (DownloadConnectionRefusedError("refused"), True),
        (CannotResolveHostError("no such name"), True),
        (DownloadTimeoutError("took longer than 90 s"), True),
        (transfer.ConnectTimeoutError("no connection within 15 s"), True),
        (transfer.NoResponseError("no response in 45 s"), True),
        (transfer.BodyTimeoutError("took longer than DOWNLOAD_TIMEOUT (90 s): 5000000 bytes of the body received"), False),
        (TxConnectionRefusedError(), True),
        (DownloadFailedError("Malformed reply"), True),  # httpx: Tor could not open the stream
        (DownloadFailedError("Connection was closed cleanly"), False),
        (transfer.SlowDownloadError("body slower than 512 B/s for 30 s"), False),  # it answers, slowly
        (DownloadCancelledError("maxsize"), False),
        (ValueError("x"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_unreachable(exception, expected):
    assert unreachable(exception) is expected


def test_slow_downloads_are_not_retried_and_connect_timeouts_are():
    from scrapy.settings.default_settings import RETRY_EXCEPTIONS
    from scrapy.utils.misc import load_object

    retried = tuple(load_object(e) if isinstance(e, str) else e for e in RETRY_EXCEPTIONS)
    assert isinstance(transfer.ConnectTimeoutError("x"), retried)
    assert not isinstance(transfer.SlowDownloadError("x"), retried)
    assert not isinstance(transfer.NoResponseError("x"), retried)


# -- the dead-host policy ---------------------------------------------------------------------


def test_dead_after_must_not_be_below_after():
    with pytest.raises(ValueError, match="dead_after"):
        BackoffPolicy(after=3, dead_after=2)
    BackoffPolicy(after=3, dead_after=0)
    BackoffPolicy(after=3, dead_after=3)


def test_a_host_unreachable_dead_after_times_in_a_row_is_given_up_at_once():
    table = BackoffTable(BackoffPolicy(after=2, base=10, maximum=600, give_up=10, jitter=0, dead_after=3))
    assert table.failed("h", None, 0.0, "refused", unreachable=True) == ()
    assert table.failed("h", None, 1.0, "refused", unreachable=True) == (Event.BACKOFF,)
    probe = table.admit("h", 11.0, lease=5)
    assert probe.verdict is Verdict.PROBE
    assert table.failed("h", probe.token, 12.0, "refused", unreachable=True) == (Event.ESCALATED, Event.GAVE_UP)
    # its queued requests fail at once now, instead of waiting for the next probe
    assert table.admit("h", 13.0, lease=5).verdict is Verdict.DROP
    assert table.hosts["h"].unreachable == 3


def test_other_failures_break_the_unreachable_streak():
    table = BackoffTable(BackoffPolicy(after=3, base=10, maximum=600, give_up=10, jitter=0, dead_after=3))
    table.failed("h", None, 0.0, "refused", unreachable=True)
    table.failed("h", None, 1.0, "HTTP 503")  # it answered: alive, if unwell
    events = table.failed("h", None, 2.0, "refused", unreachable=True)
    assert events == (Event.BACKOFF,)  # backed off, not given up
    assert not table.hosts["h"].gave_up and table.hosts["h"].unreachable == 1


def test_hurry_leaves_given_up_hosts_alone():
    table = BackoffTable(BackoffPolicy(after=2, base=60, maximum=600, give_up=10, jitter=0, dead_after=2))
    for key in ("dead", "busy"):
        table.failed(key, None, 0.0, "x", unreachable=key == "dead")
        table.failed(key, None, 0.0, "x", unreachable=key == "dead")
    assert table.hosts["dead"].gave_up and not table.hosts["busy"].gave_up
    assert table.hurry(now=1.0) == ["busy"]
    assert table.admit("dead", 1.0, lease=5).verdict is Verdict.DROP


# -- loopback servers ---------------------------------------------------------------------------


class _Site(QuietHandler):
    """/p<i>: a chain of pages; /r<i>: a redirect to ``server.redirect_to``; /drip: a byte a second."""

    protocol_version = "HTTP/1.1"
    CHAIN = 6

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        server: Any = self.server
        path = self.path
        server.arrivals.append(path)
        if path.startswith("/p") and path[2:].isdigit():
            number = int(path[2:])
            link = f'<a href="/p{number + 1}">next</a>' if number + 1 < self.CHAIN else ""
            self._send(200, f"<html><body>page {number} {link}</body></html>".encode())
        elif path.startswith("/r") and path[2:].isdigit():
            self.send_response(302)
            self.send_header("Location", f"{server.redirect_to}/x{path[2:]}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(120):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    server.dripped += 1
                    time.sleep(1.0)
            except OSError:
                server.drip_cut_after = server.dripped
        else:
            self._send(404, b"not here")

    def _send(self, status: int, body: bytes) -> None:
        self.send_body(status, body)


def site(address: str, redirect_to: str = "") -> contextlib.AbstractContextManager[Any]:
    return serving(_Site, address, arrivals=[], redirect_to=redirect_to, dripped=0, drip_cut_after=None)


@contextlib.contextmanager
def hanging_port(address: str) -> Iterator[int]:
    """A listening socket never accepted, its backlog filled: connects to it hang (on loopback)."""
    listener = socket.socket()
    listener.bind((address, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect((address, port))
        fillers.append(filler)
    time.sleep(0.1)
    with socket.socket() as probe:  # the test means nothing if this port answers
        probe.settimeout(0.5)
        with pytest.raises(TimeoutError):
            probe.connect((address, port))
    try:
        yield port
    finally:
        for sock in (*fillers, listener):
            sock.close()


@contextlib.contextmanager
def silent_port(address: str) -> Iterator[Any]:
    """Accepts every connection, reads, never answers."""
    listener = socket.socket()
    listener.bind((address, 0))
    listener.listen(16)
    listener.settimeout(0.1)
    state: Any = type("State", (), {"port": listener.getsockname()[1], "accepted": 0, "stop": False})()
    held: list[socket.socket] = []

    def run() -> None:
        while not state.stop:
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            state.accepted += 1
            held.append(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop = True
        thread.join(2)
        for sock in (*held, listener):
            sock.close()


SHORT = {
    "DARC_REBOOT": 1,
    "DOWNLOAD_TIMEOUT": 20,
    "DARKCRAWL_CONNECT_TIMEOUT": 1,
    "DARKCRAWL_CONNECT_TIMEOUT_DARKNET": 1,
    "DARKCRAWL_MIN_RATE": 100,
    "DARKCRAWL_MIN_RATE_WINDOW": 2,
    "RETRY_TIMES": 2,  # the project's default
    "CONCURRENT_REQUESTS_PER_DOMAIN": 1,  # a dead host's requests one after the other: the later ones fail fast
    # Scrapy 2.19's downloader starts every queued request of a slot at once when
    # DOWNLOAD_DELAY is 0 (its tasks mark themselves transferring only once they run)
    "DOWNLOAD_DELAY": 0.1,
    "DARKCRAWL_BACKOFF_AFTER": 3,
    "DARKCRAWL_BACKOFF_DEAD_AFTER": 3,
    "DARKCRAWL_BACKOFF_BASE": 60,  # waiting out the backoff would show in the round's length
    "DARKCRAWL_BACKOFF_JITTER": 0,
}
#: a generous bound: without these bounds the round takes 10 URLs x 3 tries x 20 s per dead host
ROUND_BOUND = 100
PER_DEAD_HOST = 10


#: Scrapy's robots.txt middleware logs any failure of a robots.txt download with its
#: traceback (not this part's to change); every other traceback is a defect
_KNOWN_TRACEBACK = "[scrapy.downloadermiddlewares.robotstxt] ERROR: Error downloading"


def foreign_tracebacks(log: str) -> list[str]:
    """The log records with a traceback, but Scrapy's robots.txt download errors."""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )", log)
    return [record[:3000] for record in records if "Traceback" in record and _KNOWN_TRACEBACK not in record]


def fetch_failures(log: str, prefix: str) -> list[str]:
    """The reasons of the page fetch failures (not the bootstrap's) of URLs starting with *prefix*."""
    return [reason for reason in re.findall(rf"fetch failed {re.escape(prefix)}\S*: (.*)", log)
            if not reason.endswith(("(bootstrap robots)", "(bootstrap sitemap)", "(bootstrap hosts)"))]


def state_rows(result: Any) -> dict[str, dict[str, Any]]:
    report = json.loads((result.data / "misc" / STATE_FILE).read_text())
    return {row["host"]: row for row in report["hosts"]}


@pytest.fixture(scope="module")
def hostile_round(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        hang = f"127.0.1.3:{stack.enter_context(hanging_port('127.0.1.3'))}"
        refused = f"127.0.1.4:{closed_port('127.0.1.4')}"
        silent_state = stack.enter_context(silent_port("127.0.1.5"))
        silent = f"127.0.1.5:{silent_state.port}"
        live = stack.enter_context(site("127.0.1.6"))
        live_port = f"127.0.1.6:{live.server_address[1]}"
        dead_port = f"127.0.1.6:{closed_port('127.0.1.6')}"
        target = f"127.0.1.8:{closed_port('127.0.1.8')}"
        redirector = stack.enter_context(site("127.0.1.7", redirect_to=f"http://{target}"))
        redirecting = f"127.0.1.7:{redirector.server_address[1]}"
        drip = stack.enter_context(site("127.0.1.2"))
        dripping = f"127.0.1.2:{drip.server_address[1]}"
        seeds = [
            f"http://{live_port}/p0", f"http://{dripping}/drip",
            *(f"http://{host}/{letter}{i}" for host, letter in
              ((hang, "h"), (refused, "c"), (silent, "s"), (dead_port, "d"), (redirecting, "r"))
              for i in range(PER_DEAD_HOST)),
        ]
        started = time.monotonic()
        result = run_crawl(tmp_path_factory.mktemp("slowhosts"), "-a", "urls=" + ",".join(seeds),
                           settings=SHORT, timeout=ROUND_BOUND + 60)
        took = time.monotonic() - started
        time.sleep(1.5)  # the drip server notices the cut at its next write
        hosts = {"hang": hang, "refused": refused, "silent": silent, "live_port": live_port,
                 "dead_port": dead_port, "target": target, "redirecting": redirecting, "dripping": dripping}
        yield result, took, hosts, {"live": list(live.arrivals), "redirector": list(redirector.arrivals),
                                    "drip_cut_after": drip.drip_cut_after, "dripped": drip.dripped,
                                    "silent_accepted": silent_state.accepted}


def test_the_round_ends_by_itself_without_tracebacks(hostile_round):
    result, took, _, _ = hostile_round
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished"
    assert took < ROUND_BOUND, took
    assert not foreign_tracebacks(result.log)


@pytest.mark.parametrize(
    ("name", "error"),
    [("hang", "ConnectTimeoutError: no connection to 127.0.1.3:"),
     ("refused", "refused"),
     ("silent", "NoResponseError: no response in"),
     ("dead_port", "refused"),
     ("target", "refused")],
)
def test_a_dead_host_is_given_up_and_its_later_requests_fail_fast(hostile_round, name, error):
    result, _, hosts, _ = hostile_round
    key = f"clearnet@{hosts[name]}"
    assert re.search(rf"Host {re.escape(key)} given up after \d+ failures in a row, \d+ of them unreachable",
                     result.log), result.log[-3000:]
    row = state_rows(result)[key]
    assert row["state"] in ("gave_up", "probing")
    assert error.lower() in row["last_error"].lower()
    if name == "target":
        return  # its URLs are the redirector's: test_the_redirecting_host_is_not_charged
    reasons = fetch_failures(result.log, f"http://{hosts[name]}/")
    assert len(reasons) == PER_DEAD_HOST  # every URL failed, and said why
    fast = [reason for reason in reasons if "given up after" in reason and "(a dead host)" in reason]
    # at most the first three attempts (and their retries) took their time; the rest failed at once
    assert len(fast) >= PER_DEAD_HOST - 3, reasons


def test_a_silent_host_is_not_tried_again_and_again(hostile_round):
    _, _, _, seen = hostile_round
    # robots.txt and a few pages at most, not 10 pages x 3 tries
    assert 1 <= seen["silent_accepted"] <= 5


def test_the_drip_is_cut_with_a_min_rate_reason(hostile_round):
    result, _, hosts, seen = hostile_round
    reasons = fetch_failures(result.log, f"http://{hosts['dripping']}/drip")
    assert reasons and all("body slower than 100 B/s for 2 s" in reason for reason in reasons), reasons
    assert len(reasons) == 1  # not retried: a drip would hold a slot as long again
    assert result.stats["darkcrawl/transfer/too_slow"] >= 1
    assert seen["drip_cut_after"] is not None and seen["drip_cut_after"] <= 8, seen


def test_the_live_port_next_to_a_dead_one_is_not_backed_off(hostile_round):
    result, _, hosts, seen = hostile_round
    live_key = f"clearnet@{hosts['live_port']}"
    rows = state_rows(result)
    assert live_key not in rows
    assert f"clearnet@{hosts['dead_port']}" in rows
    assert "clearnet@127.0.1.6" not in rows  # keyed by address and port, not the address alone
    assert live_key not in result.log.replace(f"Host {live_key} answers", "")
    assert [f"/p{i}" for i in range(_Site.CHAIN)] == [p for p in seen["live"] if re.fullmatch(r"/p\d+", p)]


def test_the_redirecting_host_is_not_charged(hostile_round):
    result, _, hosts, seen = hostile_round
    rows = state_rows(result)
    assert f"clearnet@{hosts['redirecting']}" not in rows
    assert f"clearnet@{hosts['target']}" in rows
    # every redirect was asked for: the redirector itself was never backed off
    asked = sorted(p for p in seen["redirector"] if re.fullmatch(r"/r\d+", p))
    assert asked == sorted(f"/r{i}" for i in range(PER_DEAD_HOST))
    reasons = fetch_failures(result.log, f"http://{hosts['target']}/")
    assert len(reasons) == PER_DEAD_HOST
    assert sum("given up after" in reason for reason in reasons) >= PER_DEAD_HOST - 3, reasons


# -- through a SOCKS proxy (the httpx transport) ----------------------------------------------


@contextlib.contextmanager
def socks_proxy(address: str, black_hole: str) -> Iterator[int]:
    """A SOCKS5 proxy (no auth, CONNECT) that relays to loopback, except to *black_hole*,
    for which it never answers the CONNECT: a Tor circuit that is never built."""
    held: list[socket.socket] = []

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def serve(client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            client.recv(3)  # VER NMETHODS METHODS (curl-like clients send 1 method)
            client.sendall(b"\x05\x00")
            head = client.recv(4)
            atyp = head[3]
            if atyp == 1:
                host = socket.inet_ntoa(client.recv(4))
            elif atyp == 3:
                host = client.recv(client.recv(1)[0]).decode()
            else:
                return
            port = struct.unpack("!H", client.recv(2))[0]
            if host == black_hole:
                held.append(client)
                return  # the reply never comes
            upstream = socket.create_connection((host, port), timeout=5)
            upstream.settimeout(None)
            client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
            pump(client, upstream)

    try:
        with tcp_server(serve, address, threaded=True) as port:
            yield port
    finally:
        for sock in held:
            sock.close()


def test_through_socks_a_circuit_never_built_and_a_drip_are_bounded(tmp_path):
    with site("127.0.2.2") as drip, socks_proxy("127.0.2.1", black_hole="127.0.2.9") as proxy_port:
        dark = "127.0.2.9:8080"
        seeds = [f"http://127.0.2.2:{drip.server_address[1]}/drip", *(f"http://{dark}/o{i}" for i in range(6))]
        proxy = f"socks5h://127.0.2.1:{proxy_port}"
        started = time.monotonic()
        result = run_crawl(tmp_path, "-a", "urls=" + ",".join(seeds), settings=SHORT, timeout=ROUND_BOUND + 60,
                           env={"http_proxy": proxy, "https_proxy": proxy, "no_proxy": "", "NO_PROXY": ""})
        took = time.monotonic() - started
    assert result.returncode == 1, result.log[-3000:]  # a dead host and a drip: nothing fetched
    assert took < ROUND_BOUND
    assert not foreign_tracebacks(result.log)
    assert result.stats["darkcrawl/transport/socks"] >= 2  # the httpx transport it is
    drip_reasons = fetch_failures(result.log, f"http://127.0.2.2:{drip.server_address[1]}/drip")
    assert len(drip_reasons) == 1 and "body slower than 100 B/s for 2 s" in drip_reasons[0], drip_reasons
    key = f"clearnet@{dark}"
    row = state_rows(result)[key]
    assert f"ConnectTimeoutError: no answer from {dark} through the socks5h proxy within 1 s" in row["last_error"]
    reasons = fetch_failures(result.log, f"http://{dark}/")
    assert len(reasons) == 6
    assert sum("given up after" in reason for reason in reasons) >= 3, reasons
