"""Backoff of dead hosts: the policy and every host's state, pure (the caller passes the time).

A host (a download slot: ``<network>@<service>``) that fails ``after`` times in a row
is *backed off*: its requests wait ``base`` seconds, doubled at every further
failure, capped at ``maximum`` and shortened by a random fraction of up to
``jitter`` so that hosts that failed together do not come back together.  When the
wait is over one request goes through, the probe, while the others keep waiting:
its success ends the backoff (any answer from the host does), its failure doubles
the wait.  Failures of requests that were already under way when the backoff began
tell nothing new, so they do not double it.

After ``give_up`` failures in a row (0: never) the host is given up: its requests
fail at once instead of waiting, and one probe every ``maximum`` seconds still
checks whether it came back.  A host that could not even be reached ``dead_after``
times in a row (connection refused or timed out, name unresolvable: the caller
says which failures are such) is given up then, sooner: a dead host's queued
requests would otherwise each wait for a probe that times out like the ones before.
In a one-round crawl the backed-off hosts are probed at once when nothing else is
left (:meth:`BackoffTable.hurry`), but a given-up host is not: its requests fail.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from enum import Enum

__all__ = ["Admission", "BackoffPolicy", "BackoffTable", "Event", "HostState", "Verdict"]

#: Doubling stops here: 2**64 times any base is past any sane maximum, and 2.0**n
#: overflows a float from n = 1024.
_MAX_DOUBLINGS = 64


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    after: int = 3
    base: float = 10.0
    maximum: float = 600.0
    give_up: int = 10
    jitter: float = 0.25
    dead_after: int = 0

    def __post_init__(self) -> None:
        if self.after < 1:
            raise ValueError(f"after={self.after}: expected at least 1 failure")
        if not 0 < self.base <= self.maximum:
            raise ValueError(f"base={self.base}, maximum={self.maximum}: expected 0 < base <= maximum")
        if self.give_up and self.give_up < self.after:
            raise ValueError(f"give_up={self.give_up}: expected 0 (never) or at least after={self.after}")
        if self.dead_after and self.dead_after < self.after:
            raise ValueError(f"dead_after={self.dead_after}: expected 0 (off) or at least after={self.after}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter={self.jitter}: expected a fraction between 0 and 1")

    def delay(self, failures: int, rand: float = 0.0) -> float:
        """Seconds to wait after *failures* failures in a row; *rand* in [0, 1) picks the jitter."""
        if failures < self.after:
            return 0.0
        doublings = min(failures - self.after, _MAX_DOUBLINGS)
        return min(self.base * 2.0**doublings, self.maximum) * (1.0 - self.jitter * rand)


class Verdict(Enum):
    GO = "go"  # the host is not backed off
    PROBE = "probe"  # the one request that tries a backed-off host
    WAIT = "wait"  # backed off: ask again in ``Admission.wait`` seconds (or when woken)
    DROP = "drop"  # given up: fail the request at once


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    wait: float = 0.0
    #: identifies a probe, to tell its outcome from that of requests sent before it
    token: int | None = None


class Event(Enum):
    BACKOFF = "backoff"  # the host just reached ``after`` failures in a row
    ESCALATED = "escalated"  # a probe failed: the wait doubles
    GAVE_UP = "gave_up"  # the host just reached ``give_up`` failures in a row
    RECOVERED = "recovered"  # a backed-off host answered


@dataclass(slots=True)
class HostState:
    failures: int = 0  # in a row
    unreachable: int = 0  # in a row, of those: the host could not be reached at all
    last_error: str = ""
    last_failure: float | None = None
    next_try: float = 0.0
    probe: int | None = None
    probe_until: float = 0.0
    backoffs: int = 0  # times the host entered backoff
    gave_up: bool = False
    probes: int = 0
    delayed: int = 0
    dropped: int = 0

    def status(self, after: int, now: float) -> str:
        """What the host's row in the state file says: failing, backoff, probing, gave_up, recovered, ok."""
        if self.failures >= after:
            if self.probe is not None and now < self.probe_until:
                return "probing"
            return "gave_up" if self.gave_up else "backoff"
        if self.failures:
            return "failing"
        return "recovered" if self.backoffs else "ok"


