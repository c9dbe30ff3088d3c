"""``python -m tests.hostile``: start the hostile web and print its URLs (Ctrl-C stops).

``python -m tests.hostile --crawl NAME,NAME [--render] [-s KEY=VALUE ...]``: run the
test suite's one-round crawl over those cases and print what each one lacks.
Deliberately pytest-free.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile

from tests.harness.service import serve_until_interrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hostile", description=__doc__)
    parser.add_argument("--crawl", help="comma-separated case names (or a stage: plain, render, ssrf)")
    parser.add_argument("-s", dest="settings", action="append", default=[], help="extra KEY=VALUE setting")
    parser.add_argument("--limit", type=float, default=180.0, help="seconds before the crawl is killed")
    args = parser.parse_args(argv)

    from .cases import CASES, by_stage
    from .check import canary_problems, case_problems, log_problems, proxy_problems
    from .web import hostile_web

    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp, hostile_web(cache=pathlib.Path(tmp)) as web:
        if not args.crawl:
            for case in CASES:
                where = web[case.name].url if case.mode != "virtual" else "(through the proxy)"
                print(f"{case.name:<28} {case.kind:<22} {case.expect:<9} {where}{case.seed}", flush=True)
            print(f"proxy {web['proxy'].url}   canary {web['canary'].url}\nCtrl-C to stop.", flush=True)
            serve_until_interrupt()
            return 0
        from tests.test_hostile import BOUNDS, RENDER_BOUNDS, _env, run_round

        names = args.crawl.split(",")
        cases = by_stage(names[0]) if names[0] in ("plain", "render", "ssrf") else [web.cases[n] for n in names]
        stage = cases[0].stage
        settings = dict(RENDER_BOUNDS if stage == "render" else BOUNDS)
        settings.update(kv.split("=", 1) for kv in args.settings)
        from .web import seed_url

        env = _env(guard=True, proxy=web["proxy"].url) if stage == "ssrf" else _env()
        if stage == "ssrf":
            settings["DARKCRAWL_ALLOW_LOOPBACK"] = 0
        round_ = run_round(pathlib.Path(tmp), [seed_url(web, c) for c in cases], settings, env, args.limit)
        print(f"ended: {round_.ended} (rc {round_.returncode}) in {round_.elapsed:.1f} s; "
              f"crawler peak RSS {round_.crawler_peak_mb:.0f} MB")
        for case in cases:
            problems = case_problems(web, case, round_.outcome)
            print(f"{'FAIL' if problems else 'ok  '} {case.name}: {'; '.join(problems)}")
        for problem in log_problems(round_.outcome.log)[:5] + canary_problems(web) + (
                proxy_problems(web) if stage == "ssrf" else []):
            print("  ", problem[:300])
        (pathlib.Path(tempfile.gettempdir()) / "hostile-last.log").write_text(round_.outcome.log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
