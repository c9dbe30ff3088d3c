"""Whether a process of this machine is alive: a fleet's dead worker, a killed crawl's open WARC file."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: the calling process gets SIGKILL when its parent (the crawl) dies, however
    it dies: a writer process never outlives a crawl killed with ``kill -9``."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
