"""The exception of work cut by a closing crawl.

Its own module at the bottom of the house: the shutdown extension raises it for
downloads and renders, the network managers for launches they abort, and neither
has to import the other.
"""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest


class ShutdownCancelled(IgnoreRequest):
    """The crawl is closing: the request was cancelled and is put back, not failed."""
