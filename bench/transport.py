"""Clear-web speed of darkcrawl's transports: ``python -m bench.transport``.

darkcrawl's ``NetworkDownloadHandler`` sends clear-web requests through Scrapy's
default HTTP/1.1 handler and only SOCKS-routed ones through the httpx handler
(darkcrawl/download_handler.py says why). This benchmark measures what that choice is worth:
the same darkcrawl crawl of the synthetic web (bench/webgen.py, served by
bench/nginx.py), run three times in one go, with only ``DOWNLOAD_HANDLERS``
changed:

* ``darkcrawl``: as configured (the project's NetworkDownloadHandler);
* ``httpx``: every http/https request through Scrapy's HttpxDownloadHandler;
* ``http11``: Scrapy's HTTP11DownloadHandler set explicitly, the reference.

Each crawl is measured by :func:`bench.run.run_crawler`, exactly as
``python -m bench.run`` measures darkcrawl; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import bench.run as bench_run
from bench.nginx import NginxError, NginxServer
from bench.run import CommandAdapter, CrawlResult, _fmt, smoke_check, warm_page_cache
from bench.scaffold import Guard, find_nginx, finish, prepare_web, sigterm_as_interrupt, temp_dir
from bench.webgen import WebInfo, WebParams

#: (cmd, env, work dir, stats file) -> (cmd, env): how a benchmark changes
#: bench.run's darkcrawl command.

_HANDLERS = "scrapy.core.downloader.handlers"


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    handler: str | None  # forced for http and https; None = darkcrawl's own setting


VARIANTS = (
    Variant("darkcrawl", "as configured: darkcrawl.download_handler.NetworkDownloadHandler", None),
    Variant("httpx", "every request through Scrapy's HttpxDownloadHandler", f"{_HANDLERS}._httpx.HttpxDownloadHandler"),
    Variant("http11", "Scrapy's HTTP11DownloadHandler, set explicitly", f"{_HANDLERS}.http11.HTTP11DownloadHandler"),
)
REFERENCE = "http11"
DEFAULT_BASE_PORT = 18100  # not bench.run's 18000-18049, so both can run at once


def run_darkcrawl(
    label: str, tmp: Path, server: NginxServer, web: WebInfo, timeout: float, adapt: CommandAdapter
) -> CrawlResult:
    """One measured darkcrawl crawl whose command ``adapt`` changed; logs etc. under ``tmp/label``."""
    result = bench_run.run_crawler("darkcrawl", tmp / label, server, web, timeout, adapt=adapt)
    result.name = label
    return result


def _with_handler(handler: str | None) -> CommandAdapter:
    def adapt(cmd: list[str], env: dict[str, str], _work: Path, _stats: Path) -> tuple[list[str], dict[str, str]]:
        if handler is None:
            return cmd, env
        # A -s value for a dict setting is parsed as JSON by Scrapy, and the
        # command line outranks the add-on's "addon" priority.
        handlers = json.dumps({"http": handler, "https": handler})
        return [*cmd, "-s", f"DOWNLOAD_HANDLERS={handlers}"], env

    return adapt


def crawl_pages_per_s(result: CrawlResult) -> float | None:
    """Pages over Scrapy's own elapsed time, i.e. without interpreter and Scrapy start-up."""
    if not result.pages or not result.stats_elapsed_s:
        return None
    return result.pages / result.stats_elapsed_s


