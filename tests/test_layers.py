"""Layers point one way: the imports between darkcrawl's packages, read with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "darkcrawl"


def _imports(path: Path) -> set[str]:
    """Every darkcrawl module *path* imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("darkcrawl")}


def _sources(where: str) -> list[Path]:
    target = PACKAGE / where
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


@pytest.mark.parametrize(
    ("where", "forbidden"),
    [
        ("spiders", "darkcrawl.downloadermiddlewares"),
        ("dns.py", "darkcrawl.downloadermiddlewares"),
        ("distributed", "darkcrawl.spiders"),
        ("downloadermiddlewares", "darkcrawl.spiders"),
        ("failures.py", "darkcrawl.spiders"),
        ("extensions", "darkcrawl.spiders"),
        ("addresses.py", "darkcrawl.downloadermiddlewares"),
        ("frontier", "darkcrawl.extensions"),
        ("networks", "darkcrawl.extensions"),  # a launch aborted by a close: darkcrawl.closing
        ("seen", "darkcrawl.spiders"),
        ("seen", "darkcrawl.downloadermiddlewares"),
        ("policy", "darkcrawl.spiders"),
        ("policy", "darkcrawl.downloadermiddlewares"),
        # host intelligence: read by the middlewares and the spider alike, above neither
        ("intel", "darkcrawl.spiders"),
        ("intel", "darkcrawl.downloadermiddlewares"),
        ("intel", "darkcrawl.pipelines"),
        ("links", "darkcrawl.spiders"),
        ("links", "darkcrawl.downloadermiddlewares"),
        ("storage", "darkcrawl.spiders"),
        ("storage", "darkcrawl.pipelines"),
        ("items.py", "darkcrawl.spiders"),
        ("config.py", "darkcrawl.spiders"),
        ("config.py", "darkcrawl.downloadermiddlewares"),
        # the catalogue reads items and files: never the crawl's machinery
        ("catalog", "darkcrawl.spiders"),
        ("catalog", "darkcrawl.pipelines"),
        ("catalog", "darkcrawl.downloadermiddlewares"),
        ("catalog", "darkcrawl.extensions"),
        ("catalog", "darkcrawl.viewer"),
        ("storage", "darkcrawl.viewer"),
        ("viewer", "darkcrawl.spiders"),  # a top layer that runs no crawl
        ("viewer", "darkcrawl.pipelines"),
        ("viewer", "darkcrawl.commands"),
        # host intelligence is pure: signatures and clusters, no database, no crawl
        ("intel", "darkcrawl.catalog"),
        ("intel", "darkcrawl.spiders"),
        ("intel", "darkcrawl.pipelines"),
        ("intel", "darkcrawl.viewer"),
        ("meta.py", "darkcrawl"),  # the bottom layer: imports nothing of darkcrawl
        ("closing.py", "darkcrawl"),
    ],
)
def test_no_upward_import(where, forbidden):
    wrong = [f"{path.relative_to(PACKAGE.parent)} imports {name}"
             for path in _sources(where) for name in sorted(_imports(path))
             if name == forbidden or name.startswith(forbidden + ".")]
    assert not wrong, "\n".join(wrong)
