"""Adaptive revisits vs darc's fixed TIME_CACHE, on a simulated week (``python -m bench.revisits``).

No network: a site of ``--pages`` pages on ``--hosts`` hosts whose pages change as
Poisson processes (mean times between changes from minutes to never), some hosts
with honest sitemap hints, some with lying ones, some down for a while.  The
adaptive crawl is darkcrawl's own schedule (:class:`darkcrawl.frontier.revisits.RevisitSchedule`
and its policy) driven by a simulated clock the way the spider drives it: due URLs
popped every ``--poll`` seconds, a host's robots.txt and sitemap read again when one
of its URLs falls due and its last read is ``TIME_CACHE`` old, hints applied, each
fetch reported as a visit (its content version) or a failure (host down).

Freshness (Cho & Garcia-Molina): the fraction of page-time during which the crawl's
copy equals the live page.  Age: how long, on average, the copy has been out of
date (0 while fresh).  Fetches: every request, robots.txt and sitemaps included,
failed ones too.  "Saved for the same freshness": the fixed TIME_CACHE whose
freshness equals the adaptive crawl's (interpolated on a grid of fixed intervals, in
log time) costs F fetches; the adaptive crawl costs A; saved = 1 - A / F.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from darkcrawl.frontier.revisit_policy import CHANGEFREQ, RevisitPolicy, SitemapHint
from darkcrawl.frontier.revisits import RevisitSchedule

MINUTE, HOUR, DAY, WEEK = 60.0, 3600.0, 86400.0, 604800.0
#: mean time between changes of a page, and how many pages change so (dark web sites are mostly static)
CHANGE_MIX = [(10 * MINUTE, 0.05), (HOUR, 0.10), (6 * HOUR, 0.10), (DAY, 0.15), (3 * DAY, 0.10),
              (WEEK, 0.10), (30 * DAY, 0.10), (math.inf, 0.30)]
#: what a host's sitemap says: nothing, the truth, "changed now" at every read, or a lastmod that never moves
HOST_KINDS = [("plain", 0.4), ("honest", 0.3), ("lying-now", 0.15), ("lying-stale", 0.15)]
#: requests of one robots.txt + sitemap read
BOOTSTRAP_FETCHES = 2


@dataclass
class Host:
    name: str
    kind: str
    down: tuple[float, float] | None  # [from, to) it answers nothing
    pages: list[Page] = field(default_factory=list)

    def is_down(self, when: float) -> bool:
        return self.down is not None and self.down[0] <= when < self.down[1]


@dataclass
class Page:
    url: str
    host: Host
    mean: float  # mean seconds between changes
    changes: list[float]  # the times it changed

    def version(self, when: float) -> int:
        return bisect.bisect_right(self.changes, when)

    def last_change(self, when: float) -> float:
        count = self.version(when)
        return self.changes[count - 1] if count else -30 * DAY


def _weighted(rng: random.Random, table: list[tuple[Any, float]]) -> Any:
    return rng.choices([value for value, _ in table], [weight for _, weight in table])[0]


def make_site(pages: int, hosts: int, days: float, seed: int) -> list[Host]:
    rng = random.Random(seed)
    end = days * DAY
    site = []
    for number in range(hosts):
        down = None
        if rng.random() < 0.1:  # a tenth of the hosts go down once, for 6 h to 3 d
            start = rng.uniform(0, end * 0.7)
            down = (start, start + rng.uniform(6 * HOUR, 3 * DAY))
        site.append(Host(f"h{number}.onion", _weighted(rng, HOST_KINDS), down))
    for number in range(pages):
        host = site[number % hosts]
        mean = _weighted(rng, CHANGE_MIX)
        changes, when = [], 0.0
        while math.isfinite(mean):
            when += rng.expovariate(1.0 / mean)
            if when >= end:
                break
            changes.append(when)
        host.pages.append(Page(f"http://{host.name}/p{number}", host, mean, changes))
    return site


# -- what a sitemap says ----------------------------------------------------------------------


def _honest_changefreq(mean: float) -> float:
    return min((v for v in CHANGEFREQ.values() if v > 0), key=lambda v: abs(math.log(v / mean)) if math.isfinite(v)
               and math.isfinite(mean) else (0 if v == mean else math.inf))


def sitemap_hint(page: Page, read: float) -> SitemapHint | None:
    kind = page.host.kind
    if kind == "plain":
        return None
    if kind == "honest":
        changed = math.floor(page.last_change(read))
        return SitemapHint(read, (changed, changed + 1.0), _honest_changefreq(page.mean))
    if kind == "lying-now":
        return SitemapHint(read, (math.floor(read), math.floor(read) + 1.0), CHANGEFREQ["always"])
    return SitemapHint(read, (1577836800.0 - 1e9, 1577836801.0 - 1e9), CHANGEFREQ["never"])  # years before the crawl


# -- staleness --------------------------------------------------------------------------------


def staleness(changes: list[float], fetches: list[float], end: float) -> tuple[float, float]:
    """(seconds out of date, integral of age) of a copy refreshed at *fetches* (sorted)."""
    stale = age = 0.0
    last = -1
    for change in changes:
        index = bisect.bisect_left(fetches, change)  # the first fetch at or after the change sees it
        if index == last:
            continue  # not the first change since the fetch before: already out of date
        last = index
        until = fetches[index] if index < len(fetches) else end
        stale += until - change
        age += (until - change) ** 2 / 2
    return stale, age


@dataclass
class Result:
    name: str
    fetches: int
    page_fetches: int
    failed: int
    freshness: float
    age: float  # mean seconds out of date
    by_kind: dict[str, float] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

    def row(self) -> str:
        kinds = " ".join(f"{k}={v:.3f}" for k, v in sorted(self.by_kind.items()))
        return (f"{self.name:<28} fetches {self.fetches:>8,} (pages {self.page_fetches:>8,}, failed {self.failed:>6,})"
                f"  freshness {self.freshness:.4f}  mean age {self.age / HOUR:6.2f} h  [{kinds}]")


def _result(name: str, site: list[Host], fetched: dict[str, list[float]], counts: Counter[str], end: float,
            stats: dict[str, int] | None = None) -> Result:
    total = stale_sum = age_sum = 0.0
    per_kind: dict[str, list[float]] = {}
    for host in site:
        for page in host.pages:
            stale, age = staleness(page.changes, fetched.get(page.url, []), end)
            stale_sum, age_sum, total = stale_sum + stale, age_sum + age, total + end
            per_kind.setdefault(host.kind, []).append(1 - stale / end)
    return Result(name, counts["fetches"], counts["pages"], counts["failed"], 1 - stale_sum / total, age_sum / total,
                  {k: sum(v) / len(v) for k, v in per_kind.items()}, stats or {})


# -- the crawls --------------------------------------------------------------------------------


class _Stats(Counter[str]):
    def inc_value(self, key: str, n: int = 1) -> None:
        self[key.removeprefix("darkcrawl/revisits/")] += n


def _read_sitemap(schedule: RevisitSchedule, host: Host, now: float, counts: Counter[str]) -> None:
    counts["fetches"] += BOOTSTRAP_FETCHES
    if host.is_down(now):
        return
    for page in host.pages:
        hint = sitemap_hint(page, now)
        if hint is not None:
            schedule.hint(page.url, hint, host.name)


def _fetch(schedule: RevisitSchedule, page: Page, now: float, counts: Counter[str],
           fetched: dict[str, list[float]]) -> None:
    counts["fetches"] += 1
    counts["pages"] += 1
    if page.host.is_down(now):
        counts["failed"] += 1
        schedule.failed(page.url, 1, now, "ConnectionRefused", page.host.name)
        return
    schedule.visited(page.url, 1, now, str(page.version(now)), page.host.name)
    fetched.setdefault(page.url, []).append(now)


def simulate(site: list[Host], policy: RevisitPolicy, end: float, poll: float, name: str) -> Result:
    """The crawl as the spider runs it, on a simulated clock."""
    stats = _Stats()
    schedule = RevisitSchedule(policy, host_of=lambda url: url.split("/")[2], stats=stats)
    counts: Counter[str] = Counter()
    fetched: dict[str, list[float]] = {}
    bootstrapped: dict[str, float] = {}
    pages = {page.url: page for host in site for page in host.pages}
    for host in site:  # the first round: each host's sitemap, then its pages
        _read_sitemap(schedule, host, 0.0, counts)
        bootstrapped[host.name] = 0.0
        for page in host.pages:
            _fetch(schedule, page, 0.0, counts, fetched)
    now = 0.0
    while now + poll < end:
        now += poll
        for url, _depth in schedule.pop_due(now, limit=10**9):
            page = pages[url]
            host = page.host
            _fetch(schedule, page, now, counts, fetched)
            if now - bootstrapped[host.name] >= schedule.bootstrap_age(host.name):  # a revisit re-reads them
                bootstrapped[host.name] = now
                _read_sitemap(schedule, host, now, counts)
    return _result(name, site, fetched, counts, end, dict(stats))


def fixed(site: list[Host], interval: float, end: float, poll: float) -> Result:
    """darc's TIME_CACHE: every URL every *interval* (at the poll after it falls due), its
    host's robots.txt and sitemap with it."""
    period = math.ceil(interval / poll) * poll
    times = [k * period for k in range(int(math.ceil(end / period)))]
    counts: Counter[str] = Counter()
    fetched: dict[str, list[float]] = {}
    for host in site:
        up = [t for t in times if not host.is_down(t)]
        counts["fetches"] += len(times) * (BOOTSTRAP_FETCHES + len(host.pages))
        counts["pages"] += len(times) * len(host.pages)
        counts["failed"] += (len(times) - len(up)) * len(host.pages)
        for page in host.pages:
            fetched[page.url] = up
    return _result(f"fixed TIME_CACHE={_span(interval)}", site, fetched, counts, end)


