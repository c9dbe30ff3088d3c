"""Configuration mistakes are one line naming the setting, the value and what is
expected; no traceback; exit code 2 — through the real ``scrapy crawl`` and
``darkcrawl`` commands, before anything is crawled or created."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from scrapy.settings import Settings

from darkcrawl.config import ConfigError
from darkcrawl.preflight import check_scrapy_settings, check_writable_folder
from tests.conftest import ROOT


@pytest.mark.parametrize(("name", "value", "message"), [
    ("DOWNLOAD_DELAY", "abc", "DOWNLOAD_DELAY='abc': expected a number of seconds (0 or more)"),
    ("DOWNLOAD_DELAY", "-1", "DOWNLOAD_DELAY='-1': expected a number of seconds"),
    ("CONCURRENT_REQUESTS", "many", "CONCURRENT_REQUESTS='many': expected a whole number of requests"),
    ("ROBOTSTXT_OBEY", "perhaps", "ROBOTSTXT_OBEY='perhaps': expected 0 or 1"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD': expected DEBUG, INFO"),
])
def test_scrapy_settings_are_checked(name, value, message):
    settings = Settings()
    settings.set(name, value, priority="cmdline")
    with pytest.raises(ConfigError) as error:
        check_scrapy_settings(settings)
    assert message in str(error.value)


@pytest.mark.parametrize(("name", "value"), [
    ("DOWNLOAD_DELAY", "0.25"), ("CONCURRENT_REQUESTS", "8"), ("ROBOTSTXT_OBEY", "False"), ("LOG_LEVEL", "debug"),
])
def test_good_scrapy_settings_pass(name, value):
    settings = Settings()
    settings.set(name, value, priority="cmdline")
    check_scrapy_settings(settings)


def test_output_folder_must_be_a_writable_folder(tmp_path):
    check_writable_folder("PATH_DATA", str(tmp_path / "new" / "deeper"))  # creatable
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"PATH_DATA='.*/file/x': expected a folder, but it is not one \(.*/file is a file\)"):
        check_writable_folder("PATH_DATA", str(tmp_path / "file" / "x"))


_CASES = [
    ({"env": {"TIME_CACHE": "abc"}}, "TIME_CACHE='abc': expected a number of seconds or 'inf'"),
    ({"env": {"DARKCRAWL_HOST_PAGE_LIMIT": "-5"}}, "DARKCRAWL_HOST_PAGE_LIMIT='-5': expected a whole number"),
    ({"env": {"LINK_WHITE_LIST": "example"}}, 'LINK_WHITE_LIST=\'example\': expected a JSON list of strings, e.g. ["example"]'),
    ({"settings": {"DOWNLOAD_DELAY": "abc"}}, "DOWNLOAD_DELAY='abc': expected a number of seconds"),
    ({"settings": {"DARKCRAWL_RENDER": "1", "DARKCRAWL_CHROMIUM": "/nonexistent/chromium"}},
     "DARKCRAWL_CHROMIUM: /nonexistent/chromium not found: apt-get install chromium-headless-shell (or chromium)"),
]


@pytest.mark.parametrize("command", ["scrapy", "darkcrawl"])
@pytest.mark.parametrize(("given", "message"), _CASES)
def test_one_line_and_exit_code_2(crawl, tmp_path, command, given, message):
    argv = ([sys.executable, "-m", "scrapy", "crawl", "darkweb"] if command == "scrapy"
            else [sys.executable, "-m", "darkcrawl"])
    seed = ["-a", "urls=http://127.0.0.1:9/"] if command == "scrapy" else ["http://127.0.0.1:9/"]
    result = crawl(*seed, command=argv, **given)
    assert result.returncode == 2, result.log[-2000:]
    assert f"darkcrawl: configuration error: {message}" in result.log
    assert "Traceback" not in result.log
    assert not result.data.exists()  # nothing crawled, nothing created


def test_path_data_that_cannot_be_a_folder(crawl, tmp_path):
    (tmp_path / "afile").write_text("x")
    result = crawl("-a", "urls=http://127.0.0.1:9/", settings={"PATH_DATA": tmp_path / "afile" / "data"})
    assert result.returncode == 2, result.log[-2000:]
    assert "darkcrawl: configuration error: PATH_DATA=" in result.log and "is a file" in result.log
    assert "Traceback" not in result.log


def _settings_get(name: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrapy", "settings", "--get", name], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


@pytest.mark.parametrize(("name", "env", "expected"), [
    ("DOWNLOAD_DELAY", {}, "0.5"),  # the add-on's, not Scrapy's 0
    ("ROBOTSTXT_OBEY", {}, "True"),
    ("ROBOTSTXT_OBEY", {"DARC_FORCE": "1"}, "False"),
    ("PATH_DATA", {"PATH_DATA": "/srv/evidence"}, "/srv/evidence"),
    ("TIME_CACHE", {"TIME_CACHE": "inf"}, "inf"),
    ("USER_AGENT", {}, "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("SCHEDULER", {"SCRAPY_PROJECT": "distributed"}, "darkcrawl.distributed.scheduler.DistributedScheduler"),
])
def test_scrapy_settings_shows_what_a_crawl_uses(name, env, expected):
    result = _settings_get(name, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_scrapy_settings_with_a_bad_variable_is_one_line():
    result = _settings_get("TIME_CACHE", {"TIME_CACHE": "soon"})
    assert result.returncode == 2
    assert result.stderr.strip() == "darkcrawl: configuration error: TIME_CACHE='soon': expected a number of seconds or 'inf'"


def test_scrapy_settings_lists_every_option_with_its_value_and_meaning():
    from darkcrawl.config import OPTIONS

    result = subprocess.run([sys.executable, "-m", "scrapy", "settings", "--options"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, env={**os.environ, "TIME_CACHE": "inf"})
    assert result.returncode == 0, result.stderr
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in result.stdout.splitlines()}
    assert list(rows) == [option.name for option in OPTIONS]
    assert rows["TIME_CACHE"] == ["inf", "seconds during which a fetched URL is not fetched again ('inf': never)"]
    assert rows["NAVER_BASE_URL"][0] == "'https://finance.naver.com'"
