"""URL-seen sets at scale: CompactSeenSet vs. exact sets (``python -m bench.seen``).

Each case runs in a child process of its own (``--worker``), so that its RSS delta
and peak RSS are its own and the memory of one case is gone before the next starts.
See bench/README.md ("URL-seen sets") for what is measured and the figures.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

M = 1_000_000
BATCH = 20_000  # URLs generated per untimed step: small, so their memory hardly shows in RSS
IMPLS = ("compact", "memory", "rfp-like", "rfp-scrapy")
DEFAULT_IMPLS = ("compact", "memory", "rfp-like")
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


# -- synthetic URLs ---------------------------------------------------------------------


class UrlSpace:
    """Deterministic, realistic, distinct URLs: ``url(i, space)`` for i in any range.

    70% onion (``http://<56 base32>.onion/<section>/<i>.html``, 50,000 services), 30%
    clear web (20,000 hosts, query strings).  The host is scattered over i, so
    consecutive URLs do not share a host.  URLs of the ``"miss"`` space are never
    inserted: same hosts and shapes, another number range.
    """

    SECTIONS = ("path", "forum/viewtopic", "market/item", "wiki/Page", "files")

    def __init__(self, onions: int = 50_000, clear: int = 20_000) -> None:
        rng = random.Random(20240611)
        self.onions = ["".join(rng.choice(_B32) for _ in range(56)) for _ in range(onions)]
        words = ("news", "shop", "blog", "forum", "mail", "docs", "wiki", "cdn", "static", "api")
        tlds = ("com", "org", "net", "de", "ru", "io")
        self.clear = [
            f"{rng.choice(('www.', '', 'm.'))}{rng.choice(words)}{i}.{rng.choice(tlds)}" for i in range(clear)
        ]

    def url(self, i: int, space: str = "hit") -> str:
        n = i if space == "hit" else i + 10**12
        mixed = n * 2654435761 & 0xFFFFFFFF  # Knuth's multiplicative scatter
        if mixed % 10 < 7:
            return f"http://{self.onions[mixed % len(self.onions)]}.onion/{self.SECTIONS[mixed % 5]}/{n}.html"
        host = self.clear[mixed % len(self.clear)]
        return f"https://{host}/{self.SECTIONS[mixed % 5]}/article-{n}?page={n % 17}&lang=en"

    def batch(self, start: int, stop: int, space: str = "hit") -> list[str]:
        url = self.url
        return [url(i, space) for i in range(start, stop)]


# -- the sets under test ----------------------------------------------------------------


class Subject(Protocol):
    """One set under test; ``add`` and ``contains`` are the calls that are timed."""

    @property
    def add(self) -> Callable[[str], bool]: ...
    @property
    def contains(self) -> Callable[[str], bool]: ...

    def own_bytes(self) -> int: ...
    def extra(self) -> dict[str, Any]: ...
    def save(self) -> tuple[float, int]: ...
    def load(self) -> float: ...


def _set_bytes(values: set[Any]) -> int:
    return sys.getsizeof(values) + sum(map(sys.getsizeof, values))


class CompactSubject:
    def __init__(self, plan: int, workdir: Path, fp_rate: float) -> None:
        from darkcrawl.seen.compact import CompactSeenSet

        self.path = workdir / "seen.filter"
        self.fp_rate = fp_rate
        self.plan = plan
        self.seen = CompactSeenSet(self.path, capacity=plan, fp_rate=fp_rate, save_interval=math.inf)
        self.add = self.seen.add
        self.contains = self.seen.__contains__

    def own_bytes(self) -> int:
        return self.seen.nbytes

    def extra(self) -> dict[str, Any]:
        return {
            "tables": [(t.capacity, t.fbits, t.count) for t in self.seen.tables],
            "fp_bound": self.seen.fp_bound,
            "len": len(self.seen),
        }

    def save(self) -> tuple[float, int]:
        started = time.perf_counter()
        self.seen.save()
        return time.perf_counter() - started, self.path.stat().st_size

    def load(self) -> float:
        from darkcrawl.seen.compact import CompactSeenSet

        started = time.perf_counter()
        again = CompactSeenSet(self.path, capacity=self.plan, fp_rate=self.fp_rate)
        elapsed = time.perf_counter() - started
        assert len(again) == len(self.seen)
        return elapsed


class MemorySubject:
    """The current default, darkcrawl.seen.memory.MemorySeenSet (no persistence)."""

    def __init__(self, plan: int, workdir: Path, fp_rate: float) -> None:
        from darkcrawl.seen.memory import MemorySeenSet

        self.seen = MemorySeenSet()
        self.add = self.seen.add
        self.contains = self.seen.__contains__

    def own_bytes(self) -> int:
        return _set_bytes(self.seen._urls)

    def extra(self) -> dict[str, Any]:
        return {}

    def save(self) -> tuple[float, int]:
        return math.nan, 0

    def load(self) -> float:
        return math.nan


class RfpLikeSubject:
    """What Scrapy's RFPDupeFilter keeps: a set of 20-byte SHA-1 digests, and its
    ``requests.seen`` file of 2-byte-length-prefixed digests; hashed from the URL
    string, without Scrapy's Request and canonicalisation."""

    def __init__(self, plan: int, workdir: Path, fp_rate: float) -> None:
        self.fps: set[bytes] = set()
        self.path = workdir / "requests.seen"

    def add(self, url: str) -> bool:
        fp = hashlib.sha1(url.encode()).digest()
        fps = self.fps
        if fp in fps:
            return False
        fps.add(fp)
        return True

    def contains(self, url: str) -> bool:
        return hashlib.sha1(url.encode()).digest() in self.fps

    def own_bytes(self) -> int:
        return _set_bytes(self.fps)

    def extra(self) -> dict[str, Any]:
        return {}

    def save(self) -> tuple[float, int]:
        started = time.perf_counter()
        prefix = (20).to_bytes(2, "big")
        fps = iter(self.fps)
        with open(self.path, "wb") as out:
            # in slices: one join of 10M records would double the peak RSS
            while chunk := b"".join(prefix + fp for fp in itertools.islice(fps, 100_000)):
                out.write(chunk)
        return time.perf_counter() - started, self.path.stat().st_size

    def load(self) -> float:
        started = time.perf_counter()
        data = self.path.read_bytes()
        fps = {data[at + 2:at + 22] for at in range(0, len(data), 22)}
        elapsed = time.perf_counter() - started
        assert len(fps) == len(self.fps)
        return elapsed


class RfpScrapySubject:
    """Scrapy's own RFPDupeFilter with a JOBDIR: a Request and its fingerprint per URL,
    each new digest appended to ``requests.seen`` as it comes (as in a real crawl)."""

    def __init__(self, plan: int, workdir: Path, fp_rate: float) -> None:
        from scrapy import Request
        from scrapy.dupefilters import RFPDupeFilter

        self.request = Request
        self.jobdir = workdir / "job"
        self.jobdir.mkdir()
        self.dupefilter = RFPDupeFilter(str(self.jobdir))
        self.path = self.jobdir / "requests.seen"

    def add(self, url: str) -> bool:
        return not self.dupefilter.request_seen(self.request(url))

    def contains(self, url: str) -> bool:
        dupefilter = self.dupefilter
        return dupefilter._fingerprint(self.request(url)) in dupefilter._fingerprints

    def own_bytes(self) -> int:
        return _set_bytes(self.dupefilter._fingerprints)

    def extra(self) -> dict[str, Any]:
        return {}

    def save(self) -> tuple[float, int]:
        # it appends as it goes: "saving" is the final flush
        started = time.perf_counter()
        assert self.dupefilter.file is not None
        self.dupefilter.file.flush()
        return time.perf_counter() - started, self.path.stat().st_size

    def load(self) -> float:
        from scrapy.dupefilters import RFPDupeFilter

        started = time.perf_counter()
        again = RFPDupeFilter(str(self.jobdir))
        elapsed = time.perf_counter() - started
        assert len(again._fingerprints) == len(self.dupefilter._fingerprints)
        assert again.file is not None
        again.file.close()
        return elapsed


SUBJECTS: dict[str, Callable[[int, Path, float], Subject]] = {
    "compact": CompactSubject,
    "memory": MemorySubject,
    "rfp-like": RfpLikeSubject,
    "rfp-scrapy": RfpScrapySubject,
}


# -- measuring --------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def poisson_ci(k: int, n: int) -> tuple[float, float]:
    """Exact 95% interval of a rate from k events in n trials (Poisson approximation)."""

    def cdf(k: int, lam: float) -> float:
        term = total = math.exp(-lam)
        for j in range(1, k + 1):
            term *= lam / j
            total += term
        return total

    def solve(target: Callable[[float], float], lo: float, hi: float) -> float:
        for _ in range(100):  # target is decreasing in lam
            mid = (lo + hi) / 2
            if target(mid) > 0:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    top = 10.0 + 3 * k
    upper = solve(lambda lam: cdf(k, lam) - 0.025, 0.0, top)
    lower = 0.0 if k == 0 else solve(lambda lam: 0.025 - (1 - cdf(k - 1, lam)), 0.0, top)
    return lower / n, upper / n


@dataclass
class Timer:
    """Sums CPU time of the timed parts: the machine is shared, CPU time is steadier."""

    seconds: float = 0.0
    ops: int = 0

    def per_op_us(self) -> float:
        return self.seconds / self.ops * 1e6 if self.ops else math.nan

    def falses(self, call: Callable[[str], bool], batch: list[str]) -> int:
        """*call* on every URL of *batch*, its CPU time counted; how many answered False.
        (A plain loop in one frame: the per-URL cost measured is the call's.)"""
        false = 0
        began = time.process_time()
        for url in batch:
            if not call(url):
                false += 1
        self.seconds += time.process_time() - began
        self.ops += len(batch)
        return false


def probe(subject: Subject, space: UrlSpace, count: int, offset: int, timer: Timer) -> int:
    """Look up *count* never-inserted URLs; returns the hits (false positives)."""
    hits = 0
    contains = subject.contains
    for start in range(offset, offset + count, BATCH):
        batch = space.batch(start, min(start + BATCH, offset + count), "miss")
        hits += len(batch) - timer.falses(contains, batch)
    return hits


def worker(config: dict[str, Any]) -> dict[str, Any]:
    impl: str = config["impl"]
    n: int = config["n"]
    plan: int = config["plan"]
    fill_probes: int = config["fill_probes"]
    final_probes: int = config["final_probes"]
    space = UrlSpace()
    result: dict[str, Any] = {"impl": impl, "n": n, "plan": plan}
    with tempfile.TemporaryDirectory(prefix="darkcrawl-bench-seen-") as tmp:
        # warm the allocator with one batch, so that RSS counts the set, not the URLs
        space.batch(0, BATCH)
        gc.collect()
        rss0 = rss_bytes()
        subject = SUBJECTS[impl](plan, Path(tmp), config["fp"])
        inserts = Timer()
        misses = Timer()
        checkpoints = sorted({c for c in (plan // 10, plan // 2, plan) if c < n})
        fill: list[dict[str, Any]] = []
        skipped = last_skipped = last_mark = 0
        probe_offset = 0
        # batches of BATCH URLs, cut at the checkpoints
        bounds = sorted(set(range(0, n, BATCH)) | set(checkpoints) | {n})
        for start, stop in itertools.pairwise(bounds):
            batch = space.batch(start, stop)
            skipped += inserts.falses(subject.add, batch)
            del batch
            if stop in checkpoints:
                hits = probe(subject, space, fill_probes, probe_offset, misses)
                probe_offset += fill_probes
                fill.append({
                    "at": stop, "probes": fill_probes, "hits": hits,
                    "skipped_since_last": skipped - last_skipped, "added_since_last": stop - last_mark,
                })
                last_skipped, last_mark = skipped, stop
        gc.collect()
        result["rss_delta"] = rss_bytes() - rss0
        result["own_bytes"] = subject.own_bytes()
        result["skipped"] = skipped
        result["skipped_tail"] = skipped - last_skipped
        result["fill"] = fill
        result["insert_us"] = inserts.per_op_us()
        hits = probe(subject, space, final_probes, probe_offset, misses)
        result["final"] = {"probes": final_probes, "hits": hits}
        result["miss_us"] = misses.per_op_us()
        # lookups of URLs already added: the common case for the spider's links
        rng = random.Random(7)
        hit_timer = Timer()
        false_negatives = 0
        for _ in range(0, config["hit_lookups"], BATCH):
            batch = [space.url(rng.randrange(n)) for _ in range(BATCH)]
            false_negatives += hit_timer.falses(subject.contains, batch)
        result["hit_us"] = hit_timer.per_op_us()
        result["false_negatives"] = false_negatives
        result["save_s"], result["file_bytes"] = subject.save()
        result["load_s"] = subject.load()
        result["extra"] = subject.extra()
    result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


# -- the parent: run the cases, print the table -----------------------------------------


def run_case(config: dict[str, Any]) -> dict[str, Any]:
    label = f"{config['impl']} n={config['n']:,} plan={config['plan']:,}"
    print(f"... {label}", file=sys.stderr, flush=True)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.seen", "--worker", json.dumps(config)],
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        print(f"!!! {label} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return {**config, "error": done.stderr[-3000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - began
    print(f"    done in {result['wall_s']:.0f} s", file=sys.stderr, flush=True)
    return result


def _rate(hits: int, probes: int) -> str:
    if not probes:
        return "—"
    _, hi = poisson_ci(hits, probes)
    return f"{hits / probes:.1e} ({hits}/{probes / M:g}M; ≤{hi:.1e})"


def _num(value: float, fmt: str) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def print_tables(results: list[dict[str, Any]]) -> None:
    ok = [r for r in results if "error" not in r]
    print()
    print("| set | URLs | plan | B/URL arrays | B/URL RSS Δ | peak RSS MB | FP @10% plan | FP @50% plan | "
          "FP at end (95% upper) | skipped new URLs while filling | add µs | hit µs | miss µs "
          "| save s | load s | file B/URL |")
    print("|" + " --- |" * 16)
    for r in ok:
        n = r["n"]
        fill = {f["at"]: f for f in r["fill"]}
        at10 = fill.get(r["plan"] // 10)
        at50 = fill.get(r["plan"] // 2)
        skipped = f"{r['skipped']} ({r['skipped'] / n:.1e})"
        print(
            f"| {r['impl']} | {n / M:g}M | {r['plan'] / M:g}M | {r['own_bytes'] / n:.2f} | {r['rss_delta'] / n:.2f} "
            f"| {r['peak_rss'] / 2**20:.0f} "
            f"| {_rate(at10['hits'], at10['probes']) if at10 else '—'} "
            f"| {_rate(at50['hits'], at50['probes']) if at50 else '—'} "
            f"| {_rate(r['final']['hits'], r['final']['probes'])} | {skipped} "
            f"| {_num(r['insert_us'], '.2f')} | {_num(r['hit_us'], '.2f')} | {_num(r['miss_us'], '.2f')} "
            f"| {_num(r['save_s'], '.2f')} | {_num(r['load_s'], '.2f')} "
            f"| {_num(r['file_bytes'] / n if r['file_bytes'] else math.nan, '.2f')} |"
        )
    for r in ok:
        if r["false_negatives"]:
            print(f"!!! {r['impl']} n={r['n']}: {r['false_negatives']} FALSE NEGATIVES")
        extra = r.get("extra") or {}
        if "tables" in extra:
            tables = ", ".join(f"{c / M:g}M×{b}b ({k / c:.0%} full)" for c, b, k in extra["tables"])
            print(f"- compact n={r['n'] / M:g}M plan={r['plan'] / M:g}M: tables {tables}; "
                  f"model FP now {extra['fp_bound']:.1e}; len() {extra['len']:,}")
    for r in results:
        if "error" in r:
            print(f"- {r['impl']} n={r['n']}: FAILED")


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": M}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.seen", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1M,10M", help="URLs to insert, each with a plan of the same size")
    ap.add_argument("--only", action="append", choices=IMPLS,
                    help=f"sets to measure (repeatable; default {', '.join(DEFAULT_IMPLS)}, and rfp-scrapy at 1M)")
    ap.add_argument("--growth-plan", default="1M", help="plan of the outgrowth case; 0: skip it")
    ap.add_argument("--growth-times", type=float, default=2.0, help="it inserts this many times its plan")
    ap.add_argument("--fp", type=float, default=1e-5, help="CompactSeenSet's target false-positive rate")
    ap.add_argument("--fill-probes", default="1M", help="never-inserted URLs probed at 10%% and 50%% of the plan")
    ap.add_argument("--final-probes", default="0",
                    help="never-inserted URLs probed at the end (default: max(1M, n) for compact, 1M for exact sets)")
    ap.add_argument("--hit-lookups", default="1M", help="lookups of inserted URLs timed")
    ap.add_argument("--json", type=Path, help="write the raw results here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def cases(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    base = {
        "fp": args.fp,
        "fill_probes": parse_size(args.fill_probes),
        "hit_lookups": parse_size(args.hit_lookups),
    }
    final = parse_size(args.final_probes)
    for n in map(parse_size, filter(None, args.sizes.split(","))):
        impls = args.only or DEFAULT_IMPLS + (("rfp-scrapy",) if n <= M else ())
        for impl in impls:
            probes = final or (max(M, n) if impl == "compact" else M)
            config = {**base, "impl": impl, "n": n, "plan": n, "final_probes": probes}
            if impl == "rfp-scrapy":  # 18 us a lookup, and exact: fewer probes while filling
                config["fill_probes"] = min(config["fill_probes"], 100_000)
            yield config
    plan = parse_size(args.growth_plan)
    if plan and (not args.only or "compact" in args.only):
        n = int(args.growth_times * plan)
        yield {**base, "impl": "compact", "n": n, "plan": plan, "final_probes": final or max(M, n)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
    results = [run_case(config) for config in cases(args)]
    print_tables(results)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}; µs are CPU time per operation")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all("error" not in r and not r.get("false_negatives") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