def _span(seconds: float) -> str:
    for unit, size in (("d", DAY), ("h", HOUR), ("min", MINUTE)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def same_freshness(adaptive: Result, grid: list[Result], intervals: list[float]) -> tuple[float, float] | None:
    """The fixed interval whose freshness equals *adaptive*'s, and its fetches (log-interpolated)."""
    points = list(zip(intervals, grid))
    for (t1, r1), (t2, r2) in zip(points, points[1:]):
        if r1.freshness >= adaptive.freshness >= r2.freshness and r1.freshness != r2.freshness:
            share = (r1.freshness - adaptive.freshness) / (r1.freshness - r2.freshness)
            interval = math.exp(math.log(t1) + share * (math.log(t2) - math.log(t1)))
            fetches = math.exp(math.log(r1.fetches) + share * (math.log(r2.fetches) - math.log(r1.fetches)))
            return interval, fetches
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--time-cache", type=float, default=HOUR, help="TIME_CACHE, the adaptive floor (s)")
    parser.add_argument("--max", type=float, default=WEEK, help="DARKCRAWL_REVISIT_MAX (s)")
    parser.add_argument("--poll", type=float, default=60.0, help="DARC_WAIT: how often due URLs are looked for (s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the figures there")
    args = parser.parse_args(argv)
    started = time.monotonic()
    end = args.days * DAY
    site = make_site(args.pages, args.hosts, args.days, args.seed)
    policy = RevisitPolicy(args.time_cache, max(args.time_cache, args.max), probe=HOUR, down_after=3)
    adaptive = simulate(site, policy, end, args.poll, f"adaptive (TIME_CACHE={_span(args.time_cache)})")
    darc = simulate(site, RevisitPolicy(args.time_cache, args.time_cache, adaptive=False), end, args.poll,
                    f"fixed TIME_CACHE={_span(args.time_cache)} (sim)")
    intervals = [MINUTE * 10 * 1.5 ** k for k in range(30) if MINUTE * 10 * 1.5 ** k <= end]
    grid = [fixed(site, t, end, args.poll) for t in intervals]
    match = same_freshness(adaptive, grid, intervals)
    print(f"site: {args.pages} pages on {args.hosts} hosts, {args.days:g} days; "
          f"hosts {dict(Counter(h.kind for h in site))}, {sum(1 for h in site if h.down)} go down once")
    print(f"changes in the week: {sum(len(p.changes) for h in site for p in h.pages):,}")
    for result in [adaptive, darc, *grid]:
        print(result.row())
    print(f"adaptive schedule: {json.dumps(adaptive.stats, sort_keys=True)}")
    figures: dict[str, Any] = {"adaptive": vars(adaptive), "fixed_at_time_cache": vars(darc),
                               "grid": {str(t): vars(r) for t, r in zip(intervals, grid)}}
    if match is not None:
        interval, fetches = match
        saved = 1 - adaptive.fetches / fetches
        print(f"same freshness ({adaptive.freshness:.4f}) with a fixed TIME_CACHE of {_span(interval)}: "
              f"{fetches:,.0f} fetches; adaptive {adaptive.fetches:,}: {saved:.1%} saved "
              f"({fetches / adaptive.fetches:.1f}x fewer)")
        figures["same_freshness"] = {"interval": interval, "fetches": fetches, "saved": saved}
    print(f"vs fixed TIME_CACHE={_span(args.time_cache)}: {1 - adaptive.fetches / darc.fetches:.1%} fewer fetches, "
          f"freshness {adaptive.freshness:.4f} vs {darc.freshness:.4f}")
    print(f"({time.monotonic() - started:.1f} s)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
