"""scrapyd end to end: scrapy.cfg's deploy target, the egg, crawls scheduled over HTTP.

A real scrapyd runs in a folder of its own (tests/harness/scrapydserver.py); ``scrapyd-deploy``
uploads a copy of this checkout to it, exactly as a user runs it but with the deploy URL
pointed at the test's port; then two crawls of the local test web are scheduled through
``schedule.json`` and their outputs are read where the README says they land.

darc's environment reaches the crawls the way it would on a server: set when scrapyd
starts.  It includes ``DARC_REBOOT=1``, so a crawl that did not read it would never
finish and the wait below would fail.
"""

from __future__ import annotations

import configparser
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.components import require
from tests.harness.scrapydserver import Scrapyd

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "darkcrawl"
SPIDER = "darkweb"
#: scrapy.cfg's deploy target, as the README's commands use it
DEPLOY_URL = "http://127.0.0.1:6800/"

#: set when scrapyd starts, so every job inherits them (darc reads its environment)
SERVER_ENV = {
    "DARC_TOR": "0",
    "DARC_I2P": "0",
    "DARC_ZERONET": "0",
    "DARC_FREENET": "0",
    "DARKCRAWL_RENDER": "0",
    "DARKCRAWL_ALLOW_LOOPBACK": "1",
    "DARC_REBOOT": "1",
}
#: a shell's choices that would decide for the test what it checks
UNSET_ENV = ("PATH_DATA", "SCRAPY_SETTINGS_MODULE", "SCRAPY_PROJECT", "SCRAPYD_EGG_VERSION")

#: never copied: the checkout's environment, outputs and caches
_TOP_LEVEL_SKIP = {".git", ".venv", "data", "build", "dist", ".benchmarks"}
_skip_anywhere = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*_cache", ".web")


def _ignore(folder: str, names: list[str]) -> set[str]:
    skipped = set(_skip_anywhere(folder, names))
    if Path(folder) == ROOT:
        skipped |= _TOP_LEVEL_SKIP & set(names)
    return skipped


@pytest.fixture(scope="module")
def scrapyd(tmp_path_factory):
    require("scrapyd")
    env = {name: value for name, value in os.environ.items() if name not in UNSET_ENV}
    with Scrapyd(tmp_path_factory.mktemp("scrapyd"), env={**env, **SERVER_ENV}) as server:
        yield server


@pytest.fixture(scope="module")
def deployed(scrapyd, tmp_path_factory) -> Path:
    """``scrapyd-deploy`` run in a copy of this checkout; returns the uploaded egg."""
    work = tmp_path_factory.mktemp("deploy")
    checkout = work / "darkcrawl"
    shutil.copytree(ROOT, checkout, ignore=_ignore)
    cfg = checkout / "scrapy.cfg"
    assert DEPLOY_URL in cfg.read_text(), "scrapy.cfg has no [deploy] url to the README's scrapyd"
    cfg.write_text(cfg.read_text().replace(DEPLOY_URL, scrapyd.url))
    # HOME and XDG_CONFIG_HOME: no ~/.scrapy.cfg target or ~/.netrc password of the user's
    env = {**os.environ, "HOME": str(work), "XDG_CONFIG_HOME": str(work)}
    deploy = subprocess.run(
        [str(Path(sys.executable).with_name("scrapyd-deploy"))],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=180,
    )
    assert deploy.returncode == 0, deploy.stderr + deploy.stdout
    assert json.loads(deploy.stdout)["status"] == "ok", deploy.stdout
    # the build leaves nothing a later `pip install .` would pack
    assert not (checkout / "build" / "lib").exists()
    assert not list(checkout.glob("*.egg-info"))
    eggs = sorted((scrapyd.workdir / "eggs" / PROJECT).glob("*.egg"))
    assert len(eggs) == 1, eggs
    return eggs[0]


@dataclass
class Job:
    id: str
    record: dict[str, Any]
    data: Path
    stats: dict[str, Any]
    log: str
    items: list[dict[str, Any]]

    def link_rows(self) -> list[dict[str, str]]:
        with (self.data / "link.csv").open(newline="") as f:
            return list(csv.DictReader(f))

    def fetched(self, netloc: str) -> set[str]:
        """Paths (with query) of one host's link.csv rows."""
        urls = [urlsplit(unquote(row["link"])) for row in self.link_rows()]
        return {url.path + (f"?{url.query}" if url.query else "") for url in urls if url.netloc == netloc}


def _job(scrapyd: Scrapyd, job_id: str, record: dict[str, Any], data: Path, stats_file: Path) -> Job:
    logs = scrapyd.workdir / "logs" / PROJECT / SPIDER
    items = scrapyd.workdir / "items" / PROJECT / SPIDER / f"{job_id}.jl"
    return Job(
        job_id,
        record,
        data,
        json.loads(stats_file.read_text()) if stats_file.exists() else {},
        (logs / f"{job_id}.log").read_text(errors="replace"),
        [json.loads(line) for line in items.read_text().splitlines()] if items.exists() else [],
    )


