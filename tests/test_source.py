"""Rules the source keeps: checked on darkcrawl/ itself, with ast."""

from __future__ import annotations

import ast
from pathlib import Path

from darkcrawl.config import OPTIONS_BY_NAME
from tests.conftest import ROOT

SOURCES = sorted((ROOT / "darkcrawl").rglob("*.py"))
SETTINGS_GETTERS = {"get", "getbool", "getint", "getfloat", "getlist", "getdict", "getdictorlist", "getwithbase"}
MAX_FUNCTION_LINES = 60


def _trees() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"), str(path))) for path in SOURCES]


def test_no_call_site_repeats_a_default_of_the_option_table():
    """``settings.getint("X", 123)`` for an option of darkcrawl.config: the table holds
    its default (``get_option(settings, "X")`` reads it)."""
    repeated = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
        for path, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in SETTINGS_GETTERS and node.args
        and isinstance(node.args[0], ast.Constant) and node.args[0].value in OPTIONS_BY_NAME
        and (len(node.args) > 1 or node.keywords)
    ]
    assert not repeated, "\n".join(repeated)


def test_no_function_is_longer_than_60_lines():
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, "\n".join(long)
