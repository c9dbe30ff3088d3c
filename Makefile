# The two commands of the README: `make crawl` and `make test`.  Both set up a
# fresh machine first (Debian packages + .venv), see scripts/setup.sh.
VENV := .venv/bin
SEEDS ?= seeds.txt
# one round by default (a newcomer's first crawl ends by itself); REBOOT=0: darc's
# continuous monitoring mode
REBOOT ?= 1
PATH_DATA ?= data

.PHONY: setup crawl test bench clean

setup:
	./scripts/setup.sh

crawl: setup
	DARC_REBOOT=$(REBOOT) PATH_DATA=$(PATH_DATA) $(VENV)/scrapy crawl darkweb -a seeds=$(SEEDS)

# strict: a missing tor, chromium, i2pd, redis-server... fails its tests instead of
# skipping them (tests/components.py); DARKCRAWL_TEST_ALLOW_MISSING=tor,i2pd opts out
test: setup
	DARKCRAWL_TEST_STRICT=1 $(VENV)/python -m pytest -q

bench: setup
	$(VENV)/python -m bench.run

clean:
	rm -rf .venv .pytest_cache
