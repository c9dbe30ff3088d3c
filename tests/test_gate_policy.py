"""The gate table (darkcrawl/policy/gates.py): queues waited out, bans, "needs a person",
rounds bounded, the pace of a gated host.  Pure: the tests pass the time."""

from __future__ import annotations

import pytest

from darkcrawl.intel.gates import Gate
from darkcrawl.policy.gates import Action, GatePolicy, GateTable, Phase, Verdict

KEY = "tor@queued.onion"
QUEUE = Gate("queue", "endgame-queue", "queue page", wait=5.0)
BAN = Gate("ban", "endgame-ban", "ban page")
CAPTCHA = Gate("captcha", "captcha", "captcha")
PROXY = Gate("proxy_error", "i2p-proxy", "I2P proxy error")
LEASE = 30.0


def table(**policy) -> GateTable:
    return GateTable(GatePolicy(**{"margin": 1.0, "ban_wait": 20.0, "max_rounds": 3, "rest": 600.0, **policy}))


def test_a_host_never_gated_goes_unpaced():
    gates = table()
    assert gates.admit(KEY, 0.0, LEASE).verdict is Verdict.GO
    assert gates.pace(KEY, 0.0) == 0.0
    assert not gates.passed(KEY, None, 1.0)


def test_a_queue_is_waited_out_then_one_probe_goes_and_lets_the_crawl_in():
    gates = table()
    assert gates.met(KEY, QUEUE, None, 100.0) is Action.WAIT
    wait = gates.admit(KEY, 100.5, LEASE)
    assert wait.verdict is Verdict.WAIT and wait.wait == pytest.approx(5.5)  # 5 s asked, 1 s margin
    assert gates.admit(KEY, 105.9, LEASE).verdict is Verdict.WAIT
    probe = gates.admit(KEY, 106.0, LEASE)
    assert probe.verdict is Verdict.PROBE and probe.token is not None
    held = gates.admit(KEY, 106.1, LEASE)  # the others wait for the probe's outcome
    assert held.verdict is Verdict.WAIT and held.wait == pytest.approx(LEASE - 0.1)
    assert gates.passed(KEY, probe.token, 107.0)
    state = gates.hosts[KEY]
    assert (state.phase, state.passed, state.episodes, state.waited) == (Phase.OPEN, 1, 1, 7.0)
    assert gates.admit(KEY, 107.0, LEASE).verdict is Verdict.GO


def test_queue_pages_of_requests_that_crossed_in_flight_push_the_wait_but_count_no_round():
    gates = table()
    gates.met(KEY, QUEUE, None, 100.0)  # robots.txt and / went out together: two queue pages
    gates.met(KEY, QUEUE, None, 100.4)
    state = gates.hosts[KEY]
    assert state.rounds == 0 and state.not_before == pytest.approx(106.4)  # from the last cookie set
    assert gates.admit(KEY, 106.0, LEASE).verdict is Verdict.WAIT


def test_an_answer_to_a_request_sent_before_the_queue_tells_nothing():
    gates = table()
    gates.met(KEY, QUEUE, None, 100.0)
    assert not gates.passed(KEY, None, 100.2)  # robots.txt served outside the queue
    assert gates.hosts[KEY].phase is Phase.WAIT


def test_rounds_are_bounded_and_the_host_is_given_up_then_rested():
    gates = table()
    now = 0.0
    gates.met(KEY, QUEUE, None, now)
    for _round in range(3):
        now = gates.hosts[KEY].not_before
        probe = gates.admit(KEY, now, LEASE)
        assert probe.verdict is Verdict.PROBE
        assert gates.met(KEY, QUEUE, probe.token, now + 0.5) is Action.WAIT
    now = gates.hosts[KEY].not_before
    probe = gates.admit(KEY, now, LEASE)
    assert gates.met(KEY, QUEUE, probe.token, now + 0.5) is Action.GIVE_UP
    refused = gates.admit(KEY, now + 1, LEASE)
    assert refused.verdict is Verdict.REFUSE
    assert refused.reason.startswith("still gated after 4 rounds over 2") and "queue page" in refused.reason
    assert gates.met(KEY, QUEUE, None, now + 2) is Action.GIVE_UP  # a late answer changes nothing
    rested = gates.admit(KEY, now + 0.5 + 600, LEASE)
    assert rested.verdict is Verdict.PROBE and gates.hosts[KEY].episodes == 2


def test_a_queue_asking_for_more_than_the_longest_wait_is_given_up():
    gates = table(max_wait=60.0)
    assert gates.met(KEY, Gate("queue", "ddos-queue", "q", wait=3600.0), None, 0.0) is Action.GIVE_UP
    assert "asks for 3600 s, more than DARKCRAWL_GATE_MAX_WAIT (60 s)" in gates.admit(KEY, 1.0, LEASE).reason


def test_a_queue_page_with_no_delay_waits_the_default():
    gates = table(default_wait=10.0)
    gates.met(KEY, Gate("queue", "endgame-queue", "q"), None, 0.0)
    assert gates.hosts[KEY].not_before == 11.0


def test_a_ban_waits_for_a_fresh_start():
    gates = table()
    assert gates.met(KEY, BAN, None, 50.0) is Action.WAIT  # an open host banned us
    state = gates.hosts[KEY]
    assert (state.phase, state.bans, state.not_before) == (Phase.WAIT, 1, 70.0)
    gates.met(KEY, BAN, None, 55.0)  # a request sent before: a late answer, not a new ban
    assert state.bans == 1 and state.not_before == 75.0
    assert gates.met(KEY, Gate("ban", "rate-limited", "429", wait=90.0), None, 80.0) is Action.WAIT
    assert state.bans == 2 and state.not_before == 170.0  # Retry-After longer than the ban wait


