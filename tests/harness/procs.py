"""Process trees from /proc (Linux): who is below a crawl (its browser, its driver)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Any

__all__ = ["descendants", "parent_pids", "stop"]


def parent_pids() -> dict[int, int]:
    """pid -> parent pid of every process now in /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                # the command may hold spaces and parentheses: the ppid follows the last ")"
                parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return parents


def descendants(parents: Mapping[int, int], root: int) -> list[int]:
    """Every pid below *root* (children, their children, ...), given each pid's parent."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def stop(process: subprocess.Popen[Any], signal_number: int, timeout: float) -> None:
    """Ask *process* to stop with *signal_number* (its clean shutdown), kill it after *timeout* seconds."""
    process.send_signal(signal_number)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
