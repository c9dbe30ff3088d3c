"""Run one command as a child and measure it the same way for every crawler."""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Measurement:
    returncode: int | None
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_kb: int
    timed_out: bool
    interrupted: bool

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class _ExitWatcher:
    """Wait for a child's exit with a timeout, without polling or threads.

    A pidfd becomes readable when the process exits (Linux >= 5.3); where
    that is unavailable we fall back to short sleeps. Threads are avoided on
    purpose: a Ctrl-C that interrupts Thread.join() can leave the thread
    looking dead while it still runs.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.poller: select.poll | None = None
        self.fd = -1
        try:
            self.fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            return
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)

    def wait(self, timeout: float) -> tuple[int, int, resource.struct_rusage] | None:
        """Reap the child if it exits within ``timeout`` seconds."""
        if self.poller is not None:
            self.poller.poll(int(timeout * 1000))
        else:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
                if pid:
                    return pid, status, rusage
                time.sleep(0.01)
        pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
        return (pid, status, rusage) if pid else None

    def __enter__(self) -> _ExitWatcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)


def run_measured(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdout: Path,
    stderr: Path,
    timeout: float,
    term_grace: float = 20.0,
) -> Measurement:
    """Run ``cmd``; kill it after ``timeout`` seconds.

    CPU time is the RUSAGE_CHILDREN delta around the run: it covers the
    child and every descendant it waited for, and nothing else runs as our
    child meanwhile (nginx is never reaped before the end). Peak RSS comes
    from wait4() on this very child, because RUSAGE_CHILDREN's ru_maxrss is
    the maximum over *all* children ever reaped, i.e. also earlier crawls.
    On timeout or Ctrl-C the process group gets SIGTERM (Scrapy then shuts down
    gracefully and still writes its stats), then SIGKILL after
    ``term_grace`` seconds.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            # Own process group: Ctrl-C reaches only the runner, which then
            # stops the crawler itself, and a timeout can kill the whole tree.
            start_new_session=True,
        )
    deadline = started + timeout
    timed_out = interrupted = False
    kill_at: float | None = None
    waited: tuple[int, int, resource.struct_rusage] | None = None
    with _ExitWatcher(proc.pid) as watcher:
        while waited is None:
            try:
                waited = watcher.wait(0.5)
                now = time.perf_counter()
                if waited is None and not timed_out and now >= deadline:
                    timed_out = True
                    _kill_group(proc.pid, signal.SIGTERM)
                    kill_at = now + term_grace
                if waited is None and kill_at is not None and now >= kill_at:
                    _kill_group(proc.pid, signal.SIGKILL)
                    kill_at = None
            except KeyboardInterrupt:
                # Stop the child the same way as on timeout, then keep
                # waiting so that it is reaped and measured.
                if not interrupted:
                    interrupted = True
                    _kill_group(proc.pid, signal.SIGTERM)
                    kill_at = time.perf_counter() + term_grace
                else:
                    _kill_group(proc.pid, signal.SIGKILL)
            except ChildProcessError:
                # Reaped, but a Ctrl-C landed between wait4() and the
                # assignment: the exit status and peak RSS are lost.
                break
    ended = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)

    returncode: int | None = None
    peak_rss_kb = 0
    if waited is not None:
        _pid, status, rusage = waited
        returncode = os.waitstatus_to_exitcode(status)
        peak_rss_kb = int(rusage.ru_maxrss)  # kilobytes on Linux
    # We reaped the child ourselves; tell Popen so it never waits again.
    proc.returncode = returncode if returncode is not None else -1
    return Measurement(
        returncode=returncode,
        wall_s=ended - started,
        user_s=after.ru_utime - before.ru_utime,
        sys_s=after.ru_stime - before.ru_stime,
        peak_rss_kb=peak_rss_kb,
        timed_out=timed_out,
        interrupted=interrupted,
    )
