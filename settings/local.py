"""Profile for one machine: everything in this process, data under ./data."""

BOT_NAME = "darkcrawl"
SPIDER_MODULES = ["darkcrawl.spiders"]
NEWSPIDER_MODULE = "darkcrawl.spiders"
ADDONS = {"darkcrawl.addon.Addon": 0}

PATH_DATA = "data"
