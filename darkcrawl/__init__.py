"""darkcrawl: a dark-web crawler on Scrapy (darc re-implemented)."""

__version__ = "0.1.0"
