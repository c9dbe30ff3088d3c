"""darkcrawl through Tor vs. a raw SOCKS client, in one run: ``python -m bench.onion``.

One private Tor network on loopback (the test fixture ``tests.harness.tornet.TorNetwork``:
5 authorities/relays, a client with a SocksPort, an onion-service tor), one v3 onion
service in front of the bench's nginx, serving a ``--pages`` page site made by
bench/webgen.py with its links rewritten to the onion's own URL. Then two crawls
of that site through the same SocksPort:

1. ``raw-socks``: the asyncio client below (SOCKS5 with the host name as ATYP=3,
   HTTP/1.1 keep-alive GETs, bodies read to Content-Length) fetching the known
   list of the site's URLs over exactly 8 concurrent streams: about the best
   a crawler could do through this Tor client;
2. ``darkcrawl``: ``scrapy crawl darkweb`` with 8 concurrent requests, measured by
   :func:`bench.run.run_crawler` like every crawler of ``python -m bench.run``.

The figure of merit is darkcrawl's pages/s over the raw client's (target >= 0.8).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import struct
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.nginx import NginxError, NginxServer
from bench.run import PROJECT_ROOT, CrawlResult, _child_env, _fmt
from bench.scaffold import find_nginx, finish, sigterm_as_interrupt, temp_dir
from bench.transport import crawl_pages_per_s, median_of, ratio_of, run_darkcrawl
from bench.webgen import LOOPBACK, WebInfo, WebParams, ensure_web, host_dir
from tests.harness import free_port
from tests.harness.tornet import OnionService, TorNetwork, TorNetworkError
from tests.harness.tornet.socks import SocksError

DEFAULT_PAGES = 250
STREAMS = 8
TARGET_RATIO = 0.8
USER_AGENT = "darkcrawl-bench-raw/1"


# ----------------------------------------------------------------------------
# The site


def onion_site_urls(onion: OnionService, pages: int) -> list[str]:
    """Every HTML URL darkcrawl fetches on the site, so both crawls fetch the same set.

    ``/`` and ``/index.html`` are one document under two URLs; a crawler seeded
    with ``/`` fetches both, because the pages link to ``/index.html``.
    """
    base = f"http://{onion.address}"
    return [f"{base}/", f"{base}/index.html", *(f"{base}/p/{n}.html" for n in range(pages))]


def publish_onion_site(web: WebInfo, onion: OnionService) -> None:
    """Make the generated one-host web an onion site, in place (nginx serves it as is).

    webgen writes absolute links as ``http://127.0.0.1:<port>/...``; they become
    the onion's own URLs, as on real onion sites (the relative spellings stay).
    robots.txt allows everything. The sitemap goes: the crawler must find the
    pages by their links, as on most onion sites.
    """
    site = host_dir(web.root, 0)
    local = f"http://{LOOPBACK}:{web.params.port(0)}".encode()
    own = f"http://{onion.address}".encode()
    for page in [site / "index.html", *sorted((site / "p").glob("*.html"))]:
        page.write_bytes(page.read_bytes().replace(local, own))
    (site / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    (site / "sitemap.xml").unlink(missing_ok=True)


# ----------------------------------------------------------------------------
# The raw SOCKS client


class _Stream:
    """One keep-alive HTTP/1.1 connection to an onion through the SOCKS port."""

    def __init__(self, socks_port: int, host: str, port: int) -> None:
        self.socks_port = socks_port
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(LOOPBACK, self.socks_port)
        try:
            # RFC 1928: one method, no authentication; then CONNECT with the
            # name itself (ATYP=3), so that tor, not we, looks it up.
            writer.write(b"\x05\x01\x00")
            if await reader.readexactly(2) != b"\x05\x00":
                raise ConnectionError("SOCKS5 method negotiation failed")
            name = self.host.encode("idna")
            writer.write(b"\x05\x01\x00\x03" + bytes((len(name),)) + name + struct.pack("!H", self.port))
            _version, reply, _reserved, atyp = await reader.readexactly(4)
            # The bound address and port follow, even on failure.
            if atyp == 3:
                (length,) = await reader.readexactly(1)
            else:
                length = 16 if atyp == 4 else 4
            await reader.readexactly(length + 2)
            if reply != 0:
                raise SocksError(reply)
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def get(self, path: str) -> tuple[int, int]:
        """GET ``path``; return (status, body length). Reconnects when needed."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await self._connect()
        reader, writer = self.reader, self.writer
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: */*\r\nAccept-Encoding: identity\r\n\r\n".encode("ascii")
        )
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" not in headers:
            # nginx sends static files with a length; anything else would
            # need chunked decoding, which this client does not need.
            raise ConnectionError(f"no Content-Length in the reply to {path}")
        body = await reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, len(body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class RawResult:
    name: str = "raw-socks"
    status: str = "failed"  # ok | failed
    message: str = ""
    expected_pages: int = 0
    pages: int = 0  # 200 responses
    failed: int = 0  # URLs that failed after retries or answered non-200
    body_bytes: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0  # this process, user+sys
    pages_per_s: float | None = None
    cpu_ms_per_page: float | None = None
    http_requests: int | None = None  # as counted by nginx
    tor_cpu_s: float | None = None
    errors: list[str] = field(default_factory=list)


async def _raw_crawl(socks_port: int, urls: list[str], streams: int, result: RawResult) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)

    async def worker() -> None:
        stream: _Stream | None = None
        while True:
            try:
                url = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            parts = urlsplit(url)
            host = parts.hostname or ""
            if stream is None:
                stream = _Stream(socks_port, host, parts.port or 80)
            for attempt in range(3):
                try:
                    status, size = await asyncio.wait_for(stream.get(parts.path or "/"), 60)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                        ValueError) as exc:
                    # A dropped keep-alive stream or a stalled circuit: a new
                    # stream, as any HTTP client would open.
                    stream.close()
                    if attempt == 2:
                        result.failed += 1
                        result.errors.append(f"{url}: {exc!r}")
                    continue
                if status == 200:
                    result.pages += 1
                    result.body_bytes += size
                else:
                    result.failed += 1
                    result.errors.append(f"{url}: HTTP {status}")
                break
        if stream is not None:
            stream.close()

    await asyncio.gather(*(worker() for _ in range(streams)))


def run_raw(socks_port: int, urls: list[str], streams: int = STREAMS) -> RawResult:
    """Fetch ``urls`` over ``streams`` concurrent SOCKS streams; time it and its CPU."""
    result = RawResult(expected_pages=len(urls))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    asyncio.run(_raw_crawl(socks_port, urls, streams, result))
    result.wall_s = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if result.pages and result.wall_s > 0:
        result.pages_per_s = result.pages / result.wall_s
        result.cpu_ms_per_page = 1000 * result.cpu_s / result.pages
    if result.failed:
        result.message = f"{result.failed} URLs failed; first: {result.errors[0]}"
    else:
        result.status = "ok"
    return result


# ----------------------------------------------------------------------------
# darkcrawl


def darkcrawl_command(network: TorNetwork, onion: OnionService, work: Path, stats_file: Path) -> list[str]:
    return [
        sys.executable, "-m", "scrapy", "crawl", "darkweb",
        "-a", f"urls={onion.url}",
        # The network's tor is already running: darkcrawl launches none and
        # uses this one SocksPort (TOR_CTRL: its NEWNYM goes to this tor too).
        "-s", f"TOR_PORT={network.socks_port}",
        "-s", f"TOR_CTRL={network.control_port}",
        "-s", "DARC_TOR=0",
        "-s", "DARKCRAWL_TOR_POOL=1",
        # the raw client's 8 streams; no politeness delay, as for bench.run
        "-s", "CONCURRENT_REQUESTS=8",
        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
        "-s", "DOWNLOAD_DELAY=0",
        "-s", "DARC_REBOOT=1",
        "-s", f"PATH_DATA={work / 'data'}",
        "-s", f"DARKCRAWL_STATS_FILE={stats_file}",
        "-s", "LOG_LEVEL=INFO",
        "-s", "STATS_DUMP=True",
    ]  # fmt: skip


def tor_cpu_seconds(pids: list[int]) -> float | None:
    """CPU used so far by these processes (all the network's tors), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    except (OSError, ValueError, IndexError):
        return None
    return total


def _delta(after: float | int | None, before: float | int | None) -> Any:
    return after - before if after is not None and before is not None else None


# ----------------------------------------------------------------------------
# Report


@dataclass
class Round:
    """One raw crawl and one darkcrawl crawl, back to back on the same network."""

    n: int
    raw: RawResult | None = None
    dark: CrawlResult | None = None
    dark_tor_cpu_s: float | None = None

    @property
    def socks_requests(self) -> int | None:
        value = self.dark.stats.get("darkcrawl/transport/socks") if self.dark is not None else None
        return value if isinstance(value, int) else None

    @property
    def ok(self) -> bool:
        # No SOCKS requests would mean darkcrawl did not go through Tor at all.
        return (self.raw is not None and self.dark is not None and self.raw.status == self.dark.status == "ok"
                and bool(self.socks_requests))


def summarise(rounds: list[Round]) -> dict[str, float | None]:
    """Medians over the complete rounds, and ratio = darkcrawl / raw of crawl pages/s."""
    done = [r for r in rounds if r.ok]
    raw = [r.raw.pages_per_s for r in done if r.raw is not None]
    dark = [crawl_pages_per_s(r.dark) for r in done if r.dark is not None]
    dark_wall = [r.dark.pages_per_s for r in done if r.dark is not None]
    raw_rate, dark_rate, dark_wall_rate = median_of(raw), median_of(dark), median_of(dark_wall)
    return {
        "rounds_ok": len(done),
        "raw_pages_per_s": raw_rate,
        "darkcrawl_crawl_pages_per_s": dark_rate,
        "darkcrawl_wall_pages_per_s": dark_wall_rate,
        "ratio": ratio_of(dark_rate, raw_rate),
        "ratio_wall": ratio_of(dark_wall_rate, raw_rate),
    }


def print_table(rounds: list[Round], summary: dict[str, float | None]) -> None:
    header = (
        f"{'round':>5} {'crawler':<10} {'status':<7} {'pages':>6} {'expected':>8} {'wall s':>7} {'pages/s':>8} "
        f"{'crawl s':>7} {'crawl p/s':>9} {'CPU ms/pg':>9} {'http reqs':>9} {'tor CPU s':>9} {'socks reqs':>10}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for rnd in rounds:
        raw, dark = rnd.raw, rnd.dark
        if raw is not None:
            # In-process, so its wall time *is* its crawl time.
            print(
                f"{rnd.n:>5} {raw.name:<10} {raw.status:<7} {raw.pages:>6} {raw.expected_pages:>8} "
                f"{raw.wall_s:>7.1f} {_fmt(raw.pages_per_s, '.1f'):>8} {raw.wall_s:>7.1f} "
                f"{_fmt(raw.pages_per_s, '.1f'):>9} {_fmt(raw.cpu_ms_per_page, '.2f'):>9} "
                f"{_fmt(raw.http_requests, 'd'):>9} {_fmt(raw.tor_cpu_s, '.1f'):>9} {'-':>10}"
            )
        if dark is not None:
            print(
                f"{rnd.n:>5} {dark.name:<10} {dark.status:<7} {_fmt(dark.pages, 'd'):>6} {dark.expected_pages:>8} "
                f"{dark.wall_s:>7.1f} {_fmt(dark.pages_per_s, '.1f'):>8} {_fmt(dark.stats_elapsed_s, '.1f'):>7} "
                f"{_fmt(crawl_pages_per_s(dark), '.1f'):>9} {_fmt(dark.cpu_ms_per_page, '.2f'):>9} "
                f"{_fmt(dark.http_requests, 'd'):>9} {_fmt(rnd.dark_tor_cpu_s, '.1f'):>9} "
                f"{_fmt(rnd.socks_requests, 'd'):>10}"
            )
    for rnd in rounds:
        for name, message in ((rnd.raw and rnd.raw.name, rnd.raw and rnd.raw.message),
                              (rnd.dark and rnd.dark.name, rnd.dark and rnd.dark.message)):
            if message:
                print(f"\nround {rnd.n}, {name}: {message}")
        if rnd.dark is not None and rnd.dark.status == "ok" and not rnd.socks_requests:
            print(f"\nround {rnd.n}: darkcrawl/transport/socks is missing: darkcrawl did not go through SOCKS")
    ratio = summary["ratio"]
    verdict = "" if ratio is None else ("  (meets target)" if ratio >= TARGET_RATIO else "  (below target)")
    of = f"medians of {summary['rounds_ok']} rounds" if len(rounds) > 1 else "crawl pages/s"
    print(f"\nratio = darkcrawl / raw ({of}): {_fmt(ratio, '.2f')}  target >= {TARGET_RATIO:g}{verdict}")
    print(f"        counting darkcrawl's start-up (wall pages/s): {_fmt(summary['ratio_wall'], '.2f')}")


# ----------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.onion", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=DEFAULT_PAGES,
                    help=f"pages of the onion site (default {DEFAULT_PAGES})")
    ap.add_argument("--rounds", type=int, default=1,
                    help="raw + darkcrawl this many times on the same network; medians are compared (default 1)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (site, tor logs, crawl logs, data)")
    ap.add_argument("--timeout", type=float, default=600.0, help="darkcrawl's time limit in s (default 600)")
    args = ap.parse_args(argv)
    if args.pages < 2 or args.rounds < 1:
        ap.error("need --pages >= 2 and --rounds >= 1")
    return args


def _run_round(n: int, network: TorNetwork, server: NginxServer, web: WebInfo, tmp: Path, timeout: float) -> Round:
    rnd = Round(n)
    onion = network.onions[0]
    tor_pids = network.pids
    urls = onion_site_urls(onion, web.params.pages)

    print(f"\n[raw-socks] round {n}: {len(urls)} URLs, {STREAMS} streams", flush=True)
    reqs, cpu = server.requests_served(), tor_cpu_seconds(tor_pids)
    rnd.raw = raw = run_raw(network.socks_port, urls)
    # minus our own stub_status request
    raw.http_requests = _delta(server.requests_served(), reqs)
    raw.http_requests = raw.http_requests - 1 if raw.http_requests is not None else None
    raw.tor_cpu_s = _delta(tor_cpu_seconds(tor_pids), cpu)
    print(f"[raw-socks] {raw.status}: {raw.pages} pages in {raw.wall_s:.1f}s", flush=True)

    def adapt(_cmd: list[str], _env: dict[str, str], work: Path, stats_file: Path) -> tuple[list[str], dict[str, str]]:
        # Nothing darkcrawl fetches is on loopback: the onion goes through
        # SOCKS, so its loopback guard stays on.
        return darkcrawl_command(network, onion, work, stats_file), _child_env({"DARKCRAWL_ALLOW_LOOPBACK": "0"})

    cpu = tor_cpu_seconds(tor_pids)
    rnd.dark = dark = run_darkcrawl("darkcrawl", tmp / f"round{n}", server, web, timeout, adapt)
    rnd.dark_tor_cpu_s = _delta(tor_cpu_seconds(tor_pids), cpu)
    print(f"[darkcrawl] {dark.status}: {_fmt(dark.pages, 'd')} pages in {dark.wall_s:.1f}s", flush=True)
    return rnd


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sigterm_as_interrupt()
    if not (PROJECT_ROOT / "scrapy.cfg").exists():
        print(f"error: no scrapy.cfg in {PROJECT_ROOT}", file=sys.stderr)
        return 2
    binary = find_nginx()
    if binary is None:
        return 2

    rounds: list[Round] = []
    tor_pids: list[int] = []
    info: dict[str, Any] = {}
    interrupted = False
    with temp_dir("darkcrawl-bench-onion-", args.keep) as tmp:
        try:
            # nginx must listen before tor starts (the service forwards to its port),
            # and the pages must name the onion, known only once tor made its keys.
            params = WebParams(hosts=1, pages=args.pages, base_port=free_port())
            web = ensure_web(tmp / "site", params)
            # "/" and "/index.html" are both fetched (see onion_site_urls).
            web = replace(web, html_pages=web.html_pages + 1)
            with NginxServer(web.root, params, tmp / "nginx", binary) as server:
                print(f"site: {args.pages} pages + index, {web.total_bytes / 2**20:.1f} MiB, "
                      f"nginx on {LOOPBACK}:{params.port(0)}", flush=True)
                print("starting the private Tor network ...", flush=True)
                with TorNetwork(tmp / "tornet", onion_targets=[params.port(0)]) as network:
                    tor_pids = network.pids
                    onion = network.onions[0]
                    publish_onion_site(web, onion)
                    network.wait_ready()
                    info = {"onion": onion.url, "socks_port": network.socks_port, "tor_start_s": dict(network.timings)}
                    print(f"  {onion.url} ready through SocksPort {network.socks_port} "
                          f"(network up in {network.timings.get('fetched', 0):.1f}s)", flush=True)
                    for n in range(1, args.rounds + 1):
                        rounds.append(rnd := _run_round(n, network, server, web, tmp, args.timeout))
                        if rnd.dark is not None and rnd.dark.status == "interrupted":
                            raise KeyboardInterrupt
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted; tor and nginx stopped", file=sys.stderr)
        except (NginxError, TorNetworkError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        finally:
            # TorNetwork.stop() waits for every tor it started; say so if one survived.
            left = [pid for pid in tor_pids if Path(f"/proc/{pid}").exists()]
            if left:
                print(f"WARNING: tor processes still running: {left}", file=sys.stderr)

    def payload(summary: Any) -> dict[str, Any]:
        return {
            "pages": args.pages,
            "streams": STREAMS,
            **info,
            "rounds": [
                {
                    "round": r.n,
                    "raw": asdict(r.raw) if r.raw is not None else None,
                    "darkcrawl": (
                        {**asdict(r.dark), "crawl_pages_per_s": crawl_pages_per_s(r.dark),
                         "tor_cpu_s": r.dark_tor_cpu_s, "socks_requests": r.socks_requests}
                        if r.dark is not None else None
                    ),
                }
                for r in rounds
            ],
            "summary": summary,
            "target_ratio": TARGET_RATIO,
        }

    return finish(rounds, interrupted, summarise=summarise, print_table=print_table, json_path=args.json,
                  payload=payload, ok=lambda r: r.ok)


if __name__ == "__main__":
    sys.exit(main())
