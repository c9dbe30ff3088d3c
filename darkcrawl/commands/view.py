"""``scrapy view``: the catalogue of ``PATH_DATA`` (or ``DARKCRAWL_CATALOG_URL``) as a web app.

An overview, hosts, each host's snapshots, screenshots, headers, robots.txt, links
and entities, each snapshot with its source and a diff against the previous visit,
full-text search and entities, plus a JSON API under ``/api/``.  Crawled pages are
never run: they are shown as escaped source or in a sandboxed frame with no script
and no network.

It binds 127.0.0.1 unless ``--bind`` says otherwise; any other address needs a
token (``--token`` or ``DARKCRAWL_VIEW_TOKEN``), which requests carry as
``?token=`` once (then a cookie) or as ``Authorization: Bearer``.

Exit status: 0 when stopped (Ctrl-C), 1 when the catalogue cannot be opened,
2 on a configuration error (a non-loopback bind without a token).
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from darkcrawl.catalog.db import CatalogDB, CatalogError, catalog_location, redact
from darkcrawl.command_base import QuietCommand, loaded_or_config_error
from darkcrawl.config import get_option
from darkcrawl.report.outcome import ExitCode

if TYPE_CHECKING:
    import argparse

DEFAULT_PORT = 8700


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        return False


class Command(QuietCommand):  # no crawl: aiohttp runs its own asyncio loop
    requires_project = False

    def syntax(self) -> str:
        return "[--port 8700] [--bind 127.0.0.1] [--token T]"

    def short_desc(self) -> str:
        return "Browse the catalogue (hosts, pages, search, entities) in a web browser"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
        parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--token", default="", help="token every request must carry (default DARKCRAWL_VIEW_TOKEN)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        settings = loaded_or_config_error(self, "view")
        if settings is None:
            return
        token = opts.token or get_option(settings, "DARKCRAWL_VIEW_TOKEN")
        if not is_loopback(opts.bind) and not token:
            print(f"view: configuration error: --bind {opts.bind} is not a loopback address: "
                  "give --token or DARKCRAWL_VIEW_TOKEN", file=sys.stderr)
            self.exitcode = int(ExitCode.CONFIG_ERROR)
            return
        path_data = Path(settings["PATH_DATA"])
        location = catalog_location(path_data, settings.get("DARKCRAWL_CATALOG_URL"))
        try:
            db = CatalogDB.open(location, readonly=True)
        except CatalogError as exc:
            print(f"view: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        from aiohttp import web

        from darkcrawl.viewer.app import make_app

        host = f"[{opts.bind}]" if ":" in opts.bind else opts.bind
        print(f"view: {redact(location)} on http://{host}:{opts.port}/" + (" (token required)" if token else ""),
              flush=True)
        try:
            web.run_app(make_app(db, path_data, token), host=opts.bind, port=opts.port, print=None,
                        access_log=None, handle_signals=True)
        finally:
            db.close()
        self.exitcode = 0