class BackoffTable:
    """Every host's :class:`HostState` under one :class:`BackoffPolicy`.

    Times are seconds on one monotonic clock, passed in by the caller; *rand* returns
    the jitter draw in [0, 1).
    """

    def __init__(self, policy: BackoffPolicy, rand: random.Random | None = None) -> None:
        self.policy = policy
        self.hosts: dict[str, HostState] = {}
        self._rand = rand or random.Random()  # noqa: S311 - jitter, not cryptography
        self._tokens = itertools.count(1)

    def backed_off(self, state: HostState) -> bool:
        return state.failures >= self.policy.after

    def admit(self, key: str, now: float, lease: float) -> Admission:
        """May a request to *key* go now?  A probe holds the host for *lease* seconds at most
        (its outcome may never come back, e.g. when a later middleware answers for it)."""
        state = self.hosts.get(key)
        if state is None or not self.backed_off(state):
            return Admission(Verdict.GO)
        if state.probe is not None and now < state.probe_until:
            if state.gave_up:
                state.dropped += 1
                return Admission(Verdict.DROP)
            return Admission(Verdict.WAIT, state.probe_until - now)
        if now >= state.next_try:
            state.probe = next(self._tokens)
            state.probe_until = now + lease
            state.probes += 1
            return Admission(Verdict.PROBE, token=state.probe)
        if state.gave_up:
            state.dropped += 1
            return Admission(Verdict.DROP)
        return Admission(Verdict.WAIT, state.next_try - now)

    def succeeded(self, key: str) -> Event | None:
        """The host answered (whichever request it was): it is alive."""
        state = self.hosts.get(key)
        if state is None:
            return None
        was_backed_off = self.backed_off(state)
        if not state.backoffs:
            del self.hosts[key]  # a few failures, never backed off: nothing worth keeping
            return None
        state.failures = 0
        state.unreachable = 0
        state.gave_up = False
        state.probe = None
        state.next_try = 0.0
        return Event.RECOVERED if was_backed_off else None

    def hurry(self, now: float) -> list[str]:
        """Let every backed-off host be probed now (nothing else is left to do); returns them.

        Given-up hosts are left out: their requests fail at once anyway, and a probe
        of a dead host would only hold the end of the round for one more timeout."""
        hurried = []
        for key, state in self.hosts.items():
            if self.backed_off(state) and not state.gave_up and state.next_try > now:
                state.next_try = now
                hurried.append(key)
        return hurried

    def released(self, key: str, token: int | None) -> None:
        """A probe ended without telling anything about the host: the next request probes."""
        state = self.hosts.get(key)
        if state is not None and token is not None and state.probe == token:
            state.probe = None

    def failed(self, key: str, token: int | None, now: float, error: str,
               unreachable: bool = False) -> tuple[Event, ...]:
        """A request to *key* failed; *token* is the probe's, None for any other request;
        *unreachable*: the host could not be reached at all (refused, timed out, no name).

        Returns what changed: nothing, BACKOFF or ESCALATED, possibly followed by GAVE_UP."""
        state = self.hosts.setdefault(key, HostState())
        state.last_error = error
        state.last_failure = now
        if self.backed_off(state):
            if token is None or token != state.probe:
                return ()  # sent before the backoff began (or a probe whose lease ran out)
            state.probe = None
        state.failures += 1
        state.unreachable = state.unreachable + 1 if unreachable else 0
        policy = self.policy
        if state.failures < policy.after:
            return ()
        state.next_try = now + policy.delay(state.failures, self._rand.random())
        if state.failures == policy.after:
            state.backoffs += 1
            events: tuple[Event, ...] = (Event.BACKOFF,)
        else:
            events = (Event.ESCALATED,)
        dead = policy.dead_after and state.unreachable >= policy.dead_after
        if (dead or (policy.give_up and state.failures >= policy.give_up)) and not state.gave_up:
            state.gave_up = True
            events += (Event.GAVE_UP,)
        return events
