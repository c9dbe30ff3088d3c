"""The real components the tests run, and what a test does when one is missing.

The tests that prove Tor routing, fail-closed DNS, rendering, distribution and
deployment run the real thing: tor, redis-server, PostgreSQL, Chromium, i2pd, scrapyd and the
DNS canary's mount-namespace isolation.  Every test needing one asks here, in one
of two ways:

* ``@needs("tor")`` / ``pytestmark = needs("redis-server")``: a marker, checked
  before the test is set up (:func:`pytest_runtest_setup`, wired in by conftest);
* ``require("tor")``: in a fixture or a test body.

Locally a missing component skips its tests.  In strict mode (``CI=true``, or
``DARKCRAWL_TEST_STRICT=1``, which ``make test`` sets) it **fails** them, naming
the component and how to install it: CI cannot go green by skipping the very
tests that matter.  A developer opts out explicitly, for named components:
``DARKCRAWL_TEST_ALLOW_MISSING=tor,i2pd`` (``all``: every one) turns those
failures back into skips.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

STRICT_ENV = "DARKCRAWL_TEST_STRICT"
ALLOW_ENV = "DARKCRAWL_TEST_ALLOW_MISSING"
SETUP = "scripts/setup.sh"


def _tor() -> str | None:
    from tests.harness.tornet.network import TOR_CMD, TOR_GENCERT_CMD

    missing = [] if os.access(TOR_CMD, os.X_OK) else [TOR_CMD]
    if shutil.which(TOR_GENCERT_CMD) is None:
        missing.append(TOR_GENCERT_CMD)
    return f"needs {' and '.join(missing)} (apt-get install tor)" if missing else None


def chromium_path() -> str:
    """The Chromium the product launches: DARKCRAWL_CHROMIUM (environment), else the one
    it picks (chromium-headless-shell if installed, else /usr/bin/chromium)."""
    from darkcrawl.config import OPTIONS_BY_NAME
    from darkcrawl.render.browser import chromium_binary

    return chromium_binary(os.environ.get("DARKCRAWL_CHROMIUM") or OPTIONS_BY_NAME["DARKCRAWL_CHROMIUM"].default)


def _chromium() -> str | None:
    path = chromium_path()
    if os.access(path, os.X_OK):
        return None
    return f"needs {path}, the DARKCRAWL_CHROMIUM in use (apt-get install chromium-headless-shell or chromium)"


def _redis() -> str | None:
    from tests.harness.redisserver import redis_server_missing

    return redis_server_missing()


def _postgresql() -> str | None:
    from tests.harness.postgres import postgres_missing

    return postgres_missing()


def _i2pd() -> str | None:
    from tests.i2pnet import i2pd_available

    return i2pd_available()


def _scrapyd() -> str | None:
    scrapyd = Path(sys.executable).with_name("scrapyd")
    return None if os.access(scrapyd, os.X_OK) else f"needs {scrapyd} (pip install -r requirements.txt)"


def _dns_canary() -> str | None:
    from tests.dnscanary import canary_supported

    reason = canary_supported()
    # not an apt package: a capability of the machine (or container) the tests run on
    return f"{reason} (needs Linux user + mount namespaces and util-linux)" if reason else None


def _pywb() -> str | None:
    from tests.replay import replay_missing

    return replay_missing()


def _setsid() -> str | None:
    return None if shutil.which("setsid") else "needs setsid on PATH (apt-get install util-linux)"


#: name -> None if the component is usable here, else what is missing and how to get it
COMPONENTS: dict[str, Callable[[], str | None]] = {
    "tor": _tor,
    "chromium": _chromium,
    "redis-server": _redis,
    "postgresql": _postgresql,
    "i2pd": _i2pd,
    "scrapyd": _scrapyd,
    "dns-canary": _dns_canary,
    "setsid": _setsid,
    "pywb": _pywb,
}


@functools.cache
def missing(name: str) -> str | None:
    """None if *name* can be used here, else why not.  Cached per session."""
    return COMPONENTS[name]()


def strict_reason(environ: dict[str, str] | None = None) -> str | None:
    """Why a missing component fails rather than skips (None: it skips)."""
    env = os.environ if environ is None else environ
    if env.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes"):
        return f"{STRICT_ENV}={env[STRICT_ENV]}"
    if env.get("CI", "").strip().lower() in ("1", "true", "yes"):
        return f"CI={env['CI']}"
    return None


def allowed_missing(environ: dict[str, str] | None = None) -> set[str]:
    """The components DARKCRAWL_TEST_ALLOW_MISSING lets skip in strict mode."""
    env = os.environ if environ is None else environ
    names = {n.strip() for n in env.get(ALLOW_ENV, "").split(",") if n.strip()}
    if "all" in names:
        return set(COMPONENTS)
    unknown = names - set(COMPONENTS)
    if unknown:
        raise pytest.UsageError(f"{ALLOW_ENV}: unknown component(s) {', '.join(sorted(unknown))}; "
                                f"known: {', '.join(COMPONENTS)}, all")
    return names


def require(name: str) -> None:
    """Skip the current test (or fixture) without *name*; fail instead in strict mode."""
    if name not in COMPONENTS:
        raise KeyError(f"unknown test component {name!r}; known: {', '.join(COMPONENTS)}")
    reason = missing(name)
    if reason is None:
        return
    message = f"{name} missing: {reason}; {SETUP} installs the test components"
    strict = strict_reason()
    if strict and name not in allowed_missing():
        pytest.fail(f"{message}. Strict mode ({strict}): a missing component fails its tests; "
                    f"{ALLOW_ENV}={name} lets them skip", pytrace=False)
    pytest.skip(message)


def needs(*names: str) -> pytest.MarkDecorator:
    """Marker: the test needs these components (see :func:`require`)."""
    for name in names:
        if name not in COMPONENTS:
            raise KeyError(f"unknown test component {name!r}; known: {', '.join(COMPONENTS)}")
    return pytest.mark.needs(*names)


# -- pytest hooks (imported into tests/conftest.py) ------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*components): the real components a test runs (tests/components.py)")
    allowed_missing()  # a misspelt opt-out is an error at once, not a silent no-op


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        for name in mark.args:
            require(name)
