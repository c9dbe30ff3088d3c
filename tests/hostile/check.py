"""Holding a crawl's outputs to the case table: one list of problems per case.

A problem is a sentence naming what was missing or exceeded, so a failing test
reads ``trap_calendar: no misc/traps.jsonl record for its host; 412 requests > 60``.
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cases import SSRF_FRONT, Case
from .server import HostileWeb, Recorded
from .web import belongs, case_base, seed_url

#: Largest headers record a page may leave (the test crawls bound records to 64 KB;
#: the rest is redirect history and metadata).  Item 6: 6.8 MB from a 167-byte page.
MAX_RECORD_BYTES = 256 * 1024

__all__ = ["Outcome", "case_problems", "log_problems", "read_outcome", "requests_of"]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"_unparsable": line[:200]})
    return out


@dataclass
class Outcome:
    """What a crawl left on disk and in its log."""

    data: Path
    log: str
    failures: list[dict[str, Any]] = field(default_factory=list)
    traps: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # headers records of saved pages
    items: list[dict[str, Any]] = field(default_factory=list)
    backed_off: list[str] = field(default_factory=list)  # host keys in misc/hosts_backoff.json


def read_outcome(data: Path, log: str, items: list[dict[str, Any]] | None = None) -> Outcome:
    records = []
    for path in data.glob("*/*/*/*.json"):
        try:
            records.append(json.loads(path.read_text(errors="replace")))
        except ValueError:
            records.append({"_unparsable": str(path)})
    backoff_file = data / "misc" / "hosts_backoff.json"
    try:
        backed_off = [h["host"] for h in json.loads(backoff_file.read_text())["hosts"]]
    except (OSError, ValueError, KeyError, TypeError):
        backed_off = []
    return Outcome(data, log, _jsonl(data / "misc" / "failures.jsonl"), _jsonl(data / "misc" / "traps.jsonl"),
                   records, list(items or []), backed_off)


def requests_of(web: HostileWeb, case: Case) -> list[Recorded]:
    """Requests that reached the case: its own host's, or the proxy's for its path."""
    if case.mode == "virtual":
        prefix = f"/{case.name}"
        return [r for r in web["proxy"].requests
                if r.target.startswith(f"http://{SSRF_FRONT}{prefix}/") or r.target == f"http://{SSRF_FRONT}{prefix}"]
    return web[case.name].requests


def _record_url(record: dict[str, Any]) -> str:
    meta = record.get("[metadata]") or {}
    return str(meta.get("url") or record.get("URL") or "")


def case_problems(web: HostileWeb, case: Case, outcome: Outcome) -> list[str]:
    """Everything the crawl owes this case and did not give (empty: the case passes)."""
    problems: list[str] = []
    mine = lambda url: isinstance(url, str) and belongs(web, case, url)  # noqa: E731
    failures = [f for f in outcome.failures
                if mine(f.get("url")) or any(mine(u) for u in f.get("redirects") or ())]
    traps = [t for t in outcome.traps if mine(t.get("url"))
             or (case.mode != "virtual" and t.get("host") in (web[case.name].netloc, web[case.name].address))]
    records = [r for r in outcome.records if mine(_record_url(r))]
    cut = [r for r in records if r.get("cut")]

    empty = [f.get("url") for f in failures if not str(f.get("reason") or "").strip()]
    if empty:
        problems.append(f"failure records without a reason: {empty[:3]}")
    if case.stage == "render" and case.expect == "failure":
        failures = [f for f in failures if f.get("stage") == "render"]
    found = {"failure": bool(failures), "trap": bool(traps), "cut": bool(cut),
             "saved": any(_record_url(r) == seed_url(web, case) for r in records) or bool(records),
             "bounded": True}
    found["recorded"] = found["failure"] or found["trap"] or found["cut"]
    found["handled"] = found["recorded"] or found["saved"]
    if case.stage == "render" and case.expect == "saved" and case.mode != "virtual":
        # the render stage's own evidence: a screenshot in the host's folder
        host = web[case.name]
        if not list(outcome.data.glob(f"*/*/{host.address}_{host.port}/*.png")):
            found["saved"] = False
    if not found[case.expect]:
        what = {"failure": f"no misc/failures.jsonl record{' of stage render' if case.stage == 'render' else ''}"
                           " for its URLs",
                "trap": "no misc/traps.jsonl record for its host",
                "cut": "no headers record with a 'cut' list",
                "saved": "no headers record (page not saved)" + (" or no screenshot" if case.stage == "render" else ""),
                "recorded": "no failure, trap or 'cut' record",
                "handled": "neither saved nor on record"}[case.expect]
        seen = f"(failures {len(failures)}, traps {len(traps)}, saved {len(records)}, cut {len(cut)})"
        problems.append(f"{what} {seen}")

    requests = requests_of(web, case)
    if case.mode in ("refuse", "blackhole"):
        pass  # nothing can arrive; the record above is what counts
    elif len(requests) > case.max_requests:
        problems.append(f"{len(requests)} requests > {case.max_requests}")
    per_path = collections.Counter(_path_of(case, r) for r in requests)
    # Chromium asks for /favicon.ico at every navigation: counted in the total only
    over = {p: n for p, n in per_path.items() if n > case.max_per_path and p != "/favicon.ico"}
    if over:
        worst = sorted(over.items(), key=lambda kv: -kv[1])[:3]
        problems.append(f"paths asked for more than {case.max_per_path} times: {worst}")
    for path in case.must_fetch:
        if per_path[path] == 0:
            problems.append(f"never fetched {path}")
    if case.never_backed_off:
        host = web[case.name]
        for key in outcome.backed_off:
            if key.split("@", 1)[-1] in (host.address, host.netloc):
                problems.append(f"backed off as {key!r}: charged with another port's or a redirect target's failures")
    big = max((len(json.dumps(r)) for r in records), default=0)
    if big > MAX_RECORD_BYTES:
        problems.append(f"a {big:,}-byte headers record (> {MAX_RECORD_BYTES:,})")
    if case.max_cookie_header:
        longest = max((len(r.header("Cookie") or "") for r in requests), default=0)
        if longest > case.max_cookie_header:
            problems.append(f"sent a {longest:,}-byte Cookie header (> {case.max_cookie_header:,})")
    for path in case.never_fetch:
        if per_path[path]:
            problems.append(f"fetched the forbidden {path} ({per_path[path]}x)")
    return problems


def _path_of(case: Case, request: Recorded) -> str:
    path = request.path
    if case.mode == "virtual":
        path = path[len(case.name) + 1:] or "/"
    return path


#: Loggers whose ERROR lines are about the crawl (a page, a host): everything else
#: at ERROR (asyncio, twisted, stem, scrapy's "Spider error processing") is noise
#: or a bug.
_CRAWL_LOGGERS = re.compile(r"\[(darkcrawl[.\w]*|scrapy\.downloadermiddlewares\.retry)\]")
_ERROR_LINE = re.compile(r"^\S+ \S+ \[[^\]]+\] (ERROR|CRITICAL):", re.M)


def log_problems(log: str) -> list[str]:
    problems = []
    if "Traceback" in log:
        at = log.index("Traceback")
        problems.append("Traceback in the log:\n" + log[max(0, at - 300): at + 1500])
    for match in _ERROR_LINE.finditer(log):
        line = log[match.start(): log.find("\n", match.start())]
        if not _CRAWL_LOGGERS.search(line):
            problems.append(f"ERROR line not about the crawl: {line[:300]}")
    return problems


def canary_problems(web: HostileWeb) -> list[str]:
    """Canaries must never be reached, whatever the crawl."""
    out = []
    for name in ("canary", "canary_lo", "canary_redis", "canary_v6"):
        if name in web.hosts and web[name].connections:
            paths = [r.target for r in web[name].requests][:5]
            out.append(f"{name} ({web[name].netloc}) got {web[name].connections} connections: {paths}")
    return out


def proxy_problems(web: HostileWeb) -> list[str]:
    """The SSRF crawl: the proxy may only be asked for SSRF_FRONT."""
    bad = [r.target for r in web["proxy"].requests if not r.target.startswith(f"http://{SSRF_FRONT}/")]
    return [f"the proxy was asked for {t}" for t in bad]


__all__ += ["canary_problems", "proxy_problems", "case_base"]
