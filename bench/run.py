"""Benchmark entry point: ``python -m bench.run`` (see bench/README.md).

One run = generate (or reuse) the synthetic web, serve it with a private
nginx, crawl it with the baseline CrawlSpider and with darkcrawl, each in
its own measured subprocess, then print and optionally save the figures.
"""

from __future__ import annotations

from collections.abc import Callable

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import Measurement, run_measured
from bench.nginx import NginxError, NginxServer, http_get
from bench.scaffold import Guard, exit_code, find_nginx, prepare_web, sigterm_as_interrupt, temp_dir, write_json
from bench.statsdump import HTML_PAGE_KEYS, html_pages, load_stats_file, parse_stats_from_log
from bench.webgen import LOOPBACK, WebInfo, WebParams

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEB_DIR = PROJECT_ROOT / "bench" / ".web"
#: "no-catalog": darkcrawl with DARKCRAWL_CATALOG=0, for what the catalogue costs
#: "warc": darkcrawl with DARKCRAWL_WARC=1, for what the archive costs (and its bytes per page)
#: "no-gates": with DARKCRAWL_GATES=0, for what reading every answer for a gate costs
CRAWLERS = ("baseline", "darkcrawl", "no-catalog", "warc", "no-gates")
#: the settings each darkcrawl variant runs with
VARIANTS = {"no-catalog": ("DARKCRAWL_CATALOG=0",), "warc": ("DARKCRAWL_WARC=1", "DARKCRAWL_WACZ=0"), "no-gates": ("DARKCRAWL_GATES=0",)}
#: the archive may cost at most this share of the plain stage's pages/s
WARC_COST_TARGET = 0.10
#: the catalogue may cost at most this fraction of the plain stage's pages/s
CATALOG_COST_TARGET = 0.10
TARGET_RATIO = 4.0
# Variables that would route loopback traffic through a proxy, or make the
# baseline pick up darkcrawl's project settings.
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_SCRAPY_PROJECT_VARS = ("SCRAPY_SETTINGS_MODULE", "SCRAPY_PROJECT", "SCRAPY_PYTHON_SHELL")


@dataclass
class CrawlResult:
    name: str
    status: str  # ok | failed | timeout | interrupted
    message: str = ""
    expected_pages: int = 0
    pages: int | None = None
    pages_source: str = ""
    stats_source: str = "none"  # file | log | none
    returncode: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    pages_per_s: float | None = None
    cpu_ms_per_page: float | None = None
    http_requests: int | None = None  # as counted by nginx during the crawl
    nginx_cpu_s: float | None = None
    server_errors: int = 0  # nginx [crit]/[alert]/[emerg] log lines during the crawl
    stats_elapsed_s: float | None = None
    data_bytes: int | None = None
    #: bytes of the WARC files ("warc" only), of the per-host files (documents, headers records)
    archive_bytes: int | None = None
    files_bytes: int | None = None
    data_files: int | None = None
    log: str = ""
    stats: dict[str, Any] = field(default_factory=dict)


def _child_env(extra: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS and k not in drop}
    env["no_proxy"] = env["NO_PROXY"] = f"{LOOPBACK},localhost"
    env.update(extra)
    return env


def _dir_usage(path: Path) -> tuple[int, int]:
    """(bytes on disk as du counts them, number of files) under ``path``."""
    total = files = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, _dirs, names in os.walk(path):
        for name in [*names, "."]:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue  # hard links count once, like du
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
            files += name != "."
    return total, files


def _log_tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    tail = [ln for ln in text if ln.strip()][-lines:]
    return "\n".join("    " + ln[:300] for ln in tail) or "    (empty log)"


