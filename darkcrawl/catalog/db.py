"""One connection API over the catalogue's two databases.

SQL is written once, with ``?`` placeholders and the upsert syntax both dialects
share (``INSERT ... ON CONFLICT (...) DO UPDATE``, ``RETURNING``); PostgreSQL's
``%s`` placeholders are made from it.  Full-text search is the one place the
dialects differ, and :mod:`darkcrawl.catalog.queries` names both.

A :class:`CatalogDB` is used from one thread at a time (the writer's, or the
viewer's request handler under a lock): SQLite connections are not shared across
threads, and a psycopg connection serialises its statements anyway.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from darkcrawl.catalog.schema import SCHEMA_VERSION, statements

CATALOG_FILE = "catalog.sqlite"

_POSTGRES_URL = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\?")


class CatalogError(RuntimeError):
    """The catalogue cannot be opened or written; the message says which and why."""


def catalog_location(path_data: str | Path, url: str | None) -> str:
    """Where the catalogue is: ``DARKCRAWL_CATALOG_URL`` when set, else the
    SQLite file in ``PATH_DATA``."""
    if url:
        return url
    return str(Path(path_data) / CATALOG_FILE)


def is_postgres(location: str) -> bool:
    return bool(_POSTGRES_URL.match(location))


def redact(location: str) -> str:
    """*location* for a log line: a password in a URL is not shown."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", location)


class CatalogDB:
    def __init__(self, connection: Any, dialect: str, location: str) -> None:
        self.connection = connection
        self.dialect = dialect
        self.location = location
        self.lock = threading.RLock()
        self._sql: dict[str, str] = {}

    # -- opening --------------------------------------------------------------------

    @classmethod
    def open(cls, location: str, *, create: bool = True, readonly: bool = False) -> CatalogDB:
        """The catalogue at *location* (a PostgreSQL URL or a SQLite path), its
        tables created when *create*."""
        try:
            db = cls._open_postgres(location) if is_postgres(location) else cls._open_sqlite(location, readonly)
        except CatalogError:
            raise
        except Exception as exc:  # sqlite3 and psycopg errors: one sentence that names the catalogue
            raise CatalogError(f"cannot open the catalogue {redact(location)}: {exc}") from exc
        if create and not readonly:
            db.create()
        return db

    @classmethod
    def _open_sqlite(cls, location: str, readonly: bool) -> CatalogDB:
        path = Path(location.removeprefix("sqlite:///"))
        if readonly:
            if not path.exists():
                raise CatalogError(f"no catalogue at {path}: run a crawl, or `scrapy catalog --rebuild`")
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                         check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # WAL: the viewer reads while the crawl writes; NORMAL: a crash loses at
            # most the last transactions, never the database's consistency
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=30000")
        connection.row_factory = sqlite3.Row
        return cls(connection, "sqlite", str(path))

    @classmethod
    def _open_postgres(cls, location: str) -> CatalogDB:
        import psycopg  # only a fleet's catalogue needs it
        from psycopg.rows import dict_row

        connection = psycopg.connect(location, autocommit=True, row_factory=dict_row, connect_timeout=15)
        return cls(connection, "postgresql", location)

    def create(self) -> None:
        with self.transaction():
            if self.dialect == "postgresql":
                # two workers creating the tables at once: one waits for the other
                self.execute("SELECT pg_advisory_xact_lock(7340033)")
            for statement in statements(self.dialect):
                self.execute(statement)
            self.execute("INSERT INTO catalog_meta (key, value) VALUES ('schema_version', ?) "
                         "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()

    # -- statements -----------------------------------------------------------------

    def sql(self, text: str) -> str:
        """*text* in this dialect: ``?`` becomes ``%s`` for PostgreSQL."""
        if self.dialect == "sqlite":
            return text
        cached = self._sql.get(text)
        if cached is None:
            cached = self._sql[text] = _PLACEHOLDER.sub("%s", text.replace("%", "%%"))
        return cached

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.execute(self.sql(text), params)

    def executemany(self, text: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        if self.dialect == "sqlite":
            self.connection.executemany(text, rows)
        else:
            with self.connection.cursor() as cursor:
                cursor.executemany(self.sql(text), rows)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    conflict: str | None = None) -> None:
        """*rows* into *table* (``ON CONFLICT (conflict) DO NOTHING`` when given).

        SQLite takes a whole batch in one statement, its rows one JSON array read by
        ``json_each``: sqlite3 lets the GIL go at every step, and a writer thread
        that stepped once per row (30 links a page) took the GIL back from the
        crawl's thread thousands of times a batch, which slowed the crawl far more
        than its CPU time."""
        if not rows:
            return
        tail = f" ON CONFLICT ({conflict}) DO NOTHING" if conflict else ""
        names = ", ".join(columns)
        if self.dialect == "sqlite":
            values = ", ".join(f"value ->> {i}" for i in range(len(columns)))
            self.connection.execute(f"INSERT INTO {table} ({names}) SELECT {values} FROM json_each(?) WHERE true{tail}",
                                    (json.dumps(rows, ensure_ascii=False),))
        else:
            self.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))}){tail}", rows)

    def all(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(row) for row in self.execute(text, params).fetchall()]

    def one(self, text: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self.lock:
            row = self.execute(text, params).fetchone()
        return dict(row) if row is not None else None

    def value(self, text: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(text, params)
        return next(iter(row.values())) if row else None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: all of a batch, or none of it (a crash leaves the
        catalogue as the last committed batch left it)."""
        with self.lock:
            if self.dialect == "postgresql":
                with self.connection.transaction():
                    yield
                return
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")
