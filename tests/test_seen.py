"""The one URL-seen protocol (darkcrawl.seen.base): every local seen set answers it
the same way; the shared one (Redis) is tested in test_distributed."""

from __future__ import annotations

import pytest

from darkcrawl.distributed.seen import RedisSeenSet
from darkcrawl.seen.compact import CompactSeenSet
from darkcrawl.seen.memory import MemorySeenSet

LOCAL_SETS = [pytest.param(MemorySeenSet, id="memory"),
              pytest.param(lambda: CompactSeenSet(capacity=1000), id="compact")]


@pytest.mark.parametrize("make", LOCAL_SETS)
def test_a_local_seen_set_speaks_the_protocol(make):
    seen = make()
    assert seen.batched is False  # one add at a time: no round trip to save
    assert seen.admits_later is False  # its answers are final
    assert seen.add("http://a.onion/") is True
    assert seen.add("http://a.onion/") is False
    # a URL repeated in one call is new once; marks are seen, not admitted
    assert seen.add_many(["http://b.onion/", "http://a.onion/", "http://b.onion/"],
                         marks=["http://refused.onion/"]) == [True, False, False]
    assert seen.known("http://refused.onion/") and seen.known("http://b.onion/")
    assert not seen.known("http://c.onion/")
    assert "http://b.onion/" in seen and len(seen) == 3
    seen.save()  # durable where it persists, a no-op otherwise: never an error
    seen.close()


def test_the_shared_seen_set_decides_a_page_in_one_call():
    assert RedisSeenSet.batched is True
