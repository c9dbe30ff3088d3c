"""Distributed benchmark: ``python -m bench.distributed`` (see bench/README.md).

1. Throughput of the fleet: the synthetic web of ``bench.run`` (50 hosts x 400
   pages, served by the same private nginx) crawled by 1, then by 2 worker
   processes of the distributed profile (``SCRAPY_PROJECT=distributed``) sharing
   one fresh redis-server (append-only file on, ``everysec``, as in production).
   Same crawl settings as ``bench.run``'s darkcrawl line.  pages/s = HTML pages
   fetched by the whole fleet / wall time from the first worker's start to the
   last worker's exit.  The CPU seconds of every worker, of redis-server and of
   nginx's worker are reported, to show how the cores were shared: by default the
   kernel schedules all of them on all cores; ``--pin`` puts worker *i* on core
   ``i mod ncpu`` (nginx and Redis float).
   Redis's share, per HTML page fetched: the commands Redis ran (``INFO
   commandstats`` before and after, by command; the commands of a Lua script count
   as the script's EVALSHA plus each command it calls), the round trips the workers
   made (their ``darkcrawl/redis/round_trips`` stat: every command, script call or
   pipeline sent, counted in the client; by frontier call from
   ``darkcrawl/redis/calls/*``), and redis-server's CPU (``INFO cpu``, user + sys),
   of which the time spent running the Lua scripts (EVALSHA's ``usec``: the rest is
   the event loop, the network, the append-only file and the background tasks).
   From these: how many pages/s one Redis core could serve, and so how many
   workers at one worker's pages/s.  ``--delay`` sets ``DOWNLOAD_DELAY`` (0 by
   default, as bench.run; a real fleet keeps darkcrawl's 0.5 s: each request then
   also reserves its host's next start time in Redis).
2. ``--seen-memory N,N``: bytes per URL of the shared seen set in Redis at N URLs
   (``used_memory`` before and after inserting N distinct URLs, one Lua call per
   1000), and its measured false-positive rate on ``--probes`` URLs never inserted.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.nginx import NginxError, NginxServer, ensure_nginx
from bench.run import DEFAULT_WEB_DIR, PROJECT_ROOT, _child_env, darkcrawl_argv, smoke_check, warm_page_cache
from bench.scaffold import temp_dir, write_json
from bench.statsdump import html_pages, load_stats_file
from bench.webgen import WebInfo, WebParams, ensure_web
from tests.harness.redisserver import RedisServer

TARGET_RATIO = 1.7


@dataclass
class WorkerResult:
    returncode: int | None
    cpu_s: float
    pages: int | None
    finish_reason: str | None
    recovered: int = 0


@dataclass
class FleetResult:
    workers: int
    status: str = "failed"
    message: str = ""
    expected_pages: int = 0
    pages: int = 0
    wall_s: float = 0.0
    pages_per_s: float | None = None
    redis_cpu_s: float | None = None
    nginx_cpu_s: float | None = None
    http_requests: int | None = None
    per_worker: list[WorkerResult] = field(default_factory=list)
    #: Redis: commands run during the crawl, by command (INFO commandstats)
    redis_commands: dict[str, int] = field(default_factory=dict)
    #: Redis: seconds spent running the Lua scripts (EVALSHA's ``usec``, their commands included)
    redis_script_s: float | None = None
    #: Redis: the workers' round trips, and their frontier calls by name
    round_trips: int = 0
    redis_calls: dict[str, int] = field(default_factory=dict)

    def per_page(self, count: float | None) -> float | None:
        return count / self.pages if count is not None and self.pages else None

    @property
    def redis_cpu_us_per_page(self) -> float | None:
        cpu = self.per_page(self.redis_cpu_s)
        return None if cpu is None else cpu * 1e6

    @property
    def redis_pages_per_core_s(self) -> float | None:
        """Pages/s that would keep one core of redis-server busy, at this run's cost per page."""
        cpu = self.per_page(self.redis_cpu_s)
        return 1 / cpu if cpu else None


def commandstats(redis: RedisServer) -> dict[str, tuple[int, int]]:
    """(calls, µs) per command since redis-server started (``INFO commandstats``)."""
    with redis.client(socket_timeout=60) as client:
        info = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(value["calls"]), int(value["usec"])) for name, value in info.items()}


