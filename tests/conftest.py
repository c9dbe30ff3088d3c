"""Shared fixtures: the local test web, and a runner for real ``scrapy crawl`` runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.darknet import Darknet

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def darknet():
    with Darknet() as net:
        yield net


@dataclass
class CrawlResult:
    returncode: int
    data: Path
    log: str
    stats: dict[str, Any]
    items: list[dict[str, Any]]

    def files(self, pattern: str) -> list[Path]:
        return sorted(self.data.glob(pattern))

    def misc(self, kind: str) -> list[dict[str, Any]]:
        path = self.data / "misc" / ("data/data.txt" if kind == "data" else f"{kind}.txt")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def headers_records(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in self.data.glob("*/*/*/*.json")]


def logged_at(log: str, pattern: str) -> datetime:
    """When the first log line matching the regex *pattern* (after the logger's name) was
    written: Scrapy's log times, 1 s resolution.  For "X happened before its bound" asserts
    that must not depend on how long the process took to start or stop."""
    match = re.search(rf"^(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d) \[[\w.]+\] \w+: (?:{pattern})", log, re.M)
    assert match, f"no log line matches {pattern!r}"
    return datetime.fromisoformat(match[1])


def crawl_argv(
    workdir: Path, *args: str, settings: dict[str, Any] | None = None, command: list[str] | None = None
) -> list[str]:
    """``scrapy crawl darkweb`` as the tests run it: data, stats and items under *workdir*."""
    base = {
        "PATH_DATA": str(workdir / "data"),
        "DARC_REBOOT": "1",
        "DOWNLOAD_DELAY": "0",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
        "DOWNLOAD_TIMEOUT": "10",
        "RETRY_TIMES": "1",
        "DARKCRAWL_STATS_FILE": str(workdir / "stats.json"),
        "LOG_LEVEL": "INFO",
        # no daemon launches unless a test asks for one
        "DARC_TOR": "0",
        "DARC_I2P": "0",
        "DARC_ZERONET": "0",
        "DARC_FREENET": "0",
        # the render stage has its own tests (test_render.py)
        "DARKCRAWL_RENDER": "0",
    }
    base.update({k: str(v) for k, v in (settings or {}).items()})
    if command is None:
        command = [sys.executable, "-m", "scrapy", "crawl", "darkweb", "-O", f"{workdir / 'items.jsonl'}:jsonlines"]
    argv = [*command, *args]
    for name, value in base.items():
        argv += ["-s", f"{name}={value}"]
    return argv


def run_crawl(
    workdir: Path,
    *args: str,
    settings: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    command: list[str] | None = None,
) -> CrawlResult:
    """Run a real crawl in a subprocess (the way users run it) and collect its outputs."""
    data = Path((settings or {}).get("PATH_DATA", workdir / "data"))
    stats_file = workdir / "stats.json"
    items_file = workdir / "items.jsonl"
    argv = crawl_argv(workdir, *args, settings=settings, command=command)
    proc = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "DARKCRAWL_ALLOW_LOOPBACK": "1", **(env or {})},
    )
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    items = [json.loads(line) for line in items_file.read_text().splitlines()] if items_file.exists() else []
    return CrawlResult(proc.returncode, data, proc.stderr + proc.stdout, stats, items)


@pytest.fixture
def crawl(tmp_path):
    def _crawl(*args: str, **kwargs: Any) -> CrawlResult:
        return run_crawl(tmp_path, *args, **kwargs)

    return _crawl


# Missing real components (tor, chromium, ...): skipped locally, failures in strict mode.
from tests.components import pytest_configure, pytest_runtest_setup  # noqa: E402,F401

# The private Tor network (tests/harness/tornet): one per session, started on first use.
from tests.harness.tornet.fixtures import tor_network  # noqa: E402,F401

# A real PostgreSQL server (tests/harness/postgres.py): one per session, a database per test.
from tests.harness.postgres_fixtures import postgres_server, postgres_url  # noqa: E402,F401
