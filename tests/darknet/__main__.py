"""``python -m tests.darknet``: start the darknet and print its URLs.

For poking at the sites with a browser, curl or ``scrapy shell``; runs until
Ctrl-C.  Deliberately pytest-free.
"""

from __future__ import annotations

import argparse
import pathlib

from tests.harness.service import serve_until_interrupt

from .server import Darknet
from .sites import SLOW_DELAY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.darknet", description=__doc__)
    parser.add_argument("--root", type=pathlib.Path, help="extra static files: ROOT/<site>/<path>")
    parser.add_argument("--slow-delay", type=float, default=SLOW_DELAY, help="seconds slow '/' stalls")
    args = parser.parse_args(argv)

    with Darknet(args.root, slow_delay=args.slow_delay) as net:
        width = max(map(len, net.sites))
        for name, site in net.sites.items():
            print(f"{name:<{width}}  {site.url}/", flush=True)
        print("Ctrl-C to stop.", flush=True)
        serve_until_interrupt()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