def count_redis(result: FleetResult, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
                stats: list[dict[str, Any]]) -> None:
    """The commands Redis ran between *before* and *after* (but the bench's own INFO), the
    time its scripts took, and the round trips and frontier calls the workers counted."""
    result.redis_commands = {name: calls - before.get(name, (0, 0))[0] for name, (calls, _) in after.items()
                             if calls - before.get(name, (0, 0))[0] > 0}
    result.redis_script_s = (after.get("evalsha", (0, 0))[1] - before.get("evalsha", (0, 0))[1]) / 1e6
    # the bench's own: the first commandstats (counted once done) and the last INFO cpu
    result.redis_commands["info"] = result.redis_commands.get("info", 0) - 2
    if result.redis_commands["info"] <= 0:
        del result.redis_commands["info"]
    result.redis_commands = dict(sorted(result.redis_commands.items(), key=lambda item: -item[1]))
    calls: dict[str, int] = {}
    for worker in stats:
        result.round_trips += int(worker.get("darkcrawl/redis/round_trips", 0))
        for key, value in worker.items():
            if key.startswith("darkcrawl/redis/calls/"):
                name = key.removeprefix("darkcrawl/redis/calls/")
                calls[name] = calls.get(name, 0) + int(value)
    result.redis_calls = dict(sorted(calls.items(), key=lambda item: -item[1]))


