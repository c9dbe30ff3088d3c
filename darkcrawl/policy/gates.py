"""Gated hosts: a queue waited out as it asks, bans, "needs a person", the pace of a gated host.

Pure: every host's :class:`HostGate` under one :class:`GatePolicy`; the caller passes
the time (one monotonic clock) and acts on what it is told.

A host (a download slot, ``<network>@<service>``) that answers with a gate
(:mod:`darkcrawl.intel.gates`) is in one of these phases:

* ``WAIT``: a queue or a ban.  Nothing goes to the host before ``not_before`` (the
  delay the queue page asked for, plus a margin; after a ban, ``ban_wait``); then
  one request goes, the *probe*, and the others wait for its outcome.  An answer
  that is no gate lets the crawl in (``OPEN``); another queue page or ban is one
  more *round*, and a host still gated after ``max_rounds`` rounds is given up.
  Only the probe's answer counts as a round: answers to requests sent before the
  queue began (the host's first requests cross in flight) only push ``not_before``
  further.
* ``PERSON``: a captcha or a login wall.  The crawl cannot pass it alone: the
  host's requests are refused until the cookies imported for it change
  (``scrapy cookies import``), then one probe tries them.
* ``GAVE_UP``: the queue never let us in; requests are refused for ``rest``
  seconds, then a new episode may begin.
* ``OPEN``: behind the gate (or no gate yet).

Every host that ever showed a gate (or had cookies imported for it) is *paced*: its requests (plain stage, the
render's page and every resource the browser loads from it) leave at most
``rate`` per second, ``burst`` at once (GCRA, :meth:`GateTable.pace`), well below
what such fronts ban (EndGame: 6 requests/s per circuit and per cookie, 10 at once).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import Enum

from darkcrawl.intel.gates import NEEDS_PERSON, Gate

__all__ = ["Action", "Admission", "GatePolicy", "GateTable", "HostGate", "Phase", "Verdict"]


@dataclass(frozen=True, slots=True)
class GatePolicy:
    margin: float = 1.0  # seconds added to the wait a queue asks for
    default_wait: float = 10.0  # a queue page that names no delay: EndGame's refresh
    max_wait: float = 300.0  # a queue asking for longer is given up
    max_rounds: int = 6  # queue pages or bans in a row, after the first, before giving up
    ban_wait: float = 30.0  # seconds before a fresh start after a ban
    rest: float = 3600.0  # a given-up host is left alone this long
    rate: float = 2.0  # requests per second to a gated host (0: not paced)
    burst: int = 3  # of which this many may leave at once

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds={self.max_rounds}: expected at least 1")
        if self.rate < 0 or self.burst < 1:
            raise ValueError(f"rate={self.rate}, burst={self.burst}: expected rate >= 0 and burst >= 1")


class Phase(Enum):
    OPEN = "open"
    WAIT = "wait"
    PERSON = "person"
    GAVE_UP = "gave_up"


class Verdict(Enum):
    GO = "go"  # not held (paced all the same when the host is gated)
    PROBE = "probe"  # the one request that tries the host after a wait
    WAIT = "wait"  # ask again in ``Admission.wait`` seconds (or when woken)
    REFUSE = "refuse"  # fail the request: ``Admission.reason`` says why


class Action(str, Enum):
    """What the crawl does about the page that showed a gate."""

    WAIT = "wait"  # fetch it again once the host lets us (queue, ban)
    PERSON = "person"  # leave it: the host needs a person
    GIVE_UP = "give_up"  # leave it: the gate never opened
    NONE = "none"  # nothing (a proxy's error page: retries and backoff deal with it)


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    wait: float = 0.0
    token: int | None = None
    reason: str = ""


@dataclass(slots=True)
class HostGate:
    kind: str = ""  # the gate met last
    rule: str = ""
    evidence: str = ""
    phase: Phase = Phase.OPEN
    not_before: float = 0.0
    probe: int | None = None
    probe_until: float = 0.0
    rounds: int = 0  # in the current episode
    episode_start: float = 0.0
    episodes: int = 0  # times a queue, ban or person gate closed the host
    passed: int = 0  # episodes that ended behind the gate
    bans: int = 0
    waited: float = 0.0  # seconds of episodes that ended behind the gate
    reason: str = ""  # why it was given up, or needs a person
    person_mark: str | None = None  # the imported cookies' version when it needed a person
    tat: float = 0.0  # pacing: the next request's theoretical time (GCRA)


class GateTable:
    """Every gated host's :class:`HostGate` under one :class:`GatePolicy`."""

    def __init__(self, policy: GatePolicy) -> None:
        self.policy = policy
        self.hosts: dict[str, HostGate] = {}
        self._tokens = itertools.count(1)

    # -- before a request -------------------------------------------------------------------

    def admit(self, key: str, now: float, lease: float, cookies: str | None = None) -> Admission:
        """May a request to *key* go now?  A probe holds the host for *lease* seconds at
        most; *cookies*: the version of the cookies imported for the host."""
        state = self.hosts.get(key)
        if state is None or state.phase is Phase.OPEN:
            return Admission(Verdict.GO)
        if state.phase is Phase.PERSON:
            if cookies is None or cookies == state.person_mark:
                return Admission(Verdict.REFUSE, reason=state.reason)
            self._begin(state, now)  # new cookies: try them
            state.not_before = now
        if state.phase is Phase.GAVE_UP:
            if now < state.not_before:
                return Admission(Verdict.REFUSE, reason=state.reason)
            state.bans = 0
            self._begin(state, now)  # rested: a new episode
            state.not_before = now
        if state.probe is not None and now < state.probe_until:
            return Admission(Verdict.WAIT, state.probe_until - now)
        if now < state.not_before:
            return Admission(Verdict.WAIT, state.not_before - now)
        state.probe = next(self._tokens)
        state.probe_until = now + lease
        return Admission(Verdict.PROBE, token=state.probe)

    def pace(self, key: str, now: float) -> float:
        """Seconds a request to *key* waits for its turn (0 for a host never gated); the
        turn is reserved by asking."""
        state = self.hosts.get(key)
        policy = self.policy
        if state is None or policy.rate <= 0:
            return 0.0
        interval = 1.0 / policy.rate
        tat = max(state.tat, now)
        turn = max(now, tat - (policy.burst - 1) * interval)
        state.tat = max(tat, turn) + interval
        return turn - now

    def watch(self, key: str) -> HostGate:
        """Pace *key* from now on without a gate met (cookies were imported for it: a person
        passed its gate, and the front behind it still counts every request)."""
        return self.hosts.setdefault(key, HostGate())

    def waiting(self) -> bool:
        """Whether some host's queue is being waited out (its circuit must not change)."""
        return any(state.phase is Phase.WAIT for state in self.hosts.values())

    # -- after an answer ------------------------------------------------------------------

    def met(self, key: str, gate: Gate, token: int | None, now: float, cookies: str | None = None) -> Action:
        """The host answered with *gate* (*token*: the request's probe token, if any)."""
        if gate.kind == "proxy_error":
            return Action.NONE
        state = self.hosts.setdefault(key, HostGate())
        state.kind, state.rule, state.evidence = gate.kind, gate.rule, gate.evidence
        probed = token is not None and token == state.probe
        if probed:
            state.probe = None
        if gate.kind in NEEDS_PERSON:
            if state.phase is not Phase.PERSON:
                self._begin(state, now)
            state.phase = Phase.PERSON
            state.person_mark = cookies
            state.reason = f"{key} needs a person ({gate.evidence})"
            return Action.PERSON
        if state.phase is Phase.GAVE_UP:
            return Action.GIVE_UP
        if state.phase is not Phase.WAIT:
            self._begin(state, now)
        elif probed:
            state.rounds += 1
        if gate.kind == "ban" and now >= state.not_before:  # not the late answer of a request sent before
            state.bans += 1
        asked = gate.wait if gate.wait is not None else self.policy.default_wait
        if asked > self.policy.max_wait:
            return self._give_up(state, now, f"its gate asks for {asked:g} s, more than DARKCRAWL_GATE_MAX_WAIT "
                                             f"({self.policy.max_wait:g} s)")
        if state.rounds > self.policy.max_rounds or state.bans > self.policy.max_rounds:
            return self._give_up(state, now, self._still_gated(state, now))
        wait = self._wait_for(gate)
        state.not_before = max(state.not_before, now + wait)
        return Action.WAIT

    def passed(self, key: str, token: int | None, now: float) -> bool:
        """The host answered with its content.  True when that ended a wait (the crawl
        got behind the gate)."""
        state = self.hosts.get(key)
        if state is None or state.phase is Phase.OPEN:
            return False
        probed = token is not None and token == state.probe
        if not probed:
            # a request sent before the gate closed the host (or one it lets through,
            # robots.txt say): it tells nothing about the gate
            return False
        state.probe = None
        state.phase = Phase.OPEN
        state.passed += 1
        state.waited += now - state.episode_start
        state.rounds = 0
        state.reason = ""
        return True

    def dropped(self, key: str, token: int | None, now: float) -> bool:
        """The probe's connection died without an answer: what EndGame does to a
        request that came back too early (it kills the circuit, bans the cookie).
        True when that is taken for a ban."""
        state = self.hosts.get(key)
        if state is None or token is None or token != state.probe or state.phase is not Phase.WAIT:
            return False
        state.probe = None
        state.rounds += 1
        state.bans += 1
        state.kind, state.rule = "ban", "dropped"
        state.evidence = "the connection was closed without an answer right after the wait (a ban)"
        state.not_before = max(state.not_before, now + self.policy.ban_wait)
        if state.rounds > self.policy.max_rounds or state.bans > self.policy.max_rounds:
            self._give_up(state, now, self._still_gated(state, now))
        return True

    def released(self, key: str, token: int | None) -> None:
        """A probe ended without telling anything about the host: the next request probes."""
        state = self.hosts.get(key)
        if state is not None and token is not None and state.probe == token:
            state.probe = None

    # -- helpers ----------------------------------------------------------------------------

    def _begin(self, state: HostGate, now: float) -> None:
        state.phase = Phase.WAIT
        state.episodes += 1
        state.episode_start = now
        state.rounds = 0
        state.not_before = now
        state.probe = None
        state.reason = ""

    def _wait_for(self, gate: Gate) -> float:
        if gate.kind == "ban":
            return max(self.policy.ban_wait, gate.wait or 0.0)
        asked = gate.wait if gate.wait is not None else self.policy.default_wait
        return asked + self.policy.margin

    @staticmethod
    def _still_gated(state: HostGate, now: float) -> str:
        what = f"banned {state.bans} times" if state.bans > state.rounds else f"still gated after {state.rounds} rounds"
        return f"{what} over {now - state.episode_start:.0f} s ({state.evidence})"

    def _give_up(self, state: HostGate, now: float, why: str) -> Action:
        state.phase = Phase.GAVE_UP
        state.reason = why
        state.not_before = now + self.policy.rest
        state.probe = None
        return Action.GIVE_UP
