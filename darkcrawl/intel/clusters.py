"""Signatures -> clusters of clones and mirrors, and the phishing flag.  Pure.

Two hosts *match* when their signatures agree within the thresholds
(:class:`Thresholds`, chosen by ``python -m bench.clones``); a cluster is a set of
hosts joined by matches (connected components: a chain of mirrors is one
cluster).  No pair of the whole catalogue is compared: candidate pairs are the
hosts that share a title or a favicon exactly, or whose text or screenshot hashes
are at most :data:`LSH_BITS` bits apart, found in LSH buckets: split a hash into
``k + 2`` blocks; two hashes at most ``k`` bits apart differ in at most ``k``
blocks, so they agree on at least two, and each pair of blocks is one bucket
table (pigeonhole: no such pair is missed).  Candidates are then verified with
the thresholds, which are looser: a clone whose text moved more than
:data:`LSH_BITS` bits (its footer cut) is found through its title or favicon, or
through another member of its cluster.  A bucket that holds more hosts than
:data:`MAX_BUCKET` (thousands of hosts behind one hosting provider's error page,
or titled "Login") compares each host with its :data:`WINDOW` next ones in hash
order only, so the work stays linear.  Hosts with identical signatures are one
entry from the start.

A cluster whose members show different cryptocurrency addresses (for a coin,
two members each show an address the other does not) is a suspected phishing
clone: the same site, someone else's wallet.  One member showing fewer addresses
than another (its deposit page was not crawled) is no difference.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import combinations

from darkcrawl.intel.signatures import HASH_BITS, hamming

#: the coins whose addresses tell a phishing clone (the catalogue's entity kinds)
COINS = ("bitcoin", "ethereum", "monero")
#: hosts in one bucket compared pair by pair; past it, each with its WINDOW next
MAX_BUCKET = 64
WINDOW = 8
#: text or screenshot hashes this close are candidate pairs whatever their names
LSH_BITS = 4


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When two signatures are one site.  Chosen with ``python -m bench.clones
    --sweep`` on two generated webs and checked on a third (``bench/README.md``):
    the text decides, the screenshot only confirms (a notice banner inserted
    above a clone's page shifts it and moves its pHash by up to 24 bits, while
    unrelated pages are 28 bits apart at the median)."""

    #: bits of pHash (the screenshot's top) two copies of a site differ by at most
    image: int = 24
    #: bits of text simhash two copies differ by at most...
    text: int = 8
    #: ...or this many when they also have the same title or favicon (a clone
    #: whose footer was cut; sites on a shared template are 13 bits apart and more)
    text_named: int = 14
    #: a text of fewer distinct word pairs signs nothing (a login form: "user name password")
    min_features: int = 8
    #: one side has no screenshot: its text within this, and the same title or favicon
    text_alone: int = 8
    #: one side has no usable text: its screenshot within this, and the same title or favicon
    image_alone: int = 4


