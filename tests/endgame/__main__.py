"""``python -m tests.endgame [--delay S] [--captcha]``: the EndGame-style site on loopback,
for a look with a browser, curl or ``scrapy shell``; runs until Ctrl-C."""

from __future__ import annotations

import argparse

from tests.harness.service import serve_until_interrupt

from .site import EndGameSite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.endgame", description=__doc__)
    parser.add_argument("--delay", type=float, default=5.0, help="seconds the queue asks to wait")
    parser.add_argument("--captcha", action="store_true", help="a captcha after the queue")
    args = parser.parse_args(argv)
    with EndGameSite(delay=args.delay, captcha=args.captcha) as site:
        print(f"{site.url('/')}  (queue {args.delay:g} s{', then a captcha' if args.captcha else ''}); "
              f"Ctrl-C to stop", flush=True)
        serve_until_interrupt()
        for visit in site.visits:
            print(f"{visit.at:.2f} {visit.method} {visit.path} {visit.outcome} cookie={visit.cookie}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
