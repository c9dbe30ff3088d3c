"""tests/harness/postgres.py: the real server starts, gives each test its own database,
does PostgreSQL's full-text search, and keeps committed data across a restart."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.components import needs
from tests.harness.postgres import PostgresServer

pytestmark = needs("postgresql")

PAGES = [
    ("http://a.onion/", "Welcome to the market: cheap books and maps"),
    ("http://b.onion/", "A forum about onion routing and relays"),
    ("http://c.onion/", "Maps of the city, printed on paper"),
]


def test_two_databases_are_separate(postgres_server: PostgresServer) -> None:
    one, two = postgres_server.create_database("harness_one"), postgres_server.create_database("harness_two")
    assert one.startswith(f"postgresql://postgres@127.0.0.1:{postgres_server.port}/")
    with psycopg.connect(one) as conn:
        conn.execute("CREATE TABLE t (x int)")
    with psycopg.connect(two) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 't'").fetchone()
    assert tables == (0,)


def test_full_text_search(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE pages (url text PRIMARY KEY, body text NOT NULL)")
        conn.cursor().executemany("INSERT INTO pages VALUES (%s, %s)", PAGES)
        rows = conn.execute(
            "SELECT url, ts_headline('simple', body, q, 'StartSel=[,StopSel=]') FROM pages,"
            " websearch_to_tsquery('simple', %s) q WHERE to_tsvector('simple', body) @@ q ORDER BY url",
            ("maps -books",),
        ).fetchall()
    assert rows == [("http://c.onion/", "[Maps] of the city, printed on paper")]


def test_a_restart_keeps_committed_data(tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "pg") as server:
        url = server.create_database("kept")
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE t (x text)")
            conn.execute("INSERT INTO t VALUES ('before')")
        port = server.port
        server.restart()
        assert server.port == port
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT x FROM t").fetchall() == [("before",)]
