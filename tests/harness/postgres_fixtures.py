"""pytest fixtures: one PostgreSQL server per test session, a fresh database per test.

Wired in by ``tests/conftest.py`` (as the Tor network's are), kept apart from
:mod:`tests.harness.postgres` because ``bench/`` imports the harness without pytest.
Where postgresql is not installed they skip, or fail in strict mode (tests/components.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.components import require
from tests.harness.postgres import PostgresServer

__all__ = ["postgres_server", "postgres_url"]

# database names unique within the session's one server
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """The session's running server; started on first use, stopped (and removed) at the end."""
    require("postgresql")
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A URL to a new, empty database of its own for this test."""
    return postgres_server.create_database(f"test_{next(_numbers)}")
