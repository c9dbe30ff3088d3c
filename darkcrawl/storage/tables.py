"""A generic SQLite table writer: site hooks hand it rows, it keeps them unique.

The schema follows the rows: a table is created on first use from the first
row's keys, and columns that later rows bring along are added.  Rows are
keyed (``PRIMARY KEY(key...)``), so writing the same rows again – a re-run of
a crawl – adds nothing; values of a row that already exists are overwritten,
because a source may correct them (Naver's row for today changes until the
market closes).
"""

from __future__ import annotations

import sqlite3
import string
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

# SQLite compares identifiers case-insensitively for ASCII letters only, so
# "Date" and "date" are one column but "É" and "é" are two.
_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def quote_identifier(name: str) -> str:
    """*name* as an SQL identifier: double-quoted, inner quotes doubled.

    Names come from code, not from crawled pages, but may be Korean or contain
    anything; quoting makes every such name a plain identifier.  NUL cannot be
    quoted (SQLite ends the statement there), so it is refused.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"unusable SQL identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def column_type(value: object) -> str:
    """The declared type of a new column from a Python value.

    ``None`` declares no type, so the column takes whatever later rows put
    there unchanged; declaring TEXT would turn later integers into text.
    Anything else unknown is refused instead of being stored as its repr.
    """
    if value is None:
        return ""
    if isinstance(value, (bool, int)):
        return "INTEGER"
    if isinstance(value, float):
        return "REAL"
    if isinstance(value, str):
        return "TEXT"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "BLOB"
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in SQLite")


def _fold(name: str) -> str:
    return name.translate(_ASCII_FOLD)


class TableWriter:
    """Upserts rows (mappings) into tables of one SQLite file.

    One writer per thread: the connection is not shared across threads.
    The file is in WAL mode so readers (a report, a notebook) can look at it
    while a crawl writes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; upsert() opens its own.
        self._con = sqlite3.connect(path, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only a
        # power cut may lose the last transactions, which a re-run refetches.
        self._con.execute("PRAGMA synchronous=NORMAL")
        self._con.execute("PRAGMA busy_timeout=30000")
        # table -> {folded column name: column name}, loaded lazily
        self._columns: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------------ schema

    def columns(self, table: str) -> list[str]:
        """The columns of *table* in table order (empty if it does not exist)."""
        info = self._con.execute(f"PRAGMA table_info({quote_identifier(table)})").fetchall()
        return [row[1] for row in info]

    def _primary_key(self, table: str) -> list[str]:
        info = self._con.execute(f"PRAGMA table_info({quote_identifier(table)})").fetchall()
        return [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: int(r[5]))]

    def _known(self, table: str) -> dict[str, str]:
        if table not in self._columns:
            self._columns[table] = {_fold(c): c for c in self.columns(table)}
        return self._columns[table]

    def _ensure_table(self, table: str, key: Sequence[str], rows: Sequence[Mapping[str, object]]) -> None:
        known = self._known(table)
        if not known:
            first = rows[0]
            missing = [k for k in key if k not in first]
            if missing:
                raise ValueError(f"key columns {missing} are not in the first row of {table!r}")
            types = _types(first.keys(), rows)
            # Key columns are NOT NULL: SQLite lets NULLs into a PRIMARY KEY of
            # an ordinary table, and NULLs never conflict, so they would duplicate.
            defs = [
                " ".join(filter(None, (quote_identifier(c), types[c], "NOT NULL" if c in key else "")))
                for c in first
            ]
            pk = ", ".join(quote_identifier(k) for k in key)
            self._con.execute(f"CREATE TABLE {quote_identifier(table)} ({', '.join(defs)}, PRIMARY KEY({pk}))")
            self._columns[table] = {_fold(c): c for c in first}
            known = self._columns[table]
        else:
            actual = self._primary_key(table)
            if [_fold(k) for k in actual] != [_fold(k) for k in key]:
                raise ValueError(f"table {table!r} is keyed by {actual}, not {list(key)}")
        new: list[str] = []
        for row in rows:
            new.extend(c for c in row if _fold(c) not in known and c not in new)
        if new:
            types = _types(new, rows)
            for c in new:
                column = " ".join(filter(None, (quote_identifier(c), types[c])))
                self._con.execute(f"ALTER TABLE {quote_identifier(table)} ADD COLUMN {column}")
                known[_fold(c)] = c

    # ------------------------------------------------------------------ writing

    def upsert(self, table: str, key: Sequence[str], rows: Iterable[Mapping[str, object]]) -> int:
        """Insert *rows* into *table* keyed by *key*; return how many were new.

        A row whose key is already stored has its given columns overwritten
        (columns it does not carry keep their values).  New rows are counted
        from the insert itself: ``INSERT ... ON CONFLICT(key) DO NOTHING``
        changes one row exactly when the key was new, and only then is the
        ``UPDATE`` skipped.  (A single ``ON CONFLICT DO UPDATE`` reports one
        changed row for an insert and for an update alike, so it cannot count.)
        All rows are one transaction: a failure leaves the file as it was.
        """
        key = list(key)
        batch = [dict(row) for row in rows]
        if not key:
            raise ValueError("a key of at least one column is needed")
        if not batch:
            return 0
        for row in batch:
            folded = [_fold(c) for c in row]
            if len(set(folded)) != len(folded):
                raise ValueError(f"row has columns differing only in case: {sorted(row)}")
            if any(row.get(k) is None for k in key):
                raise ValueError(f"row lacks a value for key {key}: {row!r}")
            for value in row.values():
                column_type(value)  # TypeError now, before anything is written
        new = 0
        self._con.execute("BEGIN IMMEDIATE")
        try:
            self._ensure_table(table, key, batch)
            known = self._columns[table]
            statements: dict[tuple[str, ...], tuple[str, str | None]] = {}
            for row in batch:
                # Spell columns as the table does, so "DATE" finds "date".
                values = {known[_fold(c)]: v for c, v in row.items()}
                names = tuple(values)
                if names not in statements:
                    statements[names] = _statements(table, key, names)
                insert, update = statements[names]
                params = {f"p{i}": v for i, v in enumerate(values.values())}
                if self._con.execute(insert, params).rowcount == 1:
                    new += 1
                elif update is not None:
                    self._con.execute(update, params)
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            # DDL was rolled back too: forget what this call learned of the schema.
            self._columns.pop(table, None)
            raise
        return new

    def count(self, table: str) -> int:
        """Number of rows in *table*."""
        return int(self._con.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchone()[0])

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _types(columns: Iterable[str], rows: Sequence[Mapping[str, object]]) -> dict[str, str]:
    """Declared type per column from its first non-None value in *rows*."""
    types: dict[str, str] = {}
    for c in columns:
        value = next((row[c] for row in rows if row.get(c) is not None), None)
        types[c] = column_type(value)
    return types


def _statements(table: str, key: Sequence[str], names: tuple[str, ...]) -> tuple[str, str | None]:
    """The INSERT and (when there are non-key columns) UPDATE for a row shape.

    Values are bound by name; parameter names are positional (``:p0``) because
    column names may not be valid parameter names.
    """
    params = {name: f":p{i}" for i, name in enumerate(names)}
    t = quote_identifier(table)
    cols = ", ".join(quote_identifier(n) for n in names)
    pk = ", ".join(quote_identifier(k) for k in key)
    insert = f"INSERT INTO {t} ({cols}) VALUES ({', '.join(params.values())}) ON CONFLICT({pk}) DO NOTHING"
    folded_key = {_fold(k) for k in key}
    rest = [n for n in names if _fold(n) not in folded_key]
    if not rest:
        return insert, None
    sets = ", ".join(f"{quote_identifier(n)} = {params[n]}" for n in rest)
    where = " AND ".join(f"{quote_identifier(n)} = {params[n]}" for n in names if _fold(n) in folded_key)
    return insert, f"UPDATE {t} SET {sets} WHERE {where}"