def test_a_host_that_keeps_banning_is_given_up():
    gates = table()
    now = 0.0
    for _ban in range(3):
        gates.met(KEY, BAN, None, now)
        now = gates.hosts[KEY].not_before
        probe = gates.admit(KEY, now, LEASE)
        assert gates.passed(KEY, probe.token, now)  # lets us in, then bans again
    assert gates.met(KEY, BAN, None, now) is Action.GIVE_UP
    assert gates.admit(KEY, now + 1, LEASE).reason.startswith("banned 4 times")


def test_a_probe_whose_connection_dies_is_a_ban():
    gates = table()
    gates.met(KEY, QUEUE, None, 0.0)
    probe = gates.admit(KEY, 6.0, LEASE)
    assert not gates.dropped(KEY, None, 6.2)  # not the probe: nothing is known
    assert gates.dropped(KEY, probe.token, 6.2)
    state = gates.hosts[KEY]
    assert (state.bans, state.rounds, state.kind, state.not_before) == (1, 1, "ban", 26.2)
    assert not gates.dropped(KEY, probe.token, 7.0)  # told once


def test_a_released_probe_lets_the_next_request_probe():
    gates = table()
    gates.met(KEY, QUEUE, None, 0.0)
    probe = gates.admit(KEY, 6.0, LEASE)
    gates.released(KEY, probe.token)
    assert gates.admit(KEY, 6.1, LEASE).verdict is Verdict.PROBE


def test_a_lost_probe_is_replaced_when_its_lease_ends():
    gates = table()
    gates.met(KEY, QUEUE, None, 0.0)
    gates.admit(KEY, 6.0, LEASE)
    assert gates.admit(KEY, 6.0 + LEASE, LEASE).verdict is Verdict.PROBE


def test_a_captcha_needs_a_person_until_new_cookies_are_imported():
    gates = table()
    assert gates.met(KEY, CAPTCHA, None, 0.0, cookies="v1") is Action.PERSON
    refused = gates.admit(KEY, 1.0, LEASE, cookies="v1")
    assert refused.verdict is Verdict.REFUSE and refused.reason == f"{KEY} needs a person (captcha)"
    assert gates.admit(KEY, 2.0, LEASE, cookies=None).verdict is Verdict.REFUSE
    probe = gates.admit(KEY, 3.0, LEASE, cookies="v2")  # cookies imported: try them
    assert probe.verdict is Verdict.PROBE
    assert gates.admit(KEY, 3.1, LEASE, cookies="v2").verdict is Verdict.WAIT
    assert gates.passed(KEY, probe.token, 4.0)
    assert gates.admit(KEY, 4.0, LEASE, cookies="v2").verdict is Verdict.GO


def test_cookies_that_do_not_open_the_captcha_need_a_person_again():
    gates = table()
    gates.met(KEY, CAPTCHA, None, 0.0, cookies=None)
    probe = gates.admit(KEY, 1.0, LEASE, cookies="v1")
    assert gates.met(KEY, CAPTCHA, probe.token, 2.0, cookies="v1") is Action.PERSON
    assert gates.admit(KEY, 3.0, LEASE, cookies="v1").verdict is Verdict.REFUSE


def test_a_proxy_error_page_changes_nothing():
    gates = table()
    assert gates.met(KEY, PROXY, None, 0.0) is Action.NONE
    assert KEY not in gates.hosts
    assert gates.admit(KEY, 0.0, LEASE).verdict is Verdict.GO


def test_waiting_says_whether_a_queue_is_being_waited_out():
    gates = table()
    assert not gates.waiting()
    gates.met(KEY, QUEUE, None, 0.0)
    assert gates.waiting()
    probe = gates.admit(KEY, 6.0, LEASE)
    gates.passed(KEY, probe.token, 6.5)
    assert not gates.waiting()


@pytest.mark.parametrize(
    ("rate", "burst", "arrivals", "turns"),
    [
        # 2/s, 3 at once: a burst of 5 gets 3 now, then one every half second
        (2.0, 3, [0, 0, 0, 0, 0], [0, 0, 0, 0.5, 1.0]),
        # spaced arrivals are not held
        (2.0, 3, [0, 1, 2, 3], [0, 1, 2, 3]),
        # after a pause the burst is available again
        (2.0, 3, [0, 0, 0, 0, 10, 10, 10, 10], [0, 0, 0, 0.5, 10, 10, 10, 10.5]),
        (6.0, 1, [0, 0, 0], [0, 1 / 6, 2 / 6]),
    ],
)
def test_a_gated_host_is_paced(rate, burst, arrivals, turns):
    gates = table(rate=rate, burst=burst)
    gates.met(KEY, QUEUE, None, -100.0)  # gated once: paced from then on
    assert [arrival + gates.pace(KEY, arrival) for arrival in arrivals] == pytest.approx(turns)


def test_pacing_never_lets_more_than_burst_plus_rate_through_in_any_second():
    gates = table(rate=2.0, burst=3)
    gates.met(KEY, QUEUE, None, -100.0)
    turns = [t / 10 + gates.pace(KEY, t / 10) for t in range(200)]  # 10 requests a second asked for
    for start in turns:
        assert sum(1 for t in turns if start <= t < start + 1.0) <= 3 + 2


def test_the_policy_is_checked():
    with pytest.raises(ValueError, match="max_rounds"):
        GatePolicy(max_rounds=0)
    with pytest.raises(ValueError, match="burst"):
        GatePolicy(burst=0)
