"""tests/components.py: a missing real component skips locally, fails (named) under
CI=true or DARKCRAWL_TEST_STRICT=1, and skips again where DARKCRAWL_TEST_ALLOW_MISSING
names it.  Each case runs pytest in a subprocess on a tiny test file, with tor hidden."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import components
from tests.conftest import ROOT

TINY = '''
from tests.components import needs, require

@needs("tor")
def test_marked():
    pass

def test_required():
    require("tor")
'''


@pytest.fixture
def no_tor(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """tor, as the components see it, is missing (whether or not this machine has it)."""
    components.missing.cache_clear()
    monkeypatch.setattr("tests.harness.tornet.network.TOR_CMD", "/nonexistent/tor")
    yield
    components.missing.cache_clear()


def run_tiny(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_tiny.py").write_text(TINY)
    # the components hooks as conftest wires them; tor's binary made to be missing
    (tmp_path / "conftest.py").write_text(
        "import tests.harness.tornet.network as network\n"
        "network.TOR_CMD = '/nonexistent/tor'\n"
        "from tests.components import pytest_configure, pytest_runtest_setup  # noqa: F401\n")
    base = {k: v for k, v in os.environ.items()
            if k not in ("CI", components.STRICT_ENV, components.ALLOW_ENV, "PYTEST_ADDOPTS")}
    # PATH without tor-gencert as well
    path = os.pathsep.join(d for d in base.get("PATH", "").split(os.pathsep)
                           if d and not (Path(d) / "tor-gencert").exists())
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         str(tmp_path / "test_tiny.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**base, "PATH": path, "PYTHONPATH": str(ROOT), **env},
    )


def test_a_missing_component_skips_locally(tmp_path: Path) -> None:
    proc = run_tiny(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 skipped" in proc.stdout, proc.stdout
    assert "tor missing: needs /nonexistent/tor" in proc.stdout


@pytest.mark.parametrize("strict", [{"CI": "true"}, {"DARKCRAWL_TEST_STRICT": "1"}])
def test_a_missing_component_fails_in_strict_mode_naming_it(tmp_path: Path, strict: dict[str, str]) -> None:
    proc = run_tiny(tmp_path, **strict)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # the marker fails the test's setup (an error), require() its body (a failure)
    assert "1 failed, 1 error" in proc.stdout, proc.stdout
    assert "skipped" not in proc.stdout, proc.stdout
    assert proc.stdout.count("tor missing: needs /nonexistent/tor and tor-gencert (apt-get install tor)") >= 2
    assert "scripts/setup.sh installs" in proc.stdout and "DARKCRAWL_TEST_ALLOW_MISSING=tor" in proc.stdout


@pytest.mark.parametrize("allow", ["tor", "i2pd,tor", "all"])
def test_the_opt_out_lets_named_components_skip_in_strict_mode(tmp_path: Path, allow: str) -> None:
    proc = run_tiny(tmp_path, CI="true", DARKCRAWL_TEST_ALLOW_MISSING=allow)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 skipped" in proc.stdout, proc.stdout


def test_the_opt_out_of_another_component_does_not_cover_tor(tmp_path: Path) -> None:
    proc = run_tiny(tmp_path, CI="true", DARKCRAWL_TEST_ALLOW_MISSING="i2pd")
    assert proc.returncode == 1 and "skipped" not in proc.stdout, proc.stdout


def test_a_misspelt_opt_out_is_an_error(tmp_path: Path) -> None:
    proc = run_tiny(tmp_path, CI="true", DARKCRAWL_TEST_ALLOW_MISSING="tro")
    assert proc.returncode != 0
    assert "unknown component(s) tro" in proc.stdout + proc.stderr


def test_chromium_is_looked_for_where_the_product_launches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from darkcrawl.config import OPTIONS_BY_NAME

    from darkcrawl.render.browser import chromium_binary

    monkeypatch.delenv("DARKCRAWL_CHROMIUM", raising=False)
    assert OPTIONS_BY_NAME["DARKCRAWL_CHROMIUM"].default == ""  # the product picks one
    assert components.chromium_path() == chromium_binary("")
    monkeypatch.setenv("DARKCRAWL_CHROMIUM", "/nonexistent/chromium")
    components.missing.cache_clear()
    try:
        assert components.missing("chromium") == ("needs /nonexistent/chromium, the DARKCRAWL_CHROMIUM in use "
                                                  "(apt-get install chromium-headless-shell or chromium)")
    finally:
        components.missing.cache_clear()


def test_tor_is_missing_without_its_binary(no_tor: None) -> None:
    assert components.missing("tor").startswith("needs /nonexistent/tor")


def test_strict_mode_and_opt_out_are_read_from_the_environment() -> None:
    assert components.strict_reason({}) is None
    assert components.strict_reason({"CI": "false"}) is None
    assert components.strict_reason({"CI": "true"}) == "CI=true"
    assert components.strict_reason({"DARKCRAWL_TEST_STRICT": "1"}) == "DARKCRAWL_TEST_STRICT=1"
    assert components.allowed_missing({"DARKCRAWL_TEST_ALLOW_MISSING": " tor , i2pd "}) == {"tor", "i2pd"}
    assert components.allowed_missing({"DARKCRAWL_TEST_ALLOW_MISSING": "all"}) == set(components.COMPONENTS)
