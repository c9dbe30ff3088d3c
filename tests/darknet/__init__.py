"""A local "test web": real HTTP servers on 127.0.0.1 for end-to-end crawls.

``Darknet`` (see :mod:`.server`) starts the sites defined in :mod:`.sites`;
the ``EXPECTED_*`` constants there say what a correct crawl does with them.
Run ``python -m tests.darknet`` to poke at it by hand.
"""

from __future__ import annotations

from .server import Darknet, RecordedRequest, Site

__all__ = ["Darknet", "RecordedRequest", "Site"]
