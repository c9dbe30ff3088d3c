"""``scrapy shell`` (darkcrawl.commands.shell): the crawl's routing, a reason for
every URL it does not fetch, and nothing written under PATH_DATA."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.harness import free_port


def shell(url: str, data: Path, code: str = "response and response.status", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "shell", url, "-c", code, "-s", f"PATH_DATA={data}",
         "-s", "DARC_TOR=0", "-s", "DARC_I2P=0"],
        cwd=ROOT, capture_output=True, text=True, timeout=90, env={**os.environ, **env},
    )


def test_fetches_a_page_and_saves_nothing(darknet, tmp_path):
    result = shell(darknet.url("other", "/"), tmp_path / "data", DARKCRAWL_ALLOW_LOOPBACK="1")
    assert result.stdout.strip() == "200", result.stderr[-2000:]
    assert not (tmp_path / "data").exists()


def test_a_refusal_says_why_and_how(tmp_path):
    result = shell(f"http://127.0.0.1:{free_port()}/", tmp_path / "data", DARKCRAWL_ALLOW_LOOPBACK="0")
    assert "darkcrawl: not fetched: refused:" in result.stderr
    assert "DARKCRAWL_ALLOW_LOOPBACK=1 allows it" in result.stderr
    assert result.stdout.strip() == "None"


def test_a_dead_host_is_one_line_at_once(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/"
    result = shell(url, tmp_path / "data", DARKCRAWL_ALLOW_LOOPBACK="1")
    assert f"darkcrawl: fetch failed {url}:" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "Gave up retrying" in result.stderr and "(failed 1 times)" in result.stderr  # no retries, no backoff
