"""Render-stage benchmark: darkcrawl's render stage vs. a naive scrapy-playwright set-up.

``python -m bench.render`` does, in one run (see ``bench/README.md``):

1. generates ``--pages`` (200) local pages that look like real ones (~15 KB of
   HTML, a stylesheet, a web font, a deferred script, 4 PNG images, a CSS
   animation, links inserted by JavaScript; 1 page in 20 is a very long one)
   and serves them from memory with a stdlib ``ThreadingHTTPServer``;
2. renders all of them with the **naive** set-up (a minimal Scrapy spider on
   scrapy-playwright's download handler, full-page PNG + ``page.content()`` in
   the callback, scrapy-playwright's default concurrency);
3. crawls them with **darkcrawl** (``scrapy crawl darkweb`` over the 200 URLs:
   its plain stage, then its render stage, rendered DOM and PNG saved under
   ``PATH_DATA``), and with the naive set-up at darkcrawl's viewport;
   ``--only``/``--all`` add the other variants (darkcrawl with other settings,
   and the scrapy-playwright experiments that led to darkcrawl's render stage),
   each in its own subprocess;
4. checks what every variant produced (the rendered DOM of every page, and
   the screenshots decoded in Chromium: CSS, images, JS-made links, footer)
   and prints one table with the speed-up of each variant over the naive one.

Internal entry points (used by the runner): ``--worker CONFIG.json`` runs one
crawl, ``--verify DIR`` checks the output of one crawl.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.render.site import LOOPBACK, Site, _SiteServer, build_site
from bench.render.tree import _chromium_pids, _set_subreaper, reap_tree, run_tree, wait_idle
from bench.render.variants import (
    CHROMIUM,
    DEFAULT_VARIANTS,
    PROJECT_ROOT,
    VARIANTS,
    VARIANTS_BY_NAME,
    Variant,
    resolve_executable,
)
from bench.render.verify import _verify
from bench.render.floor import run_floor
from bench.render.worker import _worker, collect_darkcrawl, darkcrawl_command
from bench.scaffold import sigterm_as_interrupt

# --------------------------------------------------------------------------
# 6. The runner
# --------------------------------------------------------------------------


def run_variant(v: Variant, *, site: Site, server: _SiteServer, base_url: str, work: Path, round_no: int,
                timeout: float, sample: str, keep: bool, per_thread: bool = False,
                wait_quiet: float = 0) -> dict[str, Any]:
    out = work / f"{v.name}.r{round_no}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config = {
        "variant": asdict(v),
        "out_dir": str(out),
        "urls": [base_url + p.url_path for p in site.pages],
    }
    cfg_file = out / "config.json"
    cfg_file.write_text(json.dumps(config))
    env_extra = dict(v.env)
    if v.darkcrawl:
        cmd = darkcrawl_command(v, out, config["urls"])
        env_extra["DARKCRAWL_ALLOW_LOOPBACK"] = "1"  # the bench site is on 127.0.0.1
    elif v.floor:
        cmd = [sys.executable, "-m", "bench.render", "--floor", str(cfg_file)]
    else:
        cmd = [sys.executable, "-m", "bench.render", "--worker", str(cfg_file)]
    busy_before = round(wait_idle(wait_quiet), 2) if wait_quiet else None
    server.take_counts()
    m = run_tree(cmd, log=out / "crawl.log", timeout=timeout, per_thread=per_thread, env_extra=env_extra)
    requests = server.take_counts()
    if v.darkcrawl:
        collect_darkcrawl(out, config["urls"])
    result_file = out / "result.json"
    res = json.loads(result_file.read_text()) if result_file.exists() else {}
    ok = int(res.get("ok", 0))
    if res.get("t_last_done"):
        crawl_s = res["t_last_done"] - res["t_start"]
    else:  # darkcrawl: Scrapy's elapsed time, start-up excluded
        crawl_s = res.get("stats", {}).get("elapsed_time_seconds")
    verify, verify_leftovers = _check(v, out, work, sample)
    stray = _chromium_pids()
    shot_fail = verify.get("shot_fail", [])
    dom_fail = verify.get("dom_fail", [])
    content_ok = (ok == len(site.pages) and not dom_fail and not shot_fail and "error" not in verify)
    problems: dict[str, int] = {}
    for f in dom_fail + shot_fail:
        for p in f["problems"]:
            problems[p] = problems.get(p, 0) + 1
    heights = [s["height"] for s in verify.get("shots", {}).values()]
    row = {
        "variant": v.name,
        "desc": v.desc,
        "fidelity": fidelity(v),
        "round": round_no,
        "returncode": m.returncode,
        "timed_out": m.timed_out,
        "pages_ok": ok,
        "errors": len(res.get("errors", [])),
        "error_samples": res.get("errors", [])[:5],
        "wall_s": round(m.wall_s, 2),
        "pages_per_s": round(ok / m.wall_s, 3) if m.wall_s else 0,
        "crawl_pages_per_s": round(ok / crawl_s, 3) if crawl_s else None,
        "cpu_s": round(m.cpu_s, 2),
        "cpu_ms_per_page": round(1000 * m.cpu_s / ok, 1) if ok else None,
        "cpu_by_kind": m.cpu_by_kind,
        "cpu_by_thread": m.cpu_by_thread,
        "phase_ms": res.get("phase_ms"),
        "server_cpu_s": round(m.server_cpu_s, 2),
        # CPU used meanwhile by processes that are not ours (other jobs on the machine)
        "foreign_cpu_s": round(max(0.0, m.machine_busy_s - m.cpu_s - m.server_cpu_s), 1),
        "busy_before": busy_before,
        "peak_rss_mb": round(m.peak_rss_mb, 1),
        "peak_pss_mb": round(m.peak_pss_mb, 1),
        "peak_procs": m.peak_procs,
        "rss_quarters_mb": m.rss_quarters_mb,
        "avg_shot_kb": round(res.get("shot_bytes", 0) / ok / 1024, 1) if ok else None,
        "avg_dom_kb": round(res.get("html_bytes", 0) / ok / 1024, 1) if ok else None,
        "http_requests": requests,
        "content_ok": content_ok,
        "saved": not v.floor,
        "content_problems": problems,
        "dom_fail": dom_fail[:10],
        "shot_fail": shot_fail[:20],
        "shots_checked": verify.get("checked_shots"),
        "shot_height_range": [min(heights), max(heights)] if heights else None,
        "leftover_processes": m.leftovers,
        "verify_leftovers": verify_leftovers,
        "stray_chromium_after": stray,
        "playwright_stats": {k: val for k, val in res.get("stats", {}).items()
                             if k.startswith(("playwright/", "downloader/response_count", "elapsed"))},
    }
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return row


def _check(v: Variant, out: Path, work: Path, sample: str) -> tuple[dict[str, Any], list[str]]:
    """The verifier's report on what *v* saved (the floor saves nothing: its PNGs'
    sizes were checked as they came)."""
    if v.floor:
        return {"floor": True}, []
    vr = subprocess.run([sys.executable, "-m", "bench.render", "--verify", str(out), "--pages-json",
                         str(work / "pages.json"), "--sample", sample], cwd=str(PROJECT_ROOT),
                        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, capture_output=True, text=True,
                        check=False)
    leftovers = reap_tree()
    if (out / "verify.json").exists():
        return json.loads((out / "verify.json").read_text()), leftovers
    return {"error": vr.stderr[-2000:]}, leftovers


def fidelity(v: Variant) -> str:
    if v.darkcrawl:
        return f"PNG, cut at {int(v.settings['DARKCRAWL_SCREENSHOT_MAX_HEIGHT']):,} px"
    parts = []
    if v.fmt != "png":
        parts.append(f"{v.fmt.upper()} q{v.quality or 80}")
    if v.scale != 1:
        parts.append(f"scale {v.scale:g}")
    if v.cap:
        parts.append(f"cut at {v.cap:,} px")
    return ", ".join(parts) or "full PNG"


#: the set-ups every other one is compared with, in the same round
REFERENCES = ("naive", "floor")


def _per_round(rows: list[dict[str, Any]], name: str) -> dict[int, float]:
    return {r["round"]: r["pages_per_s"] for r in rows if r["variant"] == name and r["pages_per_s"]}


def _ratio(r: dict[str, Any], ref: dict[int, float]) -> str:
    return f"{r['pages_per_s'] / ref[r['round']]:.2f}×" if ref.get(r["round"]) else "—"


def _shown(r: dict[str, Any], total: int) -> str:
    lost = [f"{k} ×{n}" for k, n in r["content_problems"].items()]
    if r["pages_ok"] < total:
        lost.insert(0, f"only {r['pages_ok']} pages")
    if r.get("saved") is False:
        return "not saved (PNG sizes checked)" if r["content_ok"] else "NO: " + ", ".join(lost)
    return "yes" if r["content_ok"] else "NO: " + ", ".join(lost)


def print_table(rows: list[dict[str, Any]], total: int) -> None:
    print("\n| variant | pages | seconds | pages/s | × naive | × floor | CPU s | CPU ms/page | peak RSS MB "
          "| peak PSS MB | PNG KB/page | image | every page shown? | other jobs' CPU s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    naive, floor = _per_round(rows, "naive"), _per_round(rows, "floor")
    for r in rows:
        print(f"| {r['variant']} (r{r['round']}) | {r['pages_ok']} | {r['wall_s']:.1f} | {r['pages_per_s']:.2f} "
              f"| {_ratio(r, naive)} | **{_ratio(r, floor)}** | {r['cpu_s']:.0f} | {r['cpu_ms_per_page'] or 0:.0f} "
              f"| {r['peak_rss_mb']:.0f} | {r['peak_pss_mb']:.0f} | {r['avg_shot_kb'] or 0:.0f} | {r['fidelity']} "
              f"| {_shown(r, total)} | {r['foreign_cpu_s']:.0f} |")
    print("\nseconds: the crawl process from start to exit (start-up, browser launch and, for darkcrawl, its plain"
          "\nstage included); pages/s = rendered pages ÷ seconds. CPU: the process and all its children (Python,"
          "\nPlaywright's driver, every Chromium process). RSS: the largest sum over the tree, sampled every 0.25 s"
          "\n(shared pages counted in each process; PSS splits them).")
    print("\nCPU seconds by process kind:")
    for r in rows:
        kinds = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_by_kind"].items() if v >= 0.5)
        print(f"  {r['variant']:24} r{r['round']}: {kinds}")
    print("\npeak RSS MB in each quarter of the run (memory that grew with the pages would climb):")
    for r in rows:
        print(f"  {r['variant']:24} r{r['round']}: {' / '.join(str(q) for q in r['rss_quarters_mb'])}")


def _median_ratio(rs: list[dict[str, Any]], ref: dict[int, float]) -> tuple[float | None, list[float] | None]:
    ups = [r["pages_per_s"] / ref[r["round"]] for r in rs if ref.get(r["round"])]
    if not ups:
        return None, None
    return round(statistics.median(ups), 2), [round(min(ups), 2), round(max(ups), 2)]


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant over rounds: medians, and its pages/s over naive's and the floor's of the same round."""
    naive, floor = _per_round(rows, "naive"), _per_round(rows, "floor")
    out = []
    for name in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == name]
        problems: dict[str, int] = {}
        for r in rs:
            if r["pages_ok"] < max(x["pages_ok"] for x in rows):
                problems["pages missing"] = problems.get("pages missing", 0) + 1
            for k, n in r["content_problems"].items():
                problems[k] = problems.get(k, 0) + n
        up, up_range = _median_ratio(rs, naive)
        of_floor, of_floor_range = _median_ratio(rs, floor)
        out.append({
            "variant": name,
            "rounds": len(rs),
            "pages_per_s": round(statistics.median(r["pages_per_s"] for r in rs), 2),
            "pages_per_s_range": [min(r["pages_per_s"] for r in rs), max(r["pages_per_s"] for r in rs)],
            "speedup_vs_naive": up,
            "speedup_range": up_range,
            "of_floor": of_floor,
            "of_floor_range": of_floor_range,
            "cpu_ms_per_page": statistics.median(r["cpu_ms_per_page"] or 0 for r in rs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
            "peak_pss_mb": statistics.median(r["peak_pss_mb"] for r in rs),
            "avg_shot_kb": statistics.median(r["avg_shot_kb"] or 0 for r in rs),
            "fidelity": rs[0]["fidelity"],
            "saved": rs[0].get("saved", True),
            "content_ok_rounds": sum(r["content_ok"] for r in rs),
            "content_problems": problems,
        })
    return out


def _with_range(value: float | None, rng: list[float] | None, rounds: int) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" + (f" ({rng[0]:.2f}–{rng[1]:.2f})" if rounds > 1 and rng else "")


def print_summary(summary: list[dict[str, Any]]) -> None:
    print("\nsummary (medians over rounds; × naive, × floor = pages/s ÷ theirs in the same round):\n")
    print("| variant | pages/s | × naive | × floor | CPU ms/pg | peak RSS MB | peak PSS MB | avg shot KB | image "
          "| content OK (rounds) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in summary:
        pps = _with_range(s["pages_per_s"], s["pages_per_s_range"], s["rounds"])
        ups = _with_range(s["speedup_vs_naive"], s["speedup_range"], s["rounds"])
        fl = _with_range(s["of_floor"], s["of_floor_range"], s["rounds"])
        ok = f"{s['content_ok_rounds']}/{s['rounds']}" + ("" if s["saved"] else " (not saved)")
        if s["content_problems"]:
            ok += ": " + ", ".join(f"{k} ×{n}" for k, n in s["content_problems"].items())
        print(f"| {s['variant']} | {pps} | {ups} | **{fl}** | {s['cpu_ms_per_page']:.0f} | {s['peak_rss_mb']:.0f} "
              f"| {s['peak_pss_mb']:.0f} | {s['avg_shot_kb']:.0f} | {s['fidelity']} | {ok} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--only", action="append", help="variant to run (repeatable); naive and floor always run")
    parser.add_argument("--all", action="store_true", help=f"run every variant (default: {', '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--skip", action="append", default=[], help="variant to skip (repeatable; naive too)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", help="write every measurement here")
    parser.add_argument("--keep", help="keep screenshots, DOMs and logs under this directory")
    parser.add_argument("--timeout", type=float, default=600, help="per crawl (s)")
    parser.add_argument("--sample", default="all", help='screenshots checked per variant (all tall ones + '
                        'evenly spread others), or "all"')
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--wait-quiet", type=float, default=120, metavar="S",
                        help="before each crawl, wait up to S s for other jobs to leave the CPU idle (0: don't)")
    parser.add_argument("--threads", action="store_true", help="also record CPU per thread (costs a little)")
    parser.add_argument("--serve", action="store_true", help="only serve the site (debugging)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--verify", help=argparse.SUPPRESS)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    parser.add_argument("--pages-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        _worker(args.worker)
        return 0
    if args.floor:
        run_floor(args.floor)
        return 0
    if args.verify:
        _verify(args.verify, args.pages_json, args.sample)
        return 0
    if args.list:
        for v in VARIANTS:
            print(f"{v.name:18} {v.desc}")
        return 0

    if not os.access(CHROMIUM, os.X_OK):
        print(f"{CHROMIUM} missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    stray = _chromium_pids()
    if stray:
        print(f"warning: chromium already running before the benchmark: {stray}", file=sys.stderr)
    variants = VARIANTS if args.all else [v for v in VARIANTS if v.name in DEFAULT_VARIANTS]
    if args.only:
        unknown = [n for n in args.only if n not in VARIANTS_BY_NAME]
        if unknown:
            parser.error(f"unknown variant(s): {unknown}; see --list")
        variants = [v for v in VARIANTS if v.name in REFERENCES or v.name in args.only]
    variants = [resolve_executable(v) for v in variants if v.name not in args.skip]
    missing = sorted({v.executable for v in variants if not os.access(v.executable, os.X_OK)})
    if missing:
        print(f"skipping variants that need {missing} (apt-get install -y chromium-headless-shell)", file=sys.stderr)
        variants = [v for v in variants if os.access(v.executable, os.X_OK)]
    subreaper = _set_subreaper()
    sigterm_as_interrupt()  # the same clean-up as Ctrl-C

    t0 = time.perf_counter()
    site = build_site(args.pages)
    html_sizes = [p.html_bytes for p in site.pages]
    print(f"site: {len(site.pages)} pages ({sum(p.tall for p in site.pages)} very long), HTML "
          f"{min(html_sizes) / 1024:.1f}-{max(html_sizes) / 1024:.1f} KB (median "
          f"{statistics.median(html_sizes) / 1024:.1f}), {len(site.files) - len(site.pages)} static files, "
          f"font {'yes' if site.has_font else 'no'}; built in {time.perf_counter() - t0:.1f}s", flush=True)
    server = _SiteServer(site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_url = f"http://{LOOPBACK}:{server.server_address[1]}"
    print(f"serving on {base_url}/page/0.html", flush=True)
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            thread.join()
        return 0

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="darkcrawl-render-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "pages.json").write_text(json.dumps([asdict(p) for p in site.pages]))
    rows: list[dict[str, Any]] = []
    refs: dict[tuple[str, int], float] = {}
    try:
        for rnd in range(1, args.rounds + 1):
            for v in variants:
                t = time.perf_counter()
                r = run_variant(v, site=site, server=server, base_url=base_url, work=work, round_no=rnd,
                                timeout=args.timeout, sample=args.sample, keep=bool(args.keep),
                                per_thread=args.threads, wait_quiet=args.wait_quiet)
                rows.append(r)
                if v.name in REFERENCES:
                    refs[v.name, rnd] = r["pages_per_s"]
                up = "".join(f" {r['pages_per_s'] / refs[ref, rnd]:.2f}×{ref}" for ref in REFERENCES
                             if refs.get((ref, rnd)))
                print(f"[r{rnd}] {v.name:16} {r['pages_ok']:3} pages {r['pages_per_s']:6.2f} p/s{up} "
                      f"cpu {r['cpu_s']:6.1f}s rss {r['peak_rss_mb']:6.0f}MB pss {r['peak_pss_mb']:5.0f}MB "
                      f"shot {r['avg_shot_kb'] or 0:5.0f}KB other-CPU {r['foreign_cpu_s']:.0f}s content {'ok' if r['content_ok'] else 'LOST'} "
                      f"{r['content_problems'] or ''} {'LEFTOVER ' + str(r['leftover_processes']) if r['leftover_processes'] else ''}"
                      f"({time.perf_counter() - t:.0f}s)", flush=True)
                if r["errors"]:
                    print(f"     errors: {r['error_samples']}", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        server.shutdown()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rows, len(site.pages))
    summary = summarize(rows) if rows else []
    if args.rounds > 1 and summary:
        print_summary(summary)
    stray = _chromium_pids()
    print(f"\nchromium processes left: {stray or 'none'} (subreaper {'on' if subreaper else 'off'})")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "pages": len(site.pages),
            "tall_pages": sum(p.tall for p in site.pages),
            "html_kb": [round(min(html_sizes) / 1024, 1), round(max(html_sizes) / 1024, 1)],
            "cpus": os.cpu_count(),
            "chromium": subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True,
                                       check=False).stdout.strip(),
            "rows": rows,
            "summary": summary,
        }, indent=1))
    return 0 if all(r["returncode"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
