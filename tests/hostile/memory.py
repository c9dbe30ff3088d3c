"""Peak memory of a crawl and of the processes below it, by polling /proc (Linux)."""

from __future__ import annotations

import threading

from tests.harness.procs import descendants, parent_pids

__all__ = ["Sampler"]


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class Sampler(threading.Thread):
    """Polls the crawler's VmHWM and its descendants' summed RSS until stopped."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.crawler_kb = self.browser_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.crawler_kb = max(self.crawler_kb, _status_kb(self.pid, "VmHWM"))
            self.browser_kb = max(self.browser_kb, sum(_status_kb(p, "VmRSS") for p in descendants(parent_pids(), self.pid)))