def darkcrawl_argv(seeds: Path | None, data: Path, stats_file: Path, *settings: str) -> list[str]:
    """``scrapy crawl darkweb`` as the benchmarks run it (bench.run's darkcrawl line, bench.distributed's
    workers): from *seeds* (None: none, as for a worker that takes its requests from Redis), with the
    crawl settings every benchmark uses, then *settings* (``NAME=value``)."""
    return [
        sys.executable, "-m", "scrapy", "crawl", "darkweb",
        *(["-a", f"seeds={seeds}"] if seeds is not None else []),
        "-s", f"PATH_DATA={data}",
        "-s", "DARC_REBOOT=1",
        "-s", "CONCURRENT_REQUESTS=32",
        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
        # darkcrawl's polite default is 0.5 s per host; the baseline uses Scrapy's 0
        "-s", "DOWNLOAD_DELAY=0",
        # the plain stage is measured here; bench.render measures the browser
        "-s", "DARKCRAWL_RENDER=0",
        "-s", "LOG_LEVEL=INFO",
        "-s", f"DARKCRAWL_STATS_FILE={stats_file}",
        *(arg for setting in settings for arg in ("-s", setting)),
    ]  # fmt: skip


def _commands(name: str, work: Path, seed_url: str, stats_file: Path) -> tuple[list[str], dict[str, str]]:
    if name == "baseline":
        cmd = [sys.executable, "-m", "bench.baseline_spider", "--seed", seed_url, "--stats-file", str(stats_file)]
        return cmd, _child_env({}, drop=_SCRAPY_PROJECT_VARS)
    seeds = work / "seeds.txt"
    seeds.write_text(seed_url + "\n")
    extra = VARIANTS.get(name, ())
    cmd = darkcrawl_argv(seeds, work / "data", stats_file, "STATS_DUMP=True", *extra)
    return cmd, _child_env({"DARKCRAWL_ALLOW_LOOPBACK": "1"})


#: changes a crawler's (argv, env) before it runs: (argv, env, workdir, stats file) -> (argv, env)
CommandAdapter = Callable[[list[str], dict[str, str], Path, Path], tuple[list[str], dict[str, str]]]


def run_crawler(
    name: str, tmp: Path, server: NginxServer, web: WebInfo, timeout: float, adapt: CommandAdapter | None = None
) -> CrawlResult:
    work = tmp / name
    work.mkdir(parents=True, exist_ok=True)
    stats_file = work / "stats.json"
    log = work / "crawl.log"
    result = CrawlResult(name=name, status="failed", expected_pages=web.html_pages, log=str(log))
    if name != "baseline" and not (PROJECT_ROOT / "scrapy.cfg").exists():
        result.message = f"no scrapy.cfg in {PROJECT_ROOT}: darkcrawl project not set up yet"
        return result

    cmd, env = _commands(name, work, web.params.seed_url(), stats_file)
    if adapt is not None:
        cmd, env = adapt(cmd, env, work, stats_file)
    print(f"\n[{name}] {' '.join(cmd)}", flush=True)
    requests_before = server.requests_served()
    nginx_cpu_before = server.worker_cpu_seconds()
    errors_before = server.error_count()
    m: Measurement = run_measured(
        cmd, cwd=PROJECT_ROOT, env=env, stdout=work / "stdout.log", stderr=log, timeout=timeout
    )
    requests_after = server.requests_served()
    nginx_cpu_after = server.worker_cpu_seconds()
    result.server_errors = server.error_count() - errors_before

    result.returncode = m.returncode
    result.wall_s = m.wall_s
    result.cpu_s = m.cpu_s
    result.peak_rss_mb = m.peak_rss_kb / 1024
    if requests_before is not None and requests_after is not None:
        # Minus our own second stub_status request.
        result.http_requests = requests_after - requests_before - 1
    if nginx_cpu_before is not None and nginx_cpu_after is not None:
        result.nginx_cpu_s = nginx_cpu_after - nginx_cpu_before

    stats = load_stats_file(stats_file)
    if stats is not None:
        result.stats_source = "file"
    else:
        stats = parse_stats_from_log(log)
        result.stats_source = "log" if stats is not None else "none"
    result.stats = stats or {}
    if stats:
        result.pages, result.pages_source = html_pages(stats)
        elapsed = stats.get("elapsed_time_seconds")
        result.stats_elapsed_s = float(elapsed) if isinstance(elapsed, (int, float)) else None
    if result.pages:
        result.pages_per_s = result.pages / m.wall_s if m.wall_s > 0 else None
        result.cpu_ms_per_page = 1000 * m.cpu_s / result.pages
    if name in ("darkcrawl", "warc") and (work / "data").exists():
        result.data_bytes, result.data_files = _dir_usage(work / "data")
        # the files-on-disk layout: documents, headers records, robots.txt and sitemaps
        result.files_bytes, _ = _dir_usage(work / "data" / "clearnet")
        if name == "warc":
            result.archive_bytes, _ = _dir_usage(work / "data" / "archive" / "warc")

    if m.interrupted:
        result.status, result.message = "interrupted", "stopped by Ctrl-C/SIGTERM"
    elif m.timed_out:
        result.status, result.message = "timeout", f"killed after {timeout:.0f}s"
    elif m.returncode != 0:
        result.message = f"exit code {m.returncode}"
    elif not stats:
        result.message = "no stats (neither stats file nor 'Dumping Scrapy stats' in the log)"
    elif not result.pages:
        result.message = "no HTML pages downloaded"
    else:
        result.status = "ok"
        if result.pages < 0.99 * web.html_pages:
            result.message = f"incomplete: {result.pages}/{web.html_pages} pages"
    if result.server_errors:
        # The figures are not trustworthy if the server itself struggled.
        result.message += (
            f"{'; ' if result.message else ''}WARNING: nginx logged {result.server_errors} "
            f"critical errors during this crawl (see {server.error_log} with --keep)"
        )
    if result.status != "ok":
        result.message += f"\n  last log lines ({log}):\n{_log_tail(log)}"
    return result


