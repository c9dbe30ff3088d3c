"""``scrapy pushseeds``: put seed URLs into the fleet's Redis, for its workers to crawl.

Arguments are seed files (``-`` reads standard input) in darkcrawl's seed format
(one URL per line, ``#`` comments, a bare host name means ``http://host/``), or
URLs, or comma-separated URLs.  Every line is checked as a crawl checks its seeds:
a line that is not a fetchable URL is reported with its file and line number and
not pushed; the others are.  Run it with the distributed profile, so that it
finds the same Redis and key prefix as the workers::

    SCRAPY_PROJECT=distributed scrapy pushseeds seeds.txt
    SCRAPY_PROJECT=distributed scrapy pushseeds --status
    SCRAPY_PROJECT=distributed scrapy pushseeds --reset        # a new crawl

Workers take the seeds when their queue runs low and admit them like command-line
seeds (a URL already seen is not fetched again).

Exit status: 0 when every line was pushed, 1 when some lines were bad (the good
ones are pushed), 2 when a file cannot be read, Redis cannot be reached, or
``--reset`` is refused because workers are alive.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from darkcrawl.command_base import QuietCommand, loaded_or_config_error
from darkcrawl.distributed import connection
from darkcrawl.distributed.redis_frontier import DEFAULT_PREFIX
from darkcrawl.links.classify import Gateways
from darkcrawl.seeds import SeedError, parse_seed_lines, read_seed_file, split_inline

if TYPE_CHECKING:
    import argparse

    import redis


class Command(QuietCommand):
    requires_project = False

    def syntax(self) -> str:
        return "[options] FILE|URL|- ..."

    def short_desc(self) -> str:
        return "Push seed URLs into Redis for the workers of the distributed profile"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--spider", default="darkweb", help="the workers' spider (default: darkweb)")
        parser.add_argument("--status", action="store_true", help="print the shared frontier's state")
        parser.add_argument("--reset", action="store_true",
                            help="delete the shared frontier (queue, seen set, hosts, seeds) first")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        settings = loaded_or_config_error(self, "pushseeds")
        if settings is None:
            return
        gateways = Gateways.from_settings(settings)
        urls, errors, unreadable = _read_all(args, gateways)
        for error in errors:
            print(f"bad seed skipped: {error}", file=sys.stderr)
        if unreadable:
            self.exitcode = 2
            return
        url = connection.redis_url(settings)
        prefix = (settings.get("DARKCRAWL_REDIS_PREFIX") or DEFAULT_PREFIX) % {"spider": opts.spider}
        try:
            connection.check(settings)
            client = connection.from_settings(settings)
            if opts.reset and not _reset(client, prefix):
                self.exitcode = 2
                return
            if urls:
                # in chunks: one huge RPUSH would hold Redis up
                for start in range(0, len(urls), 10_000):
                    client.rpush(f"{prefix}:seeds", *urls[start:start + 10_000])
                print(f"pushed {len(urls)} seeds to {connection.shown_url(url)} ({prefix}:seeds)")
            if opts.status:
                _print_status(client, prefix)
        except (RuntimeError, RedisError) as exc:
            print(f"pushseeds: {exc}", file=sys.stderr)
            self.exitcode = 2
            return
        if errors:
            print(f"{len(errors)} bad lines skipped", file=sys.stderr)
        self.exitcode = 1 if errors else 0


def _read_all(args: list[str], gateways: Gateways) -> tuple[list[str], list[SeedError], bool]:
    urls: list[str] = []
    errors: list[SeedError] = []
    unreadable = False
    for arg in args:
        if arg == "-":
            more, more_errors = parse_seed_lines(sys.stdin.read().splitlines(), "<stdin>", gateways)
        elif "://" not in arg and Path(arg).is_file():
            try:
                more, more_errors = read_seed_file(arg, gateways)
            except OSError as exc:
                print(f"pushseeds: cannot read {arg}: {exc}", file=sys.stderr)
                unreadable = True
                continue
        elif "://" not in arg and ("/" in arg or arg.endswith((".txt", ".lst", ".csv"))):
            print(f"pushseeds: seeds file not found: {arg}", file=sys.stderr)
            unreadable = True
            continue
        else:
            more, more_errors = parse_seed_lines(split_inline(arg), "<arguments>", gateways)
        urls += more
        errors += more_errors
    return urls, errors, unreadable


def _reset(client: redis.Redis, prefix: str) -> bool:
    alive = list(client.scan_iter(match=f"{prefix}:alive:*", count=1000))
    if alive:
        print(f"pushseeds: --reset refused: {len(alive)} workers are alive", file=sys.stderr)
        return False
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += client.unlink(*batch)
    print(f"reset: {deleted} keys deleted under {prefix}")
    return True


def _print_status(client: redis.Redis, prefix: str) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.zcard(f"{prefix}:ready")
    pipe.zcard(f"{prefix}:wait")
    pipe.llen(f"{prefix}:seeds")
    pipe.hgetall(f"{prefix}:workers")
    pipe.get(f"{prefix}:seen:n")
    pipe.hlen(f"{prefix}:hosts")
    ready, waiting, seeds, workers, seen, hosts = pipe.execute()
    leased = {w.decode(): client.hlen(f"{prefix}:lease:{w.decode()}") for w in workers}
    alive = {w for w in leased if client.exists(f"{prefix}:alive:{w}")}
    print(f"frontier {prefix}:")
    print(f"  hosts with requests: {ready} ready, {waiting} resting (politeness)")
    print(f"  seeds waiting: {seeds}")
    print(f"  URLs seen: {int(seen or 0)}, hosts: {hosts}")
    print(f"  workers: {len(workers)} ({len(alive)} alive)")
    for worker, count in sorted(leased.items()):
        print(f"    {worker}: {count} requests leased{'' if worker in alive else ' (silent)'}")
