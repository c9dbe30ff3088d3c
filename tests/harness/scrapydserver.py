"""A throw-away scrapyd for tests: its own folder, config and loopback port.

:class:`Scrapyd` writes a ``scrapyd.conf`` into a caller-given folder (eggs, logs,
items and job databases all under it) and starts the venv's ``scrapyd`` there on a
free loopback port (scrapyd cannot take port 0, so a port lost to a race is retried
with another).  Jobs run in that folder, as they would in a real deployment.  The
server and every crawl it launched are stopped on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.harness.ports import free_port
from tests.harness.service import Service, wait_until

__all__ = ["Scrapyd", "ScrapydError"]

_HOST = "127.0.0.1"
_LISTENING = re.compile(r"Site starting on (\d+)")
_BIND_TRIES = 3


class ScrapydError(RuntimeError):
    """scrapyd did not come up, or a job did not finish; the message has the log."""


class Scrapyd(Service):
    def __init__(self, workdir: Path, env: Mapping[str, str] | None = None, *, start_timeout: float = 30) -> None:
        self.workdir = workdir.resolve()
        self.env = dict(os.environ if env is None else env)
        self.start_timeout = start_timeout
        self.url = ""
        self.output = self.workdir / "scrapyd.out"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(_BIND_TRIES):
            if self._start(free_port(_HOST)):
                return
            if "Address already in use" not in self.log():
                break
        raise ScrapydError(f"scrapyd did not start:\n{self.log()[-3000:]}")

    def _start(self, port: int) -> bool:
        (self.workdir / "scrapyd.conf").write_text(
            "# Written by tests/harness/scrapydserver.py\n"
            "[scrapyd]\n"
            f"bind_address = {_HOST}\n"
            f"http_port = {port}\n"
            f"eggs_dir = {self.workdir / 'eggs'}\n"
            f"logs_dir = {self.workdir / 'logs'}\n"
            f"items_dir = {self.workdir / 'items'}\n"
            f"dbs_dir = {self.workdir / 'dbs'}\n"
            # scrapyd looks for queued jobs every 5 s by default
            "poll_interval = 0.2\n"
            "max_proc = 4\n"
        )
        scrapyd = Path(sys.executable).with_name("scrapyd")
        with self.output.open("wb") as out:
            # its own session: stop() ends scrapyd and the crawls it spawned together
            self._proc = subprocess.Popen(
                [str(scrapyd)], cwd=self.workdir, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        proc = self._proc
        wait_until(lambda: _LISTENING.search(self.log()) or proc.poll() is not None, self.start_timeout, interval=0.1)
        if _LISTENING.search(self.log()):
            self.url = f"http://{_HOST}:{port}/"
            return True
        self.stop()
        return False

    def stop(self) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        # scrapyd if it hung, and crawls still running in its session (a job that never ended)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def log(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    # -- the JSON API -------------------------------------------------------------

    def get(self, endpoint: str, **params: str) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._call(urllib.request.Request(self.url + endpoint + query))

    def post(self, endpoint: str, fields: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """POST form fields, as ``curl -d name=value -d ...`` does (names may repeat)."""
        body = urllib.parse.urlencode(list(fields)).encode()
        return self._call(urllib.request.Request(self.url + endpoint, data=body))

    def _call(self, request: urllib.request.Request) -> dict[str, Any]:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def wait_finished(self, project: str, jobs: Sequence[str], timeout: float) -> dict[str, dict[str, Any]]:
        """Poll ``listjobs.json`` until every job in *jobs* is finished; their records by id."""
        deadline = time.monotonic() + timeout
        while True:
            listing = self.get("listjobs.json", project=project)
            finished = {job["id"]: job for job in listing["finished"] if job["id"] in jobs}
            if len(finished) == len(jobs):
                return finished
            if time.monotonic() > deadline:
                raise ScrapydError(
                    f"jobs not finished after {timeout} s: {json.dumps(listing, indent=1)}\n{self.log()[-3000:]}"
                )
            time.sleep(0.2)
