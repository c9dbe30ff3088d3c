"""Profile for one machine: everything in this process, data under ./data."""

BOT_NAME = "darkcrawl"
SPIDER_MODULES = ["darkcrawl.spiders"]
NEWSPIDER_MODULE = "darkcrawl.spiders"
ADDONS = {"darkcrawl.addon.Addon": 0}
COMMANDS_MODULE = "darkcrawl.commands"  # scrapy resubmit

PATH_DATA = "data"

# The reactor's resolver is chosen before add-ons run, so it is set here:
# refuses .onion/.i2p names and names resolving to private addresses.
TWISTED_DNS_RESOLVER = "darkcrawl.dns.GuardedResolver"
