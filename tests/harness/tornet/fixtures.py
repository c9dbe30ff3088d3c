"""pytest fixture: one private Tor network per test session, with two onion sites.

Wire it in with ``from tests.harness.tornet.fixtures import tor_network`` (in a
conftest or a test module). Where tor is not installed it skips, or fails in
strict mode (tests/components.py): the setup script installs Debian's ``tor``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components import require

from .network import TorNetwork
from .sites import TinySite, onion_pages

__all__ = ["tor_network"]

# Lets CI keep the authority keys somewhere it caches between jobs.
CACHE_ENV = "DARKCRAWL_TORNET_CACHE"


@pytest.fixture(scope="session")
def tor_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorNetwork]:
    """A running private Tor network whose two onions serve tiny local sites.

    ``onions[0]`` is the main site (``/``, ``/a.html``, ``/b.html``, the last
    linking to ``onions[1]``); ``onions[1]`` is the other site (``/``); see
    :func:`.sites.onion_pages`. Self-contained (no other fixtures), so that
    importing just this name into a conftest is enough.
    """
    require("tor")
    cache = os.environ.get(CACHE_ENV)
    workdir = tmp_path_factory.mktemp("tornet")
    with TinySite("main") as main, TinySite("other") as other:
        with TorNetwork(
            workdir,
            onion_targets=(main.port, other.port),
            cache_dir=Path(cache) if cache else None,
        ) as network:
            main_pages, other_pages = onion_pages(network.onions[0].address, network.onions[1].address)
            main.set_pages(main_pages)
            other.set_pages(other_pages)
            network.wait_ready()
            yield network