@pytest.fixture(scope="module")
def jobs(scrapyd, deployed, darknet, tmp_path_factory) -> dict[str, Job]:
    """Two crawls at once, as the README schedules them: a seeds file, and inline URLs."""
    work = tmp_path_factory.mktemp("jobs")
    seeds = work / "seeds.txt"
    seeds.write_text(f"# the whole test web, from its index\n{darknet.url('main', '/')}\n")
    common = [
        ("project", PROJECT),
        ("spider", SPIDER),
        ("setting", "DOWNLOAD_DELAY=0"),
        ("setting", "CONCURRENT_REQUESTS_PER_DOMAIN=8"),
        ("setting", "DOWNLOAD_TIMEOUT=10"),
        ("setting", "RETRY_TIMES=1"),
    ]
    seeded_data = work / "data"
    seeded = scrapyd.post("schedule.json", [
        *common,
        ("seeds", str(seeds)),
        ("setting", f"PATH_DATA={seeded_data}"),
        ("setting", "DARKCRAWL_HOST_PAGE_LIMIT=150"),
        ("setting", f"DARKCRAWL_STATS_FILE={work / 'seeded.json'}"),
    ])
    inline = scrapyd.post("schedule.json", [
        *common,
        ("urls", darknet.url("broken", "/")),
        ("setting", f"DARKCRAWL_STATS_FILE={work / 'inline.json'}"),
    ])
    assert seeded["status"] == inline["status"] == "ok", (seeded, inline)
    finished = scrapyd.wait_finished(PROJECT, [seeded["jobid"], inline["jobid"]], timeout=180)
    return {
        "seeded": _job(scrapyd, seeded["jobid"], finished[seeded["jobid"]], seeded_data, work / "seeded.json"),
        # no PATH_DATA: its default, "data", in the folder scrapyd runs in
        "inline": _job(scrapyd, inline["jobid"], finished[inline["jobid"]], scrapyd.workdir / "data",
                       work / "inline.json"),
    }


def test_deploy_uploads_darkcrawl_with_its_settings_profiles(scrapyd, deployed):
    with zipfile.ZipFile(deployed) as egg:
        top_level = {name.split("/")[0] for name in egg.namelist()}
        entry_points = configparser.ConfigParser()
        entry_points.read_string(egg.read("EGG-INFO/entry_points.txt").decode())
    # darkcrawl and the profiles, not the tests, the benchmark or setup.py
    assert top_level == {"EGG-INFO", "darkcrawl", "settings"}
    profile = configparser.ConfigParser()
    profile.read(ROOT / "scrapy.cfg")
    assert entry_points["scrapy"]["settings"] == profile["settings"]["default"]
    assert PROJECT in scrapyd.get("listprojects.json")["projects"]
    # scrapyd lists the spiders by running the egg: its settings module loads
    assert scrapyd.get("listspiders.json", project=PROJECT)["spiders"] == [SPIDER]


@pytest.mark.parametrize("name", ["seeded", "inline"])
def test_scheduled_crawls_finish_cleanly(jobs, name):
    job = jobs[name]
    assert job.stats.get("finish_reason") == "finished", job.log[-3000:]
    assert "Traceback" not in job.log, job.log[-3000:]
    assert job.items, "no items in scrapyd's items feed"
    assert job.stats["item_scraped_count"] == len(job.items)


def test_seeds_file_crawl_writes_where_path_data_says(jobs, darknet):
    job = jobs["seeded"]
    main = f"127.0.0.1:{darknet['main'].port}"
    fetched = job.fetched(main)
    assert {"/", "/page1.html", "/dir/page3.html", "/redirect", "/sitemap-only.html"} <= fetched
    host_dir = job.data / "clearnet" / "http" / main.replace(":", "_")
    assert b"Disallow: /private/" in (host_dir / "robots.txt").read_bytes()
    assert list(host_dir.glob("*_raw.html"))
    assert (job.data / "misc" / "bitcoin.txt").read_text().strip()
    # the other hosts of the test web, reached by links
    assert job.fetched(f"127.0.0.1:{darknet['other'].port}")
    assert job.fetched(f"127.0.0.1:{darknet['broken'].port}")


def test_inline_urls_crawl_writes_to_data_in_scrapyds_folder(jobs, darknet, scrapyd):
    job = jobs["inline"]
    broken = f"127.0.0.1:{darknet['broken'].port}"
    assert job.data == scrapyd.workdir / "data"
    assert job.fetched(broken) >= {"/", "/b1.html"}
    assert (job.data / "clearnet" / "http" / broken.replace(":", "_") / "robots.txt").exists()
    # the seeded crawl wrote nothing here, and this one nothing of main's
    assert not job.fetched(f"127.0.0.1:{darknet['main'].port}")
