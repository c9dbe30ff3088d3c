"""Measuring a subprocess of the render benchmark and its whole tree (Chromium included)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.render.variants import PROJECT_ROOT
from tests.harness.procs import descendants

# --------------------------------------------------------------------------
# 5. Measuring a subprocess and its whole tree (incl. Chromium)
# --------------------------------------------------------------------------

_CLK = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _set_subreaper() -> bool:
    """Orphans of our tree (Chromium's zygote, a killed driver's browser) are
    re-parented to us, so we can see, measure, kill and reap them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except OSError:
        return False


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, utime+stime ticks, rss pages), for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        rest = data[data.rfind(b")") + 2 :].split()
        # rest[0] = state (field 3); ppid = field 4, utime 14, stime 15, rss 24
        table[int(name)] = (int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[21]))
    return table


def _descendants(table: dict[int, tuple[int, int, int]], root: int) -> list[int]:
    return descendants({pid: ppid for pid, (ppid, _, _) in table.items()}, root)


def _kind(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    # Chromium rewrites its command line into one space-separated string.
    args = b" ".join(cmd).split()
    if b"bench.render" in args:
        return "python"
    if b"run-driver" in args or (args and args[0].endswith(b"node")):
        return "node-driver"
    for arg in args:
        if arg.startswith(b"--type="):
            t = arg[7:].decode()
            if t == "utility":
                for a in args:
                    if a.startswith(b"--utility-sub-type="):
                        return "utility:" + a.split(b".")[-1].decode()
            return t
    if args and b"chrom" in args[0]:
        return "browser"
    return Path(args[0].decode(errors="replace")).name if args else "?"


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Measured:
    returncode: int | None
    wall_s: float
    cpu_s: float  # RUSAGE_CHILDREN delta: the worker and every process of its tree
    peak_rss_mb: float  # max over samples of the summed RSS of the tree
    peak_pss_mb: float  # same with PSS (shared pages split): closer to real use
    peak_procs: int
    cpu_by_kind: dict[str, float]
    cpu_by_thread: dict[str, float]
    leftovers: list[str]
    timed_out: bool
    server_cpu_s: float
    machine_busy_s: float  # every process on the machine, during the crawl
    rss_quarters_mb: list[float] = field(default_factory=list)  # peak tree RSS in each quarter of the run


def _chromium_pids() -> list[str]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and b"chrom" in Path(cmd[0].decode(errors="replace")).name.encode():
                out.append(f"{name} {b' '.join(cmd)[:120].decode(errors='replace')}")
    return out


def _cpu_busy_s() -> float:
    """Machine-wide busy CPU seconds so far (all cores, all processes)."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] if len(f) > 7 else 0)) / _CLK


def wait_idle(max_wait: float, threshold: float = 0.15) -> float:
    """Wait until the machine is quiet (< ``threshold`` cores busy over 1 s).

    Other people's jobs on the same machine distort a CPU-bound benchmark;
    returns the cores that were still busy when we gave up or went ahead.
    """
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = _cpu_busy_s(), time.monotonic()
        time.sleep(1.0)
        busy = (_cpu_busy_s() - b0) / (time.monotonic() - t0)
        if busy < threshold or time.monotonic() > deadline:
            return busy
        time.sleep(2.0)


def _alive(pid: int) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :].split()[0] != b"Z"


def reap_tree(grace: float = 5.0) -> list[str]:
    """After a child exited: wait for, kill and reap whatever is left of its tree.

    Anything still in our tree is an orphan re-parented to us (we are a
    subreaper): Chromium's zygote or renderers, or a browser whose driver
    died. Give it ``grace`` seconds to exit, then SIGKILL it by pid. Returns
    what had to be killed.
    """
    me = os.getpid()
    deadline = time.monotonic() + grace
    while True:
        alive = [p for p in _descendants(_proc_table(), me) if _alive(p)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    leftovers = []
    for pid in alive:
        leftovers.append(f"{pid} {_kind(pid)}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Reap every child: zombies re-parented to us and the killed leftovers.
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if alive else os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    return leftovers


def _thread_ticks(pid: int) -> list[tuple[int, str, int]]:
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        comm = data[data.find(b"(") + 1 : data.rfind(b")")].decode(errors="replace")
        rest = data[data.rfind(b")") + 2 :].split()
        out.append((int(tid), comm.rstrip("0123456789"), int(rest[11]) + int(rest[12])))
    return out


def run_tree(cmd: list[str], *, log: Path, timeout: float, interval: float = 0.25,
             per_thread: bool = False, env_extra: dict[str, str] | None = None) -> Measured:
    me = os.getpid()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    busy_before = _cpu_busy_s()
    cpu_last: dict[int, tuple[str, int]] = {}
    kinds: dict[int, str] = {}
    threads: dict[tuple[int, int], tuple[str, str, int]] | None = {} if per_thread else None
    peak_rss = peak_pss = peak_procs = 0
    rss_samples: list[tuple[float, int]] = []
    timed_out = False
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env_extra or {})}
    with log.open("wb") as fh:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=str(PROJECT_ROOT), env=env, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    n = 0
    try:
        while proc.poll() is None:
            table = _proc_table()
            tree = _descendants(table, me)
            rss = 0
            for pid in tree:
                # Re-read until it settles: a fresh process still shows its parent's
                # command line (the chromium shell wrapper, the zygote) for a while.
                if kinds.get(pid) in (None, "sh", "zygote", "?", "browser"):
                    kind = _kind(pid)
                    if kind != "?" or pid not in kinds:  # an exiting process has no command line
                        kinds[pid] = kind
                cpu_last[pid] = (kinds[pid], table[pid][1])
                if threads is not None:
                    for tid, comm, ticks in _thread_ticks(pid):
                        threads[(pid, tid)] = (kinds[pid], comm, ticks)
                rss += table[pid][2]
            peak_rss = max(peak_rss, rss * _PAGE_KB)
            rss_samples.append((time.perf_counter() - started, rss * _PAGE_KB))
            peak_procs = max(peak_procs, len(tree))
            if n % 2 == 0:  # PSS is dearer to read
                peak_pss = max(peak_pss, sum(_pss_kb(pid) for pid in tree))
            n += 1
            if time.perf_counter() - started > timeout and not timed_out:
                timed_out = True
                for pid in tree:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(interval)
    except BaseException:  # Ctrl-C/SIGTERM: the crawl's tree is in its own session, take it down too
        for pid in _descendants(_proc_table(), me):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reap_tree(grace=0)
        raise
    wall = time.perf_counter() - started
    busy = _cpu_busy_s() - busy_before
    leftovers = reap_tree()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    quarters = [0] * 4
    for t, kb in rss_samples:
        q = min(3, int(4 * t / wall)) if wall else 0
        quarters[q] = max(quarters[q], kb)
    by_kind: dict[str, float] = {}
    for kind, ticks in cpu_last.values():
        k = kind.split(":")[0] if kind.startswith("utility") and kind != "utility:mojom" else kind
        by_kind[k] = by_kind.get(k, 0.0) + ticks / _CLK
    by_thread: dict[str, float] = {}
    for kind, comm, ticks in (threads or {}).values():
        key = f"{kind.split(':')[0]}/{comm}"
        by_thread[key] = by_thread.get(key, 0.0) + ticks / _CLK
    return Measured(
        cpu_by_thread={k: round(val, 2) for k, val in sorted(by_thread.items(), key=lambda kv: -kv[1])
                       if val >= 0.2},
        returncode=proc.returncode,
        wall_s=wall,
        cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        peak_rss_mb=peak_rss / 1024,
        peak_pss_mb=peak_pss / 1024,
        peak_procs=peak_procs,
        cpu_by_kind={k: round(val, 2) for k, val in sorted(by_kind.items(), key=lambda kv: -kv[1])},
        leftovers=leftovers,
        timed_out=timed_out,
        machine_busy_s=busy,
        server_cpu_s=(self_after.ru_utime - self_before.ru_utime) + (self_after.ru_stime - self_before.ru_stime),
        rss_quarters_mb=[round(kb / 1024) for kb in quarters],
    )

