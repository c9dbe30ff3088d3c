"""darkcrawl's Scrapy commands (``COMMANDS_MODULE = "darkcrawl.commands"``)."""
