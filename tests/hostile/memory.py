"""Peak memory of a crawl and of the processes below it, by polling /proc (Linux)."""

from __future__ import annotations

import os
import threading

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


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                # the command may hold spaces and parentheses: the ppid follows the last ")"
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


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
            self.browser_kb = max(self.browser_kb, sum(_status_kb(p, "VmRSS") for p in _descendants(self.pid)))


