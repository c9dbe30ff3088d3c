"""What a crawl tells the person who ran it: the periodic progress line, the summary
at the end (text and JSON) and the exit code.  Pure parts here; the Scrapy extension
that feeds them is ``darkcrawl.extensions.report``."""
