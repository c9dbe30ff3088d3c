"""Memory and wall time of one round over the hostile test web: ``python -m bench.hostile [--render]``.

Not a timed test: a figure for issue 11's target (the crawler process stays
under 500 MB in the plain stage).  One ``scrapy crawl darkweb`` with
``DARC_REBOOT=1`` over every plain case of :mod:`tests.hostile` (with
``--render``, a second round over the render cases with Chromium), the bounds of
``tests/test_hostile.py``.  Measured by polling ``/proc`` every 0.2 s:

- **crawler**: ``VmHWM`` (the kernel's own peak RSS) of the scrapy process;
- **browser**: the peak of the summed RSS of every other process below it (the
  Playwright driver and Chromium's processes: shared pages are counted once per
  process, so this overstates; it is a ceiling);
- **wall**: start to exit (or to the kill at ``--limit``, reported as such).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET_MB = 500.0


@dataclass
class Figures:
    stage: str
    ended: bool
    wall_s: float
    crawler_peak_mb: float
    browser_peak_mb: float
    pages: int
    failures: int
    traps: int


def measure_round(stage: str, limit: float) -> Figures:
    from tests.conftest import crawl_argv
    from tests.hostile import by_stage, hostile_web
    from tests.hostile.memory import Sampler
    from tests.hostile.web import seed_url
    from tests.test_hostile import BOUNDS, RENDER_BOUNDS, _env

    cases = by_stage(stage)
    settings = dict(RENDER_BOUNDS if stage == "render" else BOUNDS)
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp, \
            hostile_web(cases, cache=pathlib.Path(tmp)) as web:
        work = pathlib.Path(tmp)
        seeds = work / "seeds.txt"
        seeds.write_text("\n".join(seed_url(web, c) for c in cases) + "\n")
        argv = crawl_argv(work, "-a", f"seeds={seeds}", settings=settings)
        started = time.monotonic()
        with open(work / "crawl.log", "wb") as log:
            proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=_env(),
                                    start_new_session=True)
        sampler = Sampler(proc.pid)
        sampler.start()
        try:
            proc.wait(limit)
            ended = True
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            ended = False
        wall = time.monotonic() - started
        sampler.done.set()
        sampler.join()
        stats_file = work / "stats.json"
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}

        def lines(name: str) -> int:
            path = work / "data" / "misc" / name
            return len(path.read_text().splitlines()) if path.exists() else 0

        return Figures(stage, ended, wall, sampler.crawler_kb / 1024, sampler.browser_kb / 1024,
                       int(stats.get("darkcrawl/pages", 0)), lines("failures.jsonl"), lines("traps.jsonl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--render", action="store_true", help="also a render round (Chromium)")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds before a round is killed")
    parser.add_argument("--json", type=pathlib.Path, help="also write the figures here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(PROJECT_ROOT))

    rounds = [measure_round("plain", args.limit)]
    if args.render:
        rounds.append(measure_round("render", args.limit))
    print(f"{'stage':<7} {'ended':<6} {'wall s':>7} {'crawler MB':>11} {'browser MB':>11} "
          f"{'pages':>6} {'failures':>9} {'traps':>6}")
    for r in rounds:
        print(f"{r.stage:<7} {'yes' if r.ended else 'KILLED':<6} {r.wall_s:7.1f} {r.crawler_peak_mb:11.0f} "
              f"{r.browser_peak_mb:11.0f} {r.pages:6d} {r.failures:9d} {r.traps:6d}")
    plain = rounds[0]
    verdict = "within" if plain.crawler_peak_mb < TARGET_MB else "OVER"
    print(f"plain-stage crawler peak {plain.crawler_peak_mb:.0f} MB: {verdict} the {TARGET_MB:.0f} MB target")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rounds], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
