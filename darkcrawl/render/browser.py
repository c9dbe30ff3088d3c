"""Which Chromium binary the render stage launches.

Debian ships the same Chromium twice: ``chromium`` (the desktop browser, run
headless) and ``chromium-headless-shell`` (built for headless use only: no
browser UI, no GPU compositor of a window; what Playwright itself runs for
headless Chromium).  On the render benchmark the headless shell costs less CPU
and memory per render (``bench/README.md``), so it is the default when it is
installed; the desktop browser is the fallback.  ``DARKCRAWL_CHROMIUM`` names
another binary.
"""

from __future__ import annotations

import os

#: Debian's chromium-headless-shell, called directly: its /usr/bin wrapper runs it
#: without exec, so the browser would outlive a kill of the process Playwright holds.
HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
#: Debian's chromium (a wrapper that adds /etc/chromium.d's flags, then execs it)
CHROMIUM = "/usr/bin/chromium"
#: the binaries tried, in order, when DARKCRAWL_CHROMIUM is not set
CANDIDATES = (HEADLESS_SHELL, CHROMIUM)


def chromium_binary(configured: str, candidates: tuple[str, ...] = CANDIDATES) -> str:
    """The binary to launch: *configured* (DARKCRAWL_CHROMIUM) when set, else the
    first of *candidates* installed, else the last (named in errors)."""
    if configured:
        return configured
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return candidates[-1]


def browser_missing(binary: str) -> str | None:
    """Why *binary* cannot be launched, in words that name the fix; None when it can."""
    if os.path.isfile(binary) and os.access(binary, os.X_OK):
        return None
    return (f"{binary} not found: apt-get install chromium-headless-shell (or chromium), "
            "set DARKCRAWL_CHROMIUM, or DARKCRAWL_RENDER=0")
