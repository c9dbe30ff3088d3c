"""``python -m bench.warc_writer``: the WARC writer process alone, CPU per page.

The plain-stage figure (``bench.run``'s ``warc`` row) is the archive's cost for a
crawl, but on a shared 2-core machine its run-to-run noise (±10%) is as large as the
cost itself.  This measures the part the archive adds, without a crawl: *pages*
exchanges of a 15 KB page (its response, request and a metadata record the page
waits for, as the archive's middleware and pipeline submit them, 8 pages per turn of
the event loop) through :class:`~darkcrawl.archive.writer_process.WarcWriterProcess`,
and reports the CPU of the crawl's process (submitting, pickling, the answers) and
of the writer's (making, compressing and writing the records; its start-up included)
per page.  Each round runs in a process of its own.

    python -m bench.warc_writer                  # 3 rounds of 8,000 pages
    python -m bench.warc_writer --pages 20000 --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.scaffold import sigterm_as_interrupt, write_json

#: pages submitted between two turns of the event loop (the crawl's pages per turn, about)
PAGES_PER_TURN = 8
PAGE_BYTES = 15_000


async def _submit_all(folder: Path, pages: int) -> dict[str, float]:
    from darkcrawl.archive import records

    try:
        from darkcrawl.archive.jobs import exchange_records, metadata_records
    except ImportError:  # a commit before 9bcc282, to compare with
        from darkcrawl.archive.crawl import exchange_records, metadata_records  # type: ignore[attr-defined,no-redef]
    from darkcrawl.archive.writer import Dedup
    from darkcrawl.archive.writer_process import WarcWriterProcess

    body = os.urandom(PAGE_BYTES // 2).hex().encode()  # incompressible enough to be a fair page
    writer = WarcWriterProcess(folder, "bench", 10**9, [("software", "bench")], Dedup(True), "bench")
    waiting = []
    began, cpu = time.perf_counter(), time.process_time()
    for i in range(pages):
        uri, date, rid = f"http://h/{i}", records.warc_date(), records.record_id()
        writer.submit(partial(exchange_records, uri, date, rid, b"GET / HTTP/1.1\r\n\r\n",
                              b"HTTP/1.1 200 OK\r\n\r\n", body + str(i).encode(), 200, [], None))
        done = writer.submit(partial(metadata_records, uri, date, [("title", "t")], rid), wait=True)
        waiting.append(asyncio.wrap_future(done))  # type: ignore[arg-type]
        if i % PAGES_PER_TURN == PAGES_PER_TURN - 1:
            await asyncio.sleep(0)
    await asyncio.gather(*waiting)
    wall, crawl_cpu = time.perf_counter() - began, time.process_time() - cpu
    await asyncio.to_thread(writer.close)
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"pages": pages, "wall_s": wall, "records": writer.records, "bytes": writer.bytes,
            "crawl_us_per_page": crawl_cpu / pages * 1e6,
            "writer_us_per_page": (child.ru_utime + child.ru_stime) / pages * 1e6}


def _round(pages: int) -> dict[str, Any]:
    """One round, in a process of its own (its RUSAGE_CHILDREN is the writer's alone)."""
    done = subprocess.run([sys.executable, "-m", "bench.warc_writer", "--one", str(pages)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a round (internal)
    args = parser.parse_args(argv)
    if args.one:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(asyncio.run(_submit_all(Path(folder), args.one))))
        return 0
    sigterm_as_interrupt()
    rows = []
    try:
        for n in range(args.rounds):
            row = _round(args.pages)
            rows.append(row)
            print(f"round {n + 1}: {row['pages']} pages in {row['wall_s']:.2f} s; CPU per page: crawl process "
                  f"{row['crawl_us_per_page']:.0f} µs, writer process {row['writer_us_per_page']:.0f} µs; "
                  f"{row['bytes'] / row['pages'] / 1024:.1f} KiB/page written")
    except KeyboardInterrupt:
        return 130
    for key in ("crawl_us_per_page", "writer_us_per_page"):
        values = [row[key] for row in rows]
        print(f"{key}: median {statistics.median(values):.0f} (min {min(values):.0f}, max {max(values):.0f})")
    if args.json:
        write_json(args.json, {"rounds": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
