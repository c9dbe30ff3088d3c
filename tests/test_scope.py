import pytest

from darkcrawl.frontier.freshness import RevisitSchedule
from darkcrawl.frontier.scope import ListRule, Scope, TrapRules
from darkcrawl.frontier.seen import MemorySeenSet


def scope(links=((), (), ""), networks=((), (), ""), mimes=((), (), "")) -> Scope:
    return Scope(
        links=ListRule.build(list(links[0]), list(links[1]), links[2]),
        networks=ListRule.build(list(networks[0]), list(networks[1]), networks[2]),
        mimes=ListRule.build(list(mimes[0]), list(mimes[1]), mimes[2]),
        traps=TrapRules(),
    )


@pytest.mark.parametrize(
    ("lists", "host", "allowed"),
    [
        (((), (), ""), "a.org", True),
        (([r".*\.onion"], (), ""), "x.onion", True),
        (([r".*\.onion"], (), ""), "a.org", False),  # a white list alone is exclusive
        (([r".*\.onion"], (), "0"), "a.org", True),  # darc's LINK_FALLBACK=0 keeps the rest
        (([r".*\.onion"], [r"bad\.onion"], ""), "bad.onion", False),  # black beats white
        (((), [r"ads\..*"], ""), "ADS.example.com", False),  # ignore case
        (((), [r"a\.org"], ""), "a.org:8080", True),  # fullmatch on the host with its port
        (((), (), "1"), "a.org", False),
    ],
)
def test_link_lists(lists, host, allowed):
    assert scope(links=lists).host_allowed(host) is allowed


@pytest.mark.parametrize(
    ("lists", "network", "allowed"),
    [
        ((["tor", "i2p"], (), ""), "tor", True),
        ((["tor", "i2p"], (), ""), "clearnet", False),
        (((), ["null"], ""), "clearnet", False),  # darc's name for the clear web
        (((), ["clear.*"], ""), "clearnet", False),
    ],
)
def test_network_lists(lists, network, allowed):
    assert scope(networks=lists).network_allowed(network) is allowed


@pytest.mark.parametrize(
    ("lists", "content_type", "allowed"),
    [
        (((), [r"image/.*"], ""), "image/png", False),
        (((), [r"image/.*"], ""), "text/html; charset=utf-8", True),
        (([r"text/html"], (), ""), "TEXT/HTML; charset=utf-8", True),
        (([r"text/html"], (), ""), "application/pdf", False),
    ],
)
def test_mime_lists(lists, content_type, allowed):
    assert scope(mimes=lists).mime_allowed(content_type) is allowed


@pytest.mark.parametrize(
    ("url", "host", "reason"),
    [
        ("http://a.org/x/y/z", "a.org", None),
        ("http://a.org/" + "x" * 3000, "a.org", "url_too_long"),
        ("http://a.org/trap/x/trap/y/trap/z", "a.org", "repeated_path_segment"),
        ("http://a.org/a/b/a/b", "a.org", None),
        ("http://a.b.c.d.e.f.g.org/", "a.b.c.d.e.f.g.org", "too_many_subdomains"),
    ],
)
def test_trap_rules(url, host, reason):
    assert TrapRules().reason(url, host) == reason


def test_trap_rules_can_be_switched_off():
    rules = TrapRules(max_url_length=0, max_segment_repeat=0, max_subdomains=0)
    assert rules.reason("http://a.b.c.d.e.f.g.org/t/t/t/t/" + "x" * 5000, "a.b.c.d.e.f.g.org") is None


def test_seen_set():
    seen = MemorySeenSet()
    assert seen.add("http://a.org/") is True
    assert seen.add("http://a.org/") is False
    assert "http://a.org/" in seen and len(seen) == 1


def test_revisit_schedule():
    schedule = RevisitSchedule(interval=60)
    schedule.fetched("http://a.org/1", 0, now=1000)
    schedule.fetched("http://a.org/2", 1, now=1010)
    schedule.fetched("http://a.org/1", 0, now=1020)  # fetched again: the first entry is stale
    assert schedule.pop_due(now=1075) == [("http://a.org/2", 1)]
    assert schedule.pop_due(now=1080) == [("http://a.org/1", 0)]
    assert len(schedule) == 0 and schedule.next_due() is None


def test_revisit_disabled_for_infinite_time_cache():
    schedule = RevisitSchedule(interval=float("inf"))
    schedule.fetched("http://a.org/", 0, now=0)
    assert not schedule.enabled and len(schedule) == 0
