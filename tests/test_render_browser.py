"""Which Chromium the render stage launches (darkcrawl.render.browser): the headless
shell when installed, else Debian's chromium, else what DARKCRAWL_CHROMIUM names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from darkcrawl.render.browser import CANDIDATES, CHROMIUM, HEADLESS_SHELL, browser_missing, chromium_binary
from darkcrawl.spiders.darkweb import DarkwebSpider


def _binary(path: Path, executable: bool = True) -> str:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755 if executable else 0o644)
    return str(path)


@pytest.mark.parametrize(("installed", "configured", "expected"), [
    ({"shell", "chromium"}, "", "shell"),  # the headless shell first
    ({"chromium"}, "", "chromium"),  # the fallback
    (set(), "", "chromium"),  # none: the last is named (in the error that follows)
    ({"shell", "chromium"}, "/opt/my-chromium", "/opt/my-chromium"),  # DARKCRAWL_CHROMIUM wins, even missing
])
def test_the_binary_launched(tmp_path, installed, configured, expected):
    paths = {name: str(tmp_path / name) for name in ("shell", "chromium")}
    for name in installed:
        _binary(tmp_path / name)
    candidates = (paths["shell"], paths["chromium"])
    assert chromium_binary(configured, candidates) == paths.get(expected, expected)


def test_a_file_that_cannot_run_is_not_a_browser(tmp_path):
    shell = _binary(tmp_path / "shell", executable=False)
    chromium = _binary(tmp_path / "chromium")
    assert chromium_binary("", (shell, chromium)) == chromium
    assert browser_missing(chromium) is None
    assert browser_missing(shell) == (f"{shell} not found: apt-get install chromium-headless-shell (or chromium), "
                                      "set DARKCRAWL_CHROMIUM, or DARKCRAWL_RENDER=0")


def test_debian_paths():
    # the shell itself, not its /usr/bin wrapper: that one does not exec, and killing
    # it would leave the browser running
    assert CANDIDATES == (HEADLESS_SHELL, CHROMIUM) == (
        "/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium")


@pytest.mark.parametrize("configured", ["", "/opt/my-chromium"])
def test_the_add_on_launches_it(tmp_path, monkeypatch, configured):
    monkeypatch.chdir(tmp_path)  # building the crawler creates its JOBDIR
    monkeypatch.delenv("DARKCRAWL_CHROMIUM", raising=False)
    settings = {"ADDONS": {"darkcrawl.addon.Addon": 0}}
    if configured:
        settings["DARKCRAWL_CHROMIUM"] = configured
    crawler = get_crawler(DarkwebSpider, settings)
    crawler._apply_settings()
    launch = crawler.settings["PLAYWRIGHT_LAUNCH_OPTIONS"]
    assert launch["executable_path"] == (configured or chromium_binary(""))
    if not configured and os.access(HEADLESS_SHELL, os.X_OK):
        assert launch["executable_path"] == HEADLESS_SHELL
