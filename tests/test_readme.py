"""The README's commands are true: its example seeds are fetchable URLs, and the
two commands are the Makefile's."""

from __future__ import annotations

import re

from darkcrawl.links.classify import Gateways, classify
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_example_urls_are_fetchable():
    examples = [url for arg in re.findall(r"-a urls=(\S+)", README) for url in arg.split(",")]
    assert examples
    for url in examples:
        link = classify(url, Gateways(43110, 8888))
        assert link.fetchable, f"README example {url!r}: {link.reason or link.kind}"


def test_the_two_commands_are_make_targets():
    makefile = (ROOT / "Makefile").read_text()
    for command in ("make crawl", "make test"):
        assert command in README
        assert re.search(rf"^{command.split()[1]}:", makefile, re.MULTILINE)
    assert "DARC_REBOOT=$(REBOOT)" in makefile  # `make crawl` ends by itself, as the README says


def test_every_option_of_the_table_is_in_the_readme():
    """darkcrawl.config's table is the list of options; the README names each (a
    ``PREFIX_*``, or a ``_SUFFIX`` after a full name in the same cell, counts)."""
    from darkcrawl.config import OPTIONS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    def named(name: str) -> bool:
        parts = name.split("_")
        return (re.search(rf"(?<![A-Z0-9_]){name}(?![A-Z0-9_])", readme) is not None
                or f"`{name.removeprefix('DARKCRAWL')}`" in readme
                or any(f"`{'_'.join(parts[:i])}_*`" in readme for i in range(1, len(parts))))

    assert [option.name for option in OPTIONS if not named(option.name)] == []
