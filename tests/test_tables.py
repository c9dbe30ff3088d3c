"""TableWriter: schema from rows, keyed upserts that count only new rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from darkcrawl.storage.tables import TableWriter, column_type, quote_identifier

KEY = ("name", "code", "date")


def day(date: str, close: int, **extra: object) -> dict[str, object]:
    return {"name": "삼성전자", "code": "005930", "date": date, "close": close, **extra}


@pytest.fixture
def db(tmp_path):
    with TableWriter(tmp_path / "out" / "t.sqlite") as writer:
        yield writer


def schema(path: Path, table: str) -> list[tuple[str, str, int, int]]:
    """(name, declared type, notnull, pk position) per column."""
    con = sqlite3.connect(path)
    try:
        return [(r[1], r[2], r[3], r[5]) for r in con.execute(f"PRAGMA table_info({quote_identifier(table)})")]
    finally:
        con.close()


def select(path: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("close", '"close"'),
        ("종가", '"종가"'),
        ("일별 시세", '"일별 시세"'),
        ('a"b', '"a""b"'),
        ('x"; DROP TABLE t; --', '"x""; DROP TABLE t; --"'),
    ],
)
def test_quote_identifier(name, quoted):
    assert quote_identifier(name) == quoted


@pytest.mark.parametrize("bad", ["", "a\x00b", None, 3])
def test_quote_identifier_rejects(bad):
    with pytest.raises(ValueError):
        quote_identifier(bad)


@pytest.mark.parametrize(
    ("value", "declared"),
    [(1, "INTEGER"), (True, "INTEGER"), (1.5, "REAL"), ("x", "TEXT"), (b"x", "BLOB"), (None, "")],
)
def test_column_type(value, declared):
    assert column_type(value) == declared


@pytest.mark.parametrize("value", [object(), [1], {"a": 1}, 1j])
def test_column_type_rejects(value):
    with pytest.raises(TypeError):
        column_type(value)


# ------------------------------------------------------------------ writing


def test_create_from_first_row(db):
    rows = [day("2019-07-05", 45650, ratio=0.5, raw=b"\x00", note=None), day("2019-07-04", 46000)]
    assert db.upsert("prices", KEY, rows) == 2
    assert db.count("prices") == 2
    assert schema(db.path, "prices") == [
        ("name", "TEXT", 1, 1),
        ("code", "TEXT", 1, 2),
        ("date", "TEXT", 1, 3),
        ("close", "INTEGER", 0, 0),
        ("ratio", "REAL", 0, 0),
        ("raw", "BLOB", 0, 0),
        ("note", "", 0, 0),  # only None seen: no type, so no conversion later
    ]
    mode = select(db.path, "PRAGMA journal_mode")
    assert mode == [("wal",)]


def test_upsert_twice_adds_nothing(db):
    rows = [day(f"2019-07-0{d}", 45000 + d) for d in range(1, 6)]
    assert db.upsert("prices", KEY, rows) == 5
    assert db.upsert("prices", KEY, rows) == 0
    assert db.count("prices") == 5
    # A later run that overlaps: only the new day counts.
    assert db.upsert("prices", KEY, [day("2019-07-05", 45005), day("2019-07-08", 45008)]) == 1
    assert db.count("prices") == 6


def test_existing_rows_are_overwritten(db):
    db.upsert("prices", KEY, [day("2019-07-05", 45000, volume=10)])
    # today's row was provisional; the re-run brings the final close
    assert db.upsert("prices", KEY, [day("2019-07-05", 45650)]) == 0
    # columns the new row does not carry keep their values
    assert select(db.path, "SELECT close, volume FROM prices") == [(45650, 10)]


def test_duplicate_key_in_one_batch(db):
    assert db.upsert("prices", KEY, [day("2019-07-05", 1), day("2019-07-05", 2)]) == 1
    assert select(db.path, "SELECT close FROM prices") == [(2,)]  # the later row wins


def test_three_column_key(db):
    rows = [
        day("2019-07-05", 1),
        {**day("2019-07-05", 2), "code": "005935"},  # same name and date, other code
        {**day("2019-07-05", 3), "name": "삼성전자우"},  # same code and date, other name
        day("2019-07-04", 4),  # same name and code, other date
    ]
    assert db.upsert("prices", KEY, rows) == 4
    assert db.upsert("prices", KEY, rows) == 0
    assert db.count("prices") == 4


def test_new_column_added(db):
    db.upsert("prices", KEY, [day("2019-07-04", 46000)])
    assert db.upsert("prices", KEY, [day("2019-07-05", 45650, volume=7235395, ratio=-0.76)]) == 1
    assert db.columns("prices") == ["name", "code", "date", "close", "volume", "ratio"]
    assert schema(db.path, "prices")[-2:] == [("volume", "INTEGER", 0, 0), ("ratio", "REAL", 0, 0)]
    assert select(db.path, "SELECT date, volume FROM prices ORDER BY date") == [
        ("2019-07-04", None), ("2019-07-05", 7235395)]


def test_column_type_from_first_non_null(db):
    db.upsert("prices", KEY, [day("2019-07-04", 1, volume=None), day("2019-07-05", 2, volume=10)])
    assert ("volume", "INTEGER", 0, 0) in schema(db.path, "prices")


def test_untyped_column_keeps_values(db):
    db.upsert("prices", KEY, [day("2019-07-04", 1, note=None)])
    db.upsert("prices", KEY, [day("2019-07-05", 2, note=123)])
    assert select(db.path, "SELECT typeof(note) FROM prices WHERE note IS NOT NULL") == [("integer",)]


def test_column_names_case_insensitive(db):
    db.upsert("prices", KEY, [day("2019-07-04", 1)])
    assert db.upsert("prices", KEY, [{"name": "삼성전자", "code": "005930", "date": "2019-07-04", "CLOSE": 9}]) == 0
    assert db.columns("prices") == ["name", "code", "date", "close"]
    assert select(db.path, "SELECT close FROM prices") == [(9,)]


def test_korean_identifiers(db):
    key = ("종목이름", "종목코드", "날짜")
    rows = [
        {"종목이름": "삼성전자", "종목코드": "005930", "날짜": "2019-07-05", "종가": 45650, '전일비 "부호"': -350},
        {"종목이름": "삼성전자", "종목코드": "005930", "날짜": "2019-07-04", "종가": 46000, '전일비 "부호"': 600},
    ]
    table = '일별 "시세"; DROP TABLE x'
    assert db.upsert(table, key, rows) == 2
    assert db.upsert(table, key, rows) == 0
    assert db.upsert(table, key, [{**rows[0], "거래량": 7235395}]) == 0
    assert db.columns(table) == ["종목이름", "종목코드", "날짜", "종가", '전일비 "부호"', "거래량"]
    assert db.count(table) == 2
    assert [r[:3] for r in schema(db.path, table)][:3] == [("종목이름", "TEXT", 1), ("종목코드", "TEXT", 1),
                                                           ("날짜", "TEXT", 1)]


def test_generator_and_empty_input(db):
    assert db.upsert("prices", KEY, (day(f"2019-07-0{d}", d) for d in range(1, 4))) == 3
    assert db.upsert("prices", KEY, iter(())) == 0
    assert db.upsert("never", KEY, []) == 0
    assert db.columns("never") == []  # nothing to learn a schema from


def test_reopened_file_knows_its_tables(tmp_path):
    path = tmp_path / "t.sqlite"
    with TableWriter(path) as first:
        first.upsert("prices", KEY, [day("2019-07-04", 1)])
    with TableWriter(path) as second:
        assert second.upsert("prices", KEY, [day("2019-07-04", 2), day("2019-07-05", 3, volume=5)]) == 1
        assert second.count("prices") == 2
        assert second.columns("prices") == ["name", "code", "date", "close", "volume"]


@pytest.mark.parametrize(
    ("key", "rows", "error"),
    [
        ((), [day("2019-07-05", 1)], ValueError),  # no key
        (("name", "code", "day"), [day("2019-07-05", 1)], ValueError),  # key not in the row
        (KEY, [{**day("2019-07-05", 1), "date": None}], ValueError),  # NULL key never conflicts
        (KEY, [day("2019-07-05", 1, Close=2)], ValueError),  # "close" and "Close" are one column
        (KEY, [day("2019-07-05", 1, when=object())], TypeError),
    ],
)
def test_rejected_rows(db, key, rows, error):
    with pytest.raises(error):
        db.upsert("prices", key, rows)
    assert db.columns("prices") == []


def test_failed_batch_writes_nothing(db):
    db.upsert("prices", KEY, [day("2019-07-04", 1)])
    bad = [day("2019-07-05", 2, volume=1), {"name": "x", "code": "y", "date": "z", "close": [3]}]
    with pytest.raises(TypeError):
        db.upsert("prices", KEY, bad)
    assert db.count("prices") == 1
    assert db.columns("prices") == ["name", "code", "date", "close"]


def test_failed_statement_rolls_back_schema_and_rows(db):
    db.upsert("prices", KEY, [day("2019-07-04", 1)])
    # A value SQLite refuses mid-batch (integer overflow), after a new column
    # was added for the first row: both are undone, and the writer recovers.
    with pytest.raises(OverflowError):
        db.upsert("prices", KEY, [day("2019-07-05", 2, volume=1), day("2019-07-06", 2**70)])
    assert db.count("prices") == 1
    assert db.columns("prices") == ["name", "code", "date", "close"]
    assert db.upsert("prices", KEY, [day("2019-07-05", 2, volume=1)]) == 1
    assert db.columns("prices") == ["name", "code", "date", "close", "volume"]


def test_key_must_match_existing_table(db):
    db.upsert("prices", KEY, [day("2019-07-04", 1)])
    with pytest.raises(ValueError, match="keyed by"):
        db.upsert("prices", ("code", "date"), [day("2019-07-05", 1)])
    with pytest.raises(ValueError, match="keyed by"):
        db.upsert("prices", ("code", "name", "date"), [day("2019-07-05", 1)])  # order matters too
    assert db.count("prices") == 1


def test_table_without_key_is_refused(db):
    sqlite3.connect(db.path).execute("CREATE TABLE plain (name TEXT, code TEXT, date TEXT)").connection.close()
    with pytest.raises(ValueError, match="keyed by"):
        db.upsert("plain", KEY, [day("2019-07-05", 1)])
