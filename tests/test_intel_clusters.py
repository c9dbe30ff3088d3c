"""darkcrawl.intel.clusters: candidate pairs (LSH buckets that miss no pair within
the threshold), the match rule, clusters and their identity, the phishing flag."""

from __future__ import annotations

import random
from itertools import combinations

import pytest

from darkcrawl.intel import clusters as C
from darkcrawl.intel.clusters import Evidence, Signature, Thresholds, candidate_pairs, cluster_id, differing_addresses

LIMITS = Thresholds(image=10, text=6, text_named=9, min_features=8, text_alone=3, image_alone=4)


def flip(value: int, *bits: int) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


# -- candidate pairs -------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 3, 6, 10])
def test_no_pair_within_k_bits_is_missed(k):
    rng = random.Random(k)
    hashes: list[tuple[int, int]] = []
    for n in range(300):  # 100 groups of 3: a base, and two copies at most k bits from it
        if n % 3 == 0:
            base = rng.getrandbits(64)
            value = base
        else:
            value = flip(base, *rng.sample(range(64), rng.randint(0, k // 2)))
        hashes.append((n, value))
    close = {(i, j) for (i, a), (j, b) in combinations(hashes, 2) if (a ^ b).bit_count() <= k}
    found = candidate_pairs(hashes, k)
    assert close <= found
    assert len(found) < 20 * len(close) + 200  # buckets, not every pair: 44,850 pairs here


def test_a_crowded_bucket_compares_neighbours_only(monkeypatch):
    monkeypatch.setattr(C, "MAX_BUCKET", 10)
    monkeypatch.setattr(C, "WINDOW", 2)
    hashes = [(n, n) for n in range(100)]  # one bucket in each table that leaves out the low bits
    found = candidate_pairs(hashes, 6)
    assert len(found) <= 100 * 2 and (0, 1) in found and (98, 99) in found
    assert (0, 50) not in found


# -- the rule ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("found", "same"), [
    (Evidence(image=10, text=6, favicon=False, title=False), True),
    (Evidence(image=11, text=0, favicon=True, title=True), False),  # the screenshot too far
    (Evidence(image=0, text=7, favicon=False, title=False), False),  # same layout, other text
    (Evidence(image=0, text=9, favicon=True, title=False), True),  # further text, but the same favicon
    (Evidence(image=0, text=9, favicon=False, title=True), True),
    (Evidence(image=0, text=10, favicon=True, title=True), False),  # a template shared: other text
    (Evidence(image=None, text=3, favicon=True, title=False), True),  # no screenshot: closer text, and a name
    (Evidence(image=None, text=3, favicon=False, title=False), False),
    (Evidence(image=None, text=4, favicon=True, title=True), False),
    (Evidence(image=4, text=None, favicon=False, title=True), True),  # no text: a closer screenshot, and a name
    (Evidence(image=5, text=None, favicon=True, title=True), False),
    (Evidence(image=0, text=None, favicon=False, title=False), False),
    (Evidence(image=None, text=None, favicon=True, title=True), False),  # names alone are no evidence
])
def test_matches(found, same):
    assert C.matches(found, LIMITS) is same


def test_evidence_ignores_a_text_too_short_to_sign():
    a = Signature("a", image=1, text=5, features=7, title="x")
    b = Signature("b", image=1, text=5, features=100, title="x")
    assert C.evidence(a, b, 8) == Evidence(image=0, text=None, favicon=False, title=True)


# -- clusters ------------------------------------------------------------------------------------------

IMAGE, TEXT = 0x0123456789ABCDEF, 0xFEDCBA9876543210


def sig(host: str, image_bits: tuple[int, ...] = (), text_bits: tuple[int, ...] = (), **kwargs) -> Signature:
    fields = {"image": flip(IMAGE, *image_bits), "text": flip(TEXT, *text_bits), "features": 50, **kwargs}
    return Signature(host, **fields)


@pytest.mark.parametrize(("signatures", "expected"), [
    ([], []),
    ([sig("a")], []),
    # a clone with its layout touched, and an unrelated site
    ([sig("b", (1, 2, 3), (4,)), sig("a"), sig("c", image=~IMAGE & (2**64 - 1), text=~TEXT & (2**64 - 1))],
     [("a", "b")]),
    # a chain of mirrors is one cluster, even where its ends are too far apart to match
    ([sig("a"), sig("b", tuple(range(8)), (0, 1, 2)), sig("c", tuple(range(16)), (0, 1, 2, 3, 4, 5))],
     [("a", "b", "c")]),
    # identical signatures are one site
    ([sig("x"), sig("y"), sig("z")], [("x", "y", "z")]),
    # a template shared: same layout, favicon and title, other text
    ([sig("a", favicon=7, title="shop"), sig("b", (), tuple(range(0, 40, 2)), favicon=7, title="shop")], []),
    # further apart than LSH_BITS: b is found through its favicon; c, as close to a but nameless, is
    # not even a candidate (the price of no all-pairs comparison)
    ([sig("a", favicon=7), sig("b", (1, 2), tuple(range(8)), favicon=7),
      sig("c", (5, 16, 27, 38, 49, 60), (0, 11, 22, 33, 44, 55))], [("a", "b")]),
    # no screenshot on one side: the text decides, with the title
    ([sig("a", title="m"), sig("b", image=None, text=flip(TEXT, 1, 2, 3), title="m")], [("a", "b")]),
    ([sig("a", title="m"), sig("b", image=None, text=flip(TEXT, 1, 2, 3, 4), title="m")], []),
    # a page byte for byte another's (content-seen's duplicate): joined, whatever it signs
    ([sig("a"), Signature("b", same_as="a")], [("a", "b")]),
    ([Signature("a"), Signature("b", same_as="a"), Signature("c", same_as="gone")], [("a", "b")]),
    # nothing to compare: a title and a favicon are no evidence on their own
    ([Signature("a", title="login", favicon=1), Signature("b", title="login", favicon=1)], []),
])
def test_clusters(signatures, expected):
    found = C.clusters(signatures, LIMITS)
    assert [c.members for c in found] == expected
    assert all(c.id == cluster_id(c.members[0]) and c.representative == c.members[0] for c in found)


def test_cluster_ids_are_stable_and_short():
    assert cluster_id("a.onion") == cluster_id("a.onion") != cluster_id("b.onion")
    assert len(cluster_id("a.onion")) == 12 and int(cluster_id("a.onion"), 16) >= 0


def test_thousands_of_hosts_on_one_page_cluster_without_every_pair():
    # 3,000 hosts behind one provider's error page, the host name in its text
    signatures = [Signature(f"h{n:04d}", image=IMAGE, text=flip(TEXT, n % 64), features=20) for n in range(3000)]
    found = C.clusters(signatures, LIMITS)
    assert len(found) == 1 and len(found[0].members) == 3000


# -- phishing ---------------------------------------------------------------------------------------

X, Y, Z = ("bitcoin", "1x"), ("bitcoin", "1y"), ("bitcoin", "1z")
E1, E2 = ("ethereum", "0x1"), ("ethereum", "0x2")


@pytest.mark.parametrize(("shown", "differing"), [
    ({"a": {X}, "b": {X}}, set()),  # mirrors
    ({"a": {X}, "b": {Z}}, {X, Z}),  # a clone with its own wallet
    ({"a": {X, Y}, "b": {X}}, set()),  # b's second page was not crawled: no difference
    ({"a": {X, Y}, "b": {X, Z}}, {Y, Z}),
    ({"a": {X}, "b": {X}, "c": {Z}}, {X, Z}),
    ({"a": {X}, "b": set()}, set()),  # b shows no address at all
    ({"a": {X, E1}, "b": {X, E2}}, {E1, E2}),  # the same bitcoin, another ethereum wallet
    ({"a": {X}, "b": {E1}}, set()),  # different coins: nothing to compare
    ({"a": {("email", "a@x"), X}, "b": {("email", "b@x"), X}}, set()),  # not a coin
    ({"a": {("monero", "4a")}, "b": {("monero", "4b")}}, {("monero", "4a"), ("monero", "4b")}),
])
def test_differing_addresses(shown, differing):
    assert differing_addresses(shown) == differing
