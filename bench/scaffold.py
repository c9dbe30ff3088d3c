"""What every benchmark's ``main()`` does around its measurements.

SIGTERM handled as Ctrl-C, the synthetic web made or reused, nginx found, a
temporary folder kept or removed at the end, the results written as JSON, and
the exit code (130 interrupted, 1 a run failed, 0 all ran ok).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeVar

from bench.nginx import NginxError, ensure_nginx
from bench.webgen import WebInfo, WebParams, ensure_web

__all__ = ["Guard", "exit_code", "find_nginx", "finish", "prepare_web", "raise_interrupt", "sigterm_as_interrupt",
           "temp_dir", "write_json"]

Row = TypeVar("Row")


def raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM into the same clean shutdown path as Ctrl-C.
    raise KeyboardInterrupt(f"signal {signum}")


def sigterm_as_interrupt() -> None:
    signal.signal(signal.SIGTERM, raise_interrupt)


def prepare_web(web_dir: Path, params: WebParams, *, links: bool = True) -> WebInfo:
    """:func:`bench.webgen.ensure_web`, saying what it made or reused."""
    print(f"web: {web_dir} ({params.hosts} hosts x {params.pages} pages + index)", flush=True)
    web = ensure_web(web_dir, params)
    print(
        f"  {f'generated in {web.seconds:.1f}s' if web.generated else 'reused (manifest matches)'}: "
        f"{web.html_pages} HTML pages, {web.total_bytes / 2**20:.0f} MiB" + (f", {web.links} links" if links else "")
    )
    return web


def find_nginx() -> str | None:
    """nginx's path (installed if missing), or None once the error is printed."""
    try:
        return ensure_nginx()
    except (NginxError, subprocess.CalledProcessError) as e:
        print(f"error: cannot get nginx: {e}", file=sys.stderr)
        return None


@contextmanager
def temp_dir(prefix: str, keep: bool, kept: str = "\nkept temp dir: ") -> Iterator[Path]:
    """A fresh temporary folder, removed on the way out unless *keep* (then its path is printed)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
    finally:
        if keep:
            print(f"{kept}{tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


class Guard:
    """``with Guard(NginxError) as guard:`` around the measurements.

    Ctrl-C (or SIGTERM, see :func:`sigterm_as_interrupt`) ends the block with
    ``guard.interrupted`` set (unless *interrupts* is false: then it goes on up);
    one of *errors* ends it with its message printed and ``guard.failed`` set (the
    benchmark then exits with 2).
    """

    def __init__(self, *errors: type[BaseException], stopped: str = "nginx", interrupts: bool = True) -> None:
        self.errors = errors
        self.stopped = stopped
        self.interrupts = interrupts
        self.interrupted = False
        self.failed = False

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc_type is None:
            return False
        if self.interrupts and issubclass(exc_type, KeyboardInterrupt):
            self.interrupted = True
            print(f"\ninterrupted; {self.stopped} stopped", file=sys.stderr)
            return True
        if issubclass(exc_type, self.errors):
            self.failed = True
            print(f"error: {exc}", file=sys.stderr)
            return True
        return False


def write_json(path: Path, payload: dict[str, Any], *, say: bool = True) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if say:
        print(f"results written to {path}")


def finish(rows: Sequence[Row], interrupted: bool, *, summarise: Callable[[Sequence[Row]], Any],
           print_table: Callable[[Sequence[Row], Any], None], json_path: Path | None,
           payload: Callable[[Any], dict[str, Any]], ok: Callable[[Row], bool]) -> int:
    """A benchmark's end: its table, its JSON (``payload(summary)``) and its exit code."""
    if not rows:
        return 130 if interrupted else 0
    summary = summarise(rows)
    print_table(rows, summary)
    if json_path:
        write_json(json_path, payload(summary))
    return exit_code(interrupted, (ok(row) for row in rows))


def exit_code(interrupted: bool, oks: Iterable[bool]) -> int:
    if interrupted:
        return 130
    return 0 if all(oks) else 1
