"""The render stage's bounds: what keeps one Chromium render from running, or
fetching, for ever (see :mod:`darkcrawl.render.limits`)."""
