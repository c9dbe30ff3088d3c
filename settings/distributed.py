"""Profile for a fleet: N workers, on one machine or many, share one frontier in Redis.

``SCRAPY_PROJECT=distributed scrapy crawl darkweb`` (the wiring is in
``darkcrawl/distributed/addon.py``).  Where Redis is: ``DARKCRAWL_REDIS_URL`` (or
``REDIS_URL``) in the environment overrides the value here.
"""

from .local import *  # noqa: F403

# the shared scheduler: its own scheduler keeps darkcrawl's add-on from setting up
# the embedded one (JOBDIR)
SCHEDULER = "darkcrawl.distributed.scheduler.DistributedScheduler"
ADDONS = {"darkcrawl.addon.Addon": 0, "darkcrawl.distributed.addon.DistributedAddon": 10}

REDIS_URL = "redis://127.0.0.1:6379/0"