def median_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio_of(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def summarise(results: list[tuple[int, CrawlResult]]) -> dict[str, dict[str, float | None]]:
    """Per variant: medians over its ok runs, and their ratios to the reference's."""
    summary: dict[str, dict[str, float | None]] = {}
    for v in VARIANTS:
        runs = [r for _, r in results if r.name == v.name and r.status == "ok"]
        if runs:
            summary[v.name] = {
                "runs": len(runs),
                "pages_per_s": median_of([r.pages_per_s for r in runs]),
                "crawl_pages_per_s": median_of([crawl_pages_per_s(r) for r in runs]),
                "cpu_ms_per_page": median_of([r.cpu_ms_per_page for r in runs]),
            }
    ref = summary.get(REFERENCE, {})
    for name, got in summary.items():
        if name != REFERENCE:
            for key in ("pages_per_s", "crawl_pages_per_s", "cpu_ms_per_page"):
                got[f"{key}_ratio"] = ratio_of(got[key], ref.get(key))
    return summary


def print_table(results: list[tuple[int, CrawlResult]], summary: dict[str, dict[str, float | None]]) -> None:
    header = (
        f"{'round':>5} {'variant':<10} {'status':<8} {'pages':>6} {'wall s':>7} {'pages/s':>8} "
        f"{'crawl p/s':>9} {'CPU ms/pg':>9} {'RSS MB':>7} {'http reqs':>9} {'nginx CPU s':>11}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for n, r in results:
        print(
            f"{n:>5} {r.name:<10} {r.status:<8} {_fmt(r.pages, 'd'):>6} {r.wall_s:>7.1f} "
            f"{_fmt(r.pages_per_s, '.1f'):>8} {_fmt(crawl_pages_per_s(r), '.1f'):>9} "
            f"{_fmt(r.cpu_ms_per_page, '.2f'):>9} {r.peak_rss_mb:>7.0f} {_fmt(r.http_requests, 'd'):>9} "
            f"{_fmt(r.nginx_cpu_s, '.1f'):>11}"
        )
    for n, r in results:
        if r.message:
            print(f"\nround {n}, {r.name}: {r.message}")
    print(f"\nratios to {REFERENCE} (medians of the ok runs):")
    print(f"  {'':<18} {'pages/s':>8} {'crawl p/s':>10} {'CPU ms/pg':>10}")
    for name, got in summary.items():
        if name != REFERENCE:
            print(
                f"  {name + ' / ' + REFERENCE:<18} {_fmt(got['pages_per_s_ratio'], '.2f'):>8} "
                f"{_fmt(got['crawl_pages_per_s_ratio'], '.2f'):>10} {_fmt(got['cpu_ms_per_page_ratio'], '.2f'):>10}"
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=10, help="number of hosts/ports (default 10)")
    ap.add_argument("--pages", type=int, default=400, help="pages per host (default 400)")
    ap.add_argument("--only", action="append", choices=[v.name for v in VARIANTS],
                    help="run only this variant (repeatable)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every variant this many times, interleaved; medians are compared (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, stats, darkcrawl data)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    ap.add_argument("--timeout", type=float, default=600.0, help="per-crawl time limit in s (default 600)")
    ap.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT,
                    help=f"port of host 0 (default {DEFAULT_BASE_PORT})")
    ap.add_argument("--web-dir", type=Path,
                    help="where the synthetic web lives (default: darkcrawl-bench-transport-web in the temp dir; "
                         "not bench/.web, which bench.run regenerates for its own size)")
    args = ap.parse_args(argv)
    if args.hosts < 1 or args.pages < 2 or args.rounds < 1:
        ap.error("need --hosts >= 1, --pages >= 2 and --rounds >= 1")
    if not 1024 <= args.base_port <= 65535 - args.hosts:
        ap.error("--base-port out of range")
    if args.web_dir is None:
        args.web_dir = Path(tempfile.gettempdir()) / "darkcrawl-bench-transport-web"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sigterm_as_interrupt()
    params = WebParams(hosts=args.hosts, pages=args.pages, base_port=args.base_port)
    variants = [v for v in VARIANTS if not args.only or v.name in args.only]
    web = prepare_web(args.web_dir, params, links=False)
    binary = find_nginx()
    if binary is None:
        return 2

    results: list[tuple[int, CrawlResult]] = []
    interrupted = False
    with temp_dir("darkcrawl-bench-transport-", args.keep) as tmp, Guard(NginxError) as guard:
        with NginxServer(args.web_dir, params, tmp / "nginx", binary) as server:
            print(f"nginx: {binary}, ports {params.port(0)}-{params.port(params.hosts - 1)}")
            smoke_check(params)
            print(f"  smoke check ok; page cache warmed in {warm_page_cache(args.web_dir):.1f}s")
            for n in range(1, args.rounds + 1):
                for v in variants:
                    print(f"\n== round {n}, {v.name}: {v.description}", flush=True)
                    result = run_darkcrawl(
                        v.name, tmp / f"round{n}", server, web, args.timeout, _with_handler(v.handler)
                    )
                    results.append((n, result))
                    print(f"[{v.name}] {result.status}: {_fmt(result.pages, 'd')} pages in {result.wall_s:.1f}s",
                          flush=True)
                    if result.status == "interrupted":
                        raise KeyboardInterrupt
    if guard.failed:
        return 2
    interrupted = interrupted or guard.interrupted

    def payload(summary: Any) -> dict[str, Any]:
        return {
            "params": asdict(params),
            "web": {"html_pages": web.html_pages, "total_bytes": web.total_bytes, "links": web.links},
            "variants": [asdict(v) for v in variants],
            "reference": REFERENCE,
            "rounds": args.rounds,
            "results": [{"round": n, **asdict(r), "crawl_pages_per_s": crawl_pages_per_s(r)} for n, r in results],
            "summary": summary,
        }

    return finish(results, interrupted, summarise=summarise, print_table=print_table, json_path=args.json,
                  payload=payload, ok=lambda row: row[1].status == "ok")


if __name__ == "__main__":
    sys.exit(main())