@dataclass(frozen=True, slots=True)
class Signature:
    host: str
    image: int | None = None  # pHash of the screenshot's top
    text: int | None = None  # simhash of the visible text
    features: int = 0  # distinct word pairs behind *text*
    title: str | None = None  # title_key()
    favicon: int | None = None  # Shodan's favicon hash
    same_as: str | None = None  # a host whose page this page duplicates byte for byte


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why two signatures match (or how far apart they are)."""

    image: int | None  # bits apart, None: one has no screenshot
    text: int | None  # bits apart, None: one has no usable text
    favicon: bool
    title: bool


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str
    members: tuple[str, ...]  # sorted; the first is the representative

    @property
    def representative(self) -> str:
        return self.members[0]


def cluster_id(representative: str) -> str:
    """A cluster's stable name: 12 hex digits of its smallest host's BLAKE2b."""
    return hashlib.blake2b(representative.encode("utf-8"), digest_size=6).hexdigest()


def evidence(a: Signature, b: Signature, min_features: int) -> Evidence:
    usable = a.features >= min_features and b.features >= min_features
    return Evidence(
        image=hamming(a.image, b.image) if a.image is not None and b.image is not None else None,
        text=hamming(a.text, b.text) if usable and a.text is not None and b.text is not None else None,
        favicon=a.favicon is not None and a.favicon == b.favicon,
        title=a.title is not None and a.title == b.title,
    )


def matches(found: Evidence, limits: Thresholds) -> bool:
    """The rule: the text close (closer without the same title or favicon) and the
    screenshot not far; with one of them missing, the other close and the same
    title or favicon beside it."""
    named = found.title or found.favicon
    if found.image is not None and found.text is not None:
        return found.image <= limits.image and (found.text <= limits.text or
                                                (named and found.text <= limits.text_named))
    if found.text is not None:
        return named and found.text <= limits.text_alone
    if found.image is not None:
        return named and found.image <= limits.image_alone
    return False


# -- candidate pairs -------------------------------------------------------------------


def _blocks(k: int) -> list[int]:
    """Masks of ``k + 2`` contiguous blocks covering the 64 bits."""
    count = k + 2
    edges = [round(i * HASH_BITS / count) for i in range(count + 1)]
    return [((1 << (hi - lo)) - 1) << lo for lo, hi in zip(edges, edges[1:])]


def _bucket_pairs(members: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    if len(members) <= MAX_BUCKET:
        yield from combinations(sorted(i for i, _ in members), 2)
        return
    ordered = sorted(members, key=lambda m: (m[1], m[0]))
    for n, (i, _) in enumerate(ordered):
        for j, _ in ordered[n + 1 : n + 1 + WINDOW]:
            yield (i, j) if i < j else (j, i)


def candidate_pairs(hashes: Iterable[tuple[int, int]], k: int) -> set[tuple[int, int]]:
    """Pairs (i < j) of the ``(index, hash)`` entries that may be at most *k* bits
    apart: every pair that is, and some that are not (they are verified after)."""
    entries = list(hashes)
    masks = _blocks(k)
    pairs: set[tuple[int, int]] = set()
    for first, second in combinations(masks, 2):
        mask = first | second
        buckets: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for index, value in entries:
            buckets[value & mask].append((index, value))
        for members in buckets.values():
            if len(members) > 1:
                pairs.update(_bucket_pairs(members))
    return pairs


# -- clustering -----------------------------------------------------------------------


class _Union:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _distinct(signatures: list[Signature], min_features: int) -> tuple[list[Signature], list[list[str]]]:
    """One entry per distinct signature that has a screenshot or a usable text, and
    the hosts behind each (identical signatures are one site)."""
    groups: dict[tuple[object, ...], int] = {}
    distinct: list[Signature] = []
    hosts: list[list[str]] = []
    for signature in signatures:
        text = signature.text if signature.features >= min_features else None
        if signature.image is None and text is None:
            continue  # nothing to compare it by (its same_as may still join it)
        key = (signature.image, text, signature.title, signature.favicon)
        index = groups.setdefault(key, len(distinct))
        if index == len(distinct):
            distinct.append(signature)
            hosts.append([])
        hosts[index].append(signature.host)
    return distinct, hosts


def same_name_pairs(names: Iterable[tuple[int, object, int]]) -> set[tuple[int, int]]:
    """Pairs (i < j) of the ``(index, name, order)`` entries that share a name (a
    title, a favicon hash); a crowded name's entries by their *order* (a hash)."""
    buckets: dict[object, list[tuple[int, int]]] = defaultdict(list)
    for index, name, order in names:
        if name is not None:
            buckets[name].append((index, order))
    pairs: set[tuple[int, int]] = set()
    for members in buckets.values():
        if len(members) > 1:
            pairs.update(_bucket_pairs(members))
    return pairs


def _candidates(distinct: list[Signature], limits: Thresholds) -> set[tuple[int, int]]:
    texts = [(i, s.text) for i, s in enumerate(distinct) if s.text is not None and s.features >= limits.min_features]
    images = [(i, s.image) for i, s in enumerate(distinct) if s.image is not None]
    pairs = candidate_pairs(texts, LSH_BITS) | candidate_pairs(images, LSH_BITS)
    order = [s.text or s.image or 0 for s in distinct]
    pairs |= same_name_pairs((i, s.title, order[i]) for i, s in enumerate(distinct))
    pairs |= same_name_pairs((i, s.favicon, order[i]) for i, s in enumerate(distinct))
    return pairs


def _matched_pairs(distinct: list[Signature], limits: Thresholds) -> Iterator[tuple[int, int]]:
    for i, j in _candidates(distinct, limits):
        if matches(evidence(distinct[i], distinct[j], limits.min_features), limits):
            yield i, j


def clusters(signatures: Iterable[Signature], limits: Thresholds = Thresholds()) -> list[Cluster]:
    """The clusters (two hosts or more) of *signatures*, by representative."""
    signatures = sorted(signatures, key=lambda s: s.host)
    names = [s.host for s in signatures]
    position = {name: n for n, name in enumerate(names)}
    union = _Union(len(names))
    distinct, hosts = _distinct(signatures, limits.min_features)
    for group in hosts:
        for name in group[1:]:
            union.join(position[group[0]], position[name])
    for i, j in _matched_pairs(distinct, limits):
        union.join(position[hosts[i][0]], position[hosts[j][0]])
    for signature in signatures:
        if signature.same_as in position and signature.same_as != signature.host:
            union.join(position[signature.host], position[signature.same_as])
    components: dict[int, list[str]] = defaultdict(list)
    for n, name in enumerate(names):
        components[union.find(n)].append(name)
    found = [tuple(sorted(members)) for members in components.values() if len(members) > 1]
    return sorted((Cluster(cluster_id(members[0]), members) for members in found), key=lambda c: c.members[0])


# -- phishing ---------------------------------------------------------------------------


def differing_addresses(shown: Mapping[str, Iterable[tuple[str, str]]]) -> set[tuple[str, str]]:
    """The ``(coin, address)`` pairs that set a cluster's members apart: for a coin
    where two members each show an address the other does not, every address of
    that coin not shown by all the members that show that coin.  Empty: no sign
    of phishing."""
    found: set[tuple[str, str]] = set()
    for coin in COINS:
        sets = [frozenset(value for kind, value in addresses if kind == coin) for addresses in shown.values()]
        sets = [s for s in sets if s]
        if any(not (a <= b or b <= a) for a, b in combinations(sets, 2)):
            common = frozenset.intersection(*sets)
            found.update((coin, value) for value in frozenset().union(*sets) - common)
    return found