def run_fleet(n: int, tmp: Path, server: NginxServer, web: WebInfo, timeout: float, pin: bool,
              delay: float = 0.0) -> FleetResult:
    work = tmp / f"fleet{n}"
    result = FleetResult(workers=n, expected_pages=web.html_pages)
    seeds = work / "seeds.txt"
    work.mkdir(parents=True, exist_ok=True)
    seeds.write_text(web.params.seed_url() + "\n")
    cpus = os.cpu_count() or 1
    with RedisServer(work / "redis") as redis:
        procs: list[subprocess.Popen[bytes]] = []
        dirs = [work / f"worker{i}" for i in range(n)]
        argvs = []
        for i, wdir in enumerate(dirs):
            wdir.mkdir()
            argv = darkcrawl_argv(seeds if i == 0 else None, wdir / "data", wdir / "stats.json",
                                  f"DARKCRAWL_REDIS_URL={redis.url}", f"DOWNLOAD_DELAY={delay:g}")
            argvs.append((["taskset", "-c", str(i % cpus)] if pin else []) + argv)
        env = _child_env({"DARKCRAWL_ALLOW_LOOPBACK": "1", "SCRAPY_PROJECT": "distributed"})
        requests_before = server.requests_served()
        nginx_before = server.worker_cpu_seconds()
        redis_before = redis.cpu_seconds()
        commands_before = commandstats(redis)
        print(f"\n[{n} worker{'s' if n > 1 else ''}] {' '.join(argvs[0])}", flush=True)
        started = time.perf_counter()
        for argv, wdir in zip(argvs, dirs):
            with (wdir / "crawl.log").open("wb") as log:
                procs.append(subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        usage: dict[int, tuple[int, Any]] = {}
        deadline = started + timeout
        try:
            while len(usage) < n:
                for proc in procs:
                    if proc.pid in usage:
                        continue
                    pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        usage[proc.pid] = (status, rusage)
                        proc.returncode = os.waitstatus_to_exitcode(status)
                if len(usage) < n and time.perf_counter() > deadline:
                    result.message = f"timed out after {timeout:.0f}s"
                    for proc in procs:
                        if proc.pid not in usage:
                            os.killpg(proc.pid, signal.SIGTERM)
                    deadline = float("inf")
                time.sleep(0.05)
        except KeyboardInterrupt:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
            raise
        result.wall_s = time.perf_counter() - started
        result.redis_cpu_s = redis.cpu_seconds() - redis_before
        commands_after = commandstats(redis)
    nginx_after = server.worker_cpu_seconds()
    requests_after = server.requests_served()
    if nginx_before is not None and nginx_after is not None:
        result.nginx_cpu_s = nginx_after - nginx_before
    if requests_before is not None and requests_after is not None:
        result.http_requests = requests_after - requests_before - 1
    all_stats = []
    for proc, wdir in zip(procs, dirs):
        status, rusage = usage[proc.pid]
        stats = load_stats_file(wdir / "stats.json") or {}
        all_stats.append(stats)
        pages, _ = html_pages(stats) if stats else (None, "")
        result.per_worker.append(WorkerResult(
            returncode=proc.returncode, cpu_s=rusage.ru_utime + rusage.ru_stime, pages=pages,
            finish_reason=stats.get("finish_reason"),
            recovered=int(stats.get("darkcrawl/redis/recovered_requests", 0))))
    result.pages = sum(w.pages or 0 for w in result.per_worker)
    count_redis(result, commands_before, commands_after, all_stats)
    result.pages_per_s = result.pages / result.wall_s if result.wall_s else None
    failed = [i for i, w in enumerate(result.per_worker) if w.returncode != 0 or w.finish_reason != "finished"]
    if failed:
        result.message += f" workers {failed} did not finish cleanly (see {work})"
    elif result.pages < 0.99 * web.html_pages:
        result.message += f" incomplete: {result.pages}/{web.html_pages} pages"
    else:
        result.status = "ok"
        if result.pages > web.html_pages:
            result.message += f" {result.pages - web.html_pages} pages fetched more than once"
    return result


def print_fleets(results: list[FleetResult], pin: bool) -> float | None:
    header = (f"{'workers':>7} {'status':<7} {'pages':>7} {'wall s':>7} {'pages/s':>8} "
              f"{'worker CPU s':>14} {'redis CPU s':>11} {'nginx CPU s':>11} {'http reqs':>9}")
    print("\n" + header + "\n" + "-" * len(header))
    for r in results:
        cpu = "+".join(f"{w.cpu_s:.0f}" for w in r.per_worker)
        print(f"{r.workers:>7} {r.status:<7} {r.pages:>7} {r.wall_s:>7.1f} "
              f"{(r.pages_per_s or 0):>8.1f} {cpu:>14} {(r.redis_cpu_s or 0):>11.1f} "
              f"{(r.nginx_cpu_s or 0):>11.1f} {r.http_requests if r.http_requests is not None else '-':>9}")
        if r.message.strip():
            print(f"  {r.workers} workers: {r.message.strip()}")
    by_n = {r.workers: r for r in results if r.status == "ok" and r.pages_per_s}
    ratio = by_n[2].pages_per_s / by_n[1].pages_per_s if 1 in by_n and 2 in by_n else None  # type: ignore[operator]
    cores = os.cpu_count()
    print(f"\n{cores} cores; " + ("worker i pinned to core i mod ncpu, nginx and redis-server unpinned"
                                 if pin else "no pinning: workers, nginx and redis-server all scheduled by the kernel"))
    if ratio is not None:
        verdict = "meets target" if ratio >= TARGET_RATIO else "below target"
        print(f"ratio 2 workers / 1 worker pages/s: {ratio:.2f}  target >= {TARGET_RATIO:g}  ({verdict})")
    return ratio


def print_redis(results: list[FleetResult]) -> int | None:
    """Redis's share per page, and how many workers one Redis core serves (printed, returned)."""
    header = (f"{'workers':>7} {'round trips/page':>16} {'commands/page':>13} {'redis CPU µs/page':>17} "
              f"{'in scripts':>10} {'pages/s per redis core':>22}")
    print("\nRedis per HTML page\n" + header + "\n" + "-" * len(header))
    for r in results:
        commands = sum(r.redis_commands.values())
        print(f"{r.workers:>7} {r.per_page(r.round_trips) or 0:>16.2f} {r.per_page(commands) or 0:>13.1f} "
              f"{r.redis_cpu_us_per_page or 0:>17.1f} {(r.per_page(r.redis_script_s) or 0) * 1e6:>10.1f} "
              f"{r.redis_pages_per_core_s or 0:>22,.0f}")
        top = ", ".join(f"{name} {(r.per_page(calls) or 0):.2f}" for name, calls in r.redis_calls.items())
        print(f"  round trips by frontier call: {top}; other {r.per_page(r.round_trips - sum(r.redis_calls.values())) or 0:.2f}")
        top = ", ".join(f"{name} {(r.per_page(calls) or 0):.2f}" for name, calls in list(r.redis_commands.items())[:12])
        print(f"  commands: {top}")
    ok = [r for r in results if r.status == "ok" and r.redis_pages_per_core_s and r.pages_per_s]
    if not ok:
        return None
    # the costliest run's Redis CPU per page, at the pages/s of a worker alone on its core
    capacity = min(r.redis_pages_per_core_s for r in ok)  # type: ignore[type-var]
    single = [r for r in ok if r.workers == 1]
    rate = single[0].pages_per_s if single else max(r.pages_per_s / r.workers for r in ok)  # type: ignore[operator]
    workers = int(capacity / rate)  # type: ignore[operator]
    print(f"one Redis core serves {capacity:,.0f} pages/s = {workers} workers at {rate:.0f} pages/s each "
          f"(the costliest run's Redis CPU per page; a worker's pages/s when it runs alone)")
    return workers


def seen_memory(counts: list[int], probes: int, capacity: int, tmp: Path) -> list[dict[str, Any]]:
    from scrapy.settings import Settings

    from darkcrawl.distributed import connection
    from darkcrawl.distributed.redis_frontier import RedisFrontier
    from darkcrawl.distributed.seen import fingerprint

    out = []
    for count in counts:
        with RedisServer(tmp / f"seen{count}", appendonly=False) as redis:
            client = connection.from_settings(Settings({"DARKCRAWL_REDIS_URL": redis.url}))
            frontier = RedisFrontier(client, "bench", "w", seen_capacity=capacity)
            frontier.register(heartbeat=False)
            bits = frontier.seen_bits
            before = int(client.info("memory")["used_memory"])
            started = time.perf_counter()
            batch = 1000
            for start in range(0, count, batch):
                urls = [f"http://host{i % 5000}.example/{i}/page.html" for i in range(start, min(count, start + batch))]
                frontier.seen_add((), [fingerprint(url, bits) for url in urls])
            seconds = time.perf_counter() - started
            after = int(client.info("memory")["used_memory"])
            stored = int(client.get(frontier.key("seen", "n")) or 0)
            false = 0
            script = frontier._scripts["seen_has"]
            for start in range(0, probes, 10_000):
                pipe = client.pipeline(transaction=False)
                for i in range(start, min(probes, start + 10_000)):
                    script(args=(frontier.prefix, *fingerprint(f"http://other{i % 977}.example/q?{i}", bits)),
                           client=pipe)
                false += sum(int(v) for v in pipe.execute())
            row = {
                "urls": count, "stored": stored, "capacity": capacity, "shards": 1 << bits,
                "bytes": after - before, "bytes_per_url": (after - before) / count,
                "insert_s": seconds, "probes": probes, "false_positives": false,
                "false_positive_rate": false / probes if probes else None,
                "expected_rate": count / 2 ** (32 + bits),
            }
            out.append(row)
            print(f"seen set: {count:>11,} URLs ({1 << bits} shards, planned {capacity:,}): "
                  f"{row['bytes_per_url']:.2f} B/URL, inserted in {seconds:.1f}s, "
                  f"{false} false positives in {probes:,} probes (expected rate {row['expected_rate']:.1e})",
                  flush=True)
            client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--pages", type=int, default=400)
    ap.add_argument("--workers", default="1,2", help="fleet sizes to run, in order (default 1,2)")
    ap.add_argument("--pin", action="store_true", help="pin worker i to core i mod ncpu (taskset)")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="DOWNLOAD_DELAY of the workers (default 0; darkcrawl's own default is 0.5)")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--base-port", type=int, default=18000)
    ap.add_argument("--web-dir", type=Path, default=DEFAULT_WEB_DIR)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, stats, data)")
    ap.add_argument("--json", type=Path, metavar="OUT")
    ap.add_argument("--seen-memory", metavar="N,N", help="measure the seen set at these sizes instead of crawling")
    ap.add_argument("--seen-capacity", type=int, default=10_000_000, help="the planned size (DARKCRAWL_SEEN_CAPACITY)")
    ap.add_argument("--probes", type=int, default=1_000_000)
    args = ap.parse_args(argv)

    payload: dict[str, Any] = {}
    with temp_dir("darkcrawl-bench-dist-", args.keep, kept="kept: ") as tmp:
        try:
            if args.seen_memory:
                counts = [int(float(c)) for c in args.seen_memory.split(",")]
                payload["seen_memory"] = seen_memory(counts, args.probes, args.seen_capacity, tmp)
            else:
                params = WebParams(hosts=args.hosts, pages=args.pages, base_port=args.base_port)
                web = ensure_web(args.web_dir, params)
                print(f"web: {args.web_dir}: {web.html_pages} HTML pages, {web.total_bytes / 2**20:.0f} MiB")
                results: list[FleetResult] = []
                with NginxServer(args.web_dir, params, tmp / "nginx", ensure_nginx()) as server:
                    smoke_check(params)
                    print(f"  nginx up; page cache warmed in {warm_page_cache(args.web_dir):.1f}s")
                    for n in (int(x) for x in args.workers.split(",")):
                        result = run_fleet(n, tmp, server, web, args.timeout, args.pin, args.delay)
                        results.append(result)
                        print(f"[{n}] {result.status}: {result.pages} pages in {result.wall_s:.1f}s", flush=True)
                ratio = print_fleets(results, args.pin)
                served = print_redis(results)
                payload.update(workers_per_redis=served, delay=args.delay, params=asdict(params), pinned=args.pin, cores=os.cpu_count(),
                               results=[asdict(r) for r in results], ratio=ratio, target_ratio=TARGET_RATIO)
        except (NginxError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.json:
        write_json(args.json, payload, say=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