def smoke_check(params: WebParams) -> None:
    """Fail fast, with a clear message, if the server is not serving the web."""
    last = params.hosts - 1
    base = f"http://{LOOPBACK}:{params.port(last)}"
    checks = [
        (params.seed_url(), "text/html"),
        (f"{base}/p/{params.pages - 1}.html", "text/html"),
        (f"{base}/robots.txt", "text/plain"),
        (f"{base}/sitemap.xml", "application/xml"),
        (f"{base}/static/app.css", "text/css"),
        (f"{base}/static/app.js", "application/javascript"),
    ]
    for url, ctype in checks:
        status, got, body = http_get(url)
        if status != 200 or not got.startswith(ctype) or not body:
            raise NginxError(f"smoke check failed: GET {url} -> {status} {got!r} ({len(body)} bytes)")
    status, _, _ = http_get(f"{base}/p/{params.pages}.html")
    if status != 404:
        raise NginxError(f"smoke check failed: a missing page answered {status}, not 404")


def warm_page_cache(root: Path) -> float:
    """Read every file once so neither crawler pays for cold disk reads."""
    started = time.perf_counter()
    buf = bytearray(1 << 16)
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass
    return time.perf_counter() - started


def nginx_throughput(params: WebParams, tmp: Path, seconds: float) -> dict[str, Any] | None:
    """Requests/s nginx alone sustains on random pages of host 0 (wrk, if installed)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("  wrk not installed (apt-get install wrk); skipping the nginx-only measurement")
        return None
    script = tmp / "pages.lua"
    script.write_text(
        "-- random pages of one host, like a crawler's request mix\n"
        f"math.randomseed(42)\nrequest = function()\n"
        f'  return wrk.format("GET", "/p/" .. math.random(0, {params.pages - 1}) .. ".html")\nend\n'
    )
    cmd = [
        wrk,
        "-t1",
        "-c32",
        f"-d{max(1, int(seconds))}s",
        "-s",
        str(script),
        f"http://{LOOPBACK}:{params.base_port}/",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=_child_env({}))
    rps = next((ln.split()[1] for ln in out.stdout.splitlines() if ln.startswith("Requests/sec:")), None)
    if out.returncode != 0 or rps is None:
        print(f"  wrk failed: {out.stderr.strip() or out.stdout.strip()}")
        return None
    return {"tool": "wrk -t1 -c32", "seconds": seconds, "requests_per_s": float(rps)}


def _fmt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: list[CrawlResult], ratio: float | None) -> None:
    header = (
        f"{'crawler':<10} {'status':<11} {'pages':>7} {'expected':>8} {'wall s':>8} {'pages/s':>8} "
        f"{'CPU ms/pg':>9} {'peak RSS MB':>11} {'http reqs':>9} {'nginx CPU s':>11}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for r in results:
        print(
            f"{r.name:<10} {r.status:<11} {_fmt(r.pages, 'd'):>7} {r.expected_pages:>8} {r.wall_s:>8.1f} "
            f"{_fmt(r.pages_per_s, '.1f'):>8} {_fmt(r.cpu_ms_per_page, '.2f'):>9} {r.peak_rss_mb:>11.0f} "
            f"{_fmt(r.http_requests, 'd'):>9} {_fmt(r.nginx_cpu_s, '.1f'):>11}"
        )
    for r in results:
        if r.message:
            print(f"\n{r.name}: {r.message}")
        if r.pages is not None and r.pages_source not in HTML_PAGE_KEYS:
            print(
                f"\n{r.name}: pages estimated as {r.pages_source} (sitemaps/static files count too); "
                f"an exact count needs one of the stats {', '.join(HTML_PAGE_KEYS)}"
            )
        if r.name == "darkcrawl" and r.data_bytes is not None:
            print(f"\ndarkcrawl PATH_DATA: {r.data_bytes / 2**20:.1f} MiB on disk in {r.data_files} files")
        if r.name == "warc" and r.archive_bytes is not None and r.pages:
            print(f"\nwarc: WARC files {r.archive_bytes / r.pages / 1024:.1f} KiB/page on disk")
    verdict = "" if ratio is None else ("  (meets target)" if ratio >= TARGET_RATIO else "  (below target)")
    print(f"\nratio darkcrawl/baseline pages/s: {_fmt(ratio, '.2f')}  target >= {TARGET_RATIO:g}{verdict}")
    cost = catalog_cost(results)
    if cost is not None:
        speed, cpu = cost
        print(f"catalogue cost: {speed:+.1%} pages/s, {cpu:+.1%} CPU ms/page against DARKCRAWL_CATALOG=0 "
              f"(target: at most {CATALOG_COST_TARGET:.0%} of the pages/s{'' if speed <= CATALOG_COST_TARGET else ', missed'})")
    gates = catalog_cost(results, "no-gates")
    if gates is not None:
        print(f"gates cost: {gates[0]:+.1%} pages/s, {gates[1]:+.1%} CPU ms/page against DARKCRAWL_GATES=0")
    archive = warc_cost(results)
    if archive is not None:
        print(f"WARC cost: {archive['speed']:+.1%} pages/s, {archive['cpu']:+.1%} CPU ms/page against darkcrawl without it "
              f"(target: at most {WARC_COST_TARGET:.0%} of the pages/s"
              f"{'' if archive['speed'] <= WARC_COST_TARGET else ', missed'}); "
              f"WARC {archive['warc_bytes_per_page'] / 1024:.1f} KiB/page vs the files-on-disk layout "
              f"{archive['files_bytes_per_page'] / 1024:.1f} KiB/page")


def warc_cost(results: list[CrawlResult]) -> dict[str, float] | None:
    """What DARKCRAWL_WARC=1 costs against the same crawl without it (same run): pages/s lost,
    CPU per page added, and the archive's bytes per page against the files-on-disk layout's."""
    by_name = {r.name: r for r in results if r.status == "ok"}
    on, off = by_name.get("warc"), by_name.get("darkcrawl")
    cost = _cost(on, off)
    if cost is None or not (on and off and on.archive_bytes and off.files_bytes and on.pages and off.pages):
        return None
    return {"speed": cost[0], "cpu": cost[1], "warc_bytes_per_page": on.archive_bytes / on.pages,
            "files_bytes_per_page": off.files_bytes / off.pages}


def catalog_cost(results: list[CrawlResult], without: str = "no-catalog") -> tuple[float, float] | None:
    """(pages/s lost, CPU per page added) by what the *without* run turns off (the catalogue,
    the gates), as fractions of that run."""
    by_name = {r.name: r for r in results if r.status == "ok"}
    return _cost(by_name.get("darkcrawl"), by_name.get(without))


def _cost(on: CrawlResult | None, off: CrawlResult | None) -> tuple[float, float] | None:
    if not (on and off and on.pages_per_s and off.pages_per_s and on.cpu_ms_per_page and off.cpu_ms_per_page):
        return None
    return 1 - on.pages_per_s / off.pages_per_s, on.cpu_ms_per_page / off.cpu_ms_per_page - 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    ap.add_argument("--hosts", type=int, default=50, help="number of hosts/ports (default 50)")
    ap.add_argument("--pages", type=int, default=400, help="pages per host (default 400)")
    ap.add_argument("--only", choices=CRAWLERS, action="append",
                    help="run only this crawler (repeat for several, in the order given)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, stats, darkcrawl data)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    ap.add_argument("--timeout", type=float, default=600.0, help="per-crawler time limit in s (default 600)")
    ap.add_argument("--base-port", type=int, default=18000, help="port of host 0 (default 18000)")
    ap.add_argument("--web-dir", type=Path, default=DEFAULT_WEB_DIR, help="where the synthetic web lives")
    ap.add_argument(
        "--nginx-bench", type=float, default=0.0, metavar="SECONDS",
        help="also measure nginx alone with wrk for SECONDS before crawling",
    )  # fmt: skip
    ap.add_argument("--serve", action="store_true", help="only generate and serve the web until Ctrl-C")
    args = ap.parse_args(argv)
    if args.hosts < 1 or args.pages < 2:
        ap.error("need --hosts >= 1 and --pages >= 2")
    if not 1024 <= args.base_port <= 65535 - args.hosts:
        ap.error("--base-port out of range")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sigterm_as_interrupt()
    params = WebParams(hosts=args.hosts, pages=args.pages, base_port=args.base_port)
    web = prepare_web(args.web_dir, params)
    binary = find_nginx()
    if binary is None:
        return 2

    results: list[CrawlResult] = []
    nginx_info: dict[str, Any] | None = None
    interrupted = False
    with temp_dir("darkcrawl-bench-", args.keep) as tmp, Guard(NginxError) as guard:
        with NginxServer(args.web_dir, params, tmp / "nginx", binary) as server:
            ports = f"{params.port(0)}-{params.port(params.hosts - 1)}"
            print(f"nginx: {binary}, ports {ports}, status port {server.status_port}")
            smoke_check(params)
            print(f"  smoke check ok; page cache warmed in {warm_page_cache(args.web_dir):.1f}s")
            if args.serve:
                print(f"  serving {params.seed_url()} until Ctrl-C")
                while True:
                    time.sleep(3600)
            if args.nginx_bench > 0:
                nginx_info = nginx_throughput(params, tmp, args.nginx_bench)
                if nginx_info:
                    print(f"  nginx alone: {nginx_info['requests_per_s']:.0f} pages/s ({nginx_info['tool']})")
            for name in args.only or CRAWLERS:
                result = run_crawler(name, tmp, server, web, args.timeout)
                results.append(result)
                print(f"[{name}] {result.status}: {_fmt(result.pages, 'd')} pages in {result.wall_s:.1f}s",
                      flush=True)
                if result.status == "interrupted":
                    interrupted = True
                    break
    if guard.failed:
        return 2
    interrupted = interrupted or guard.interrupted

    if not results:
        return 130 if interrupted else 0
    by_name = {r.name: r for r in results}
    base, dark = by_name.get("baseline"), by_name.get("darkcrawl")
    ratio = (
        dark.pages_per_s / base.pages_per_s
        if base and dark and base.status == dark.status == "ok" and base.pages_per_s and dark.pages_per_s
        else None
    )
    print_table(results, ratio)
    if args.json:
        payload = {
            "params": asdict(params),
            "web": {"html_pages": web.html_pages, "total_bytes": web.total_bytes, "links": web.links},
            "nginx_alone": nginx_info,
            "results": [asdict(r) for r in results],
            "ratio": ratio,
            "catalog_cost": catalog_cost(results),
            "warc_cost": warc_cost(results),
            "gates_cost": catalog_cost(results, "no-gates"),
            "target_ratio": TARGET_RATIO,
        }
        write_json(args.json, payload)
    return exit_code(interrupted, (r.status == "ok" for r in results))


if __name__ == "__main__":
    sys.exit(main())
