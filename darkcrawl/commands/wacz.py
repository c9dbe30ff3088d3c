"""``scrapy wacz``: package WARC files as a WACZ, at any time.

    scrapy wacz                                   everything under PATH_DATA/archive/warc
    scrapy wacz --round latest                    the newest round only (or --round 20261207061500)
    scrapy wacz /srv/worker1 /srv/worker2 -o all.wacz   a fleet's worker folders, merged

A folder given is read as a PATH_DATA (its archive/warc) when it has one, else
as a folder of WARC files.  WARC files still being written, or left open by a
killed crawl, go in up to their last complete record.  The package is
``PATH_DATA/archive/<DARKCRAWL_WARC_PREFIX>[-<round>].wacz`` unless ``-o`` names
another.  A crawl with ``DARKCRAWL_WARC=1`` writes its round's WACZ itself when a
one-round crawl ends.

Exit status: 0 written, 1 no WARC record found, 2 configuration error.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from darkcrawl.archive.wacz import package, select_round, warc_files
from darkcrawl.command_base import QuietCommand, loaded_or_config_error
from darkcrawl.config import get_option
from darkcrawl.report.outcome import ExitCode
from darkcrawl.storage.paths import ARCHIVE_DIR, WARC_DIR, wacz_name

if TYPE_CHECKING:
    import argparse


def warc_folders(root: Path, given: list[str]) -> list[Path]:
    """The folders holding WARC files: PATH_DATA's, or those given (a PATH_DATA or a folder of WARCs)."""
    if not given:
        return [root / WARC_DIR]
    return [Path(folder) / WARC_DIR if (Path(folder) / WARC_DIR).is_dir() else Path(folder) for folder in given]


class Command(QuietCommand):
    requires_project = False

    def syntax(self) -> str:
        return "[FOLDER ...] [--round ROUND|latest] [-o FILE.wacz] [-s PATH_DATA=DIR]"

    def short_desc(self) -> str:
        return "Package the crawl's WARC files (or a fleet's) as a WACZ"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--round", dest="round_id", default="", help="only this round's WARCs (`latest`: the newest)")
        parser.add_argument("-o", "--output", default="", help="the WACZ to write")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        settings = loaded_or_config_error(self, "wacz")
        if settings is None:
            return
        root = Path(settings["PATH_DATA"])
        files = warc_files(warc_folders(root, args))
        round_id = ""
        if opts.round_id:
            round_id, files = select_round(files, opts.round_id)
        output = Path(opts.output) if opts.output else (
            root / ARCHIVE_DIR / wacz_name(get_option(settings, "DARKCRAWL_WARC_PREFIX"), round_id))
        started = time.monotonic()
        try:
            datapackage = package(files, output, description=f"darkcrawl WARCs from {', '.join(args) or str(root)}")
        except ValueError as exc:
            print(f"wacz: {exc} in {', '.join(str(f) for f in warc_folders(root, args))}"
                  + (f" (round {round_id})" if round_id else ""))
            self.exitcode = int(ExitCode.NOTHING_FETCHED)
            return
        warcs = sum(1 for r in datapackage["resources"] if r["path"].startswith("archive/"))
        print(f"wacz: {output} ({output.stat().st_size:,} bytes, {warcs} WARC files) in "
              f"{time.monotonic() - started:.1f} s")
