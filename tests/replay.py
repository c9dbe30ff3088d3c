"""pywb and py-wacz, run from their own venv (``.venv-replay``, made by scripts/setup.sh):
a real replay engine serving a WACZ darkcrawl wrote, and the WACZ validator."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.harness.ports import free_port
from tests.harness.service import Service, wait_until

ROOT = Path(__file__).resolve().parent.parent
REPLAY_BIN = ROOT / ".venv-replay" / "bin"
TOOLS = ("wb-manager", "wayback", "wacz", "warcio")
COLLECTION = "darkcrawl"


def replay_missing() -> str | None:
    missing = [tool for tool in TOOLS if not os.access(REPLAY_BIN / tool, os.X_OK)]
    if missing:
        return f"needs {', '.join(missing)} in {REPLAY_BIN} (scripts/setup.sh makes it from requirements-replay.txt)"
    return None


def tool(name: str, *args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPLAY_BIN / name), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


class Pywb(Service):
    """``wayback`` serving one collection made from *wacz* (``wb-manager add --unpack-wacz``:
    its WARCs, and the CDXJ index darkcrawl wrote, not one pywb makes)."""

    def __init__(self, workdir: Path, wacz: Path) -> None:
        self.workdir = workdir
        self.wacz = wacz
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Pywb:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for args in (("init", COLLECTION), ("add", "--unpack-wacz", COLLECTION, str(self.wacz))):
            done = tool("wb-manager", *args, cwd=self.workdir)
            assert done.returncode == 0, done.stderr
        self.process = subprocess.Popen([str(REPLAY_BIN / "wayback"), "--port", str(self.port), "--bind", "127.0.0.1"],
                                        cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(self._listening, 60), "pywb did not start"
        return self

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def url(self, target: str, timestamp: str = "2099", mode: str = "") -> str:
        """The replay URL of *target* (closest capture to *timestamp*; ``mp_``: no banner frame)."""
        return f"http://127.0.0.1:{self.port}/{COLLECTION}/{timestamp}{mode}/{target}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
