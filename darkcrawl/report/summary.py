"""The end-of-crawl summary: what a person wants to know, not Scrapy's 75-key dict.

:func:`build_summary` gathers it (JSON-ready), :func:`summary_lines` words it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from darkcrawl.intel.gates import GATE_KINDS
from darkcrawl.report.outcome import MEANINGS, ExitCode, unavailable_networks
from darkcrawl.report.tally import CrawlTally


def _int(stats: Mapping[str, Any], key: str) -> int:
    return int(stats.get(key, 0) or 0)


def _elapsed(stats: Mapping[str, Any]) -> float | None:
    start, end = stats.get("start_time"), stats.get("finish_time")
    if isinstance(start, datetime) and isinstance(end, datetime):
        return round((end - start).total_seconds(), 1)
    return None


def build_summary(stats: Mapping[str, Any], tally: CrawlTally, finish_reason: str | None,
                  code: ExitCode, path_data: str) -> dict[str, Any]:
    networks = {
        name: {
            "pages": t.pages,
            "status": {str(status): n for status, n in sorted(t.statuses.items())},
            "renders": t.renders,
            "failed": t.failed,
            "hosts_up": len(t.hosts_up),
            "hosts_down": t.hosts_down,
        }
        for name, t in sorted(tally.networks.items())
    }
    failures = [
        {"stage": stage, "error": error, "count": n, "example": tally.examples.get(error, "")}
        for (stage, error), n in tally.failures.most_common()
    ]
    api_spooled = sum(v for k, v in stats.items() if k.startswith("darkcrawl/api/") and k.endswith("/spooled"))
    api_delivered = sum(v for k, v in stats.items() if k.startswith("darkcrawl/api/") and k.endswith("/delivered"))
    return {
        "finish_reason": finish_reason,
        "exit_code": int(code),
        "exit_meaning": MEANINGS[code],
        "elapsed_seconds": _elapsed(stats),
        "pages": tally.pages,
        "renders": sum(t.renders for t in tally.networks.values()),
        "networks": networks,
        "networks_unavailable": unavailable_networks(stats),
        "failures": failures,
        "traps": dict(tally.traps.most_common()),
        "gates": _gates(stats),
        "hosts": {
            "bootstrapped": _int(stats, "darkcrawl/hosts/bootstrapped"),
            "backed_off": _int(stats, "darkcrawl/backoff/entered"),
            "given_up": _int(stats, "darkcrawl/backoff/gave_up"),
        },
        "api": {
            "spooled": api_spooled,
            "delivered": api_delivered,
            "still_spooled": _int(stats, "darkcrawl/api/pending"),
        },
        "seeds": {"accepted": _int(stats, "darkcrawl/seeds/accepted"),
                  "rejected": _int(stats, "darkcrawl/seeds/rejected")},
        "output": path_data,
        "catalog": {"snapshots": _int(stats, "darkcrawl/catalog/snapshots"),
                    "failures": _int(stats, "darkcrawl/catalog/failures"),
                    "lost": _int(stats, "darkcrawl/catalog/lost"),
                    "unavailable": bool(_int(stats, "darkcrawl/catalog/unavailable"))},
    }


def _gates(stats: Mapping[str, Any]) -> dict[str, Any]:
    """Gate pages met by kind, and what became of the gated hosts (darkcrawl/policy/gatebook.py)."""
    return {
        "pages": {kind: _int(stats, f"darkcrawl/gates/{kind}") for kind in GATE_KINDS
                  if _int(stats, f"darkcrawl/gates/{kind}")},
        **{what: _int(stats, f"darkcrawl/gates/{what}") for what in ("passed", "banned", "needs_person", "gave_up")},
    }


def _gates_line(gates: Mapping[str, Any]) -> str | None:
    if not gates or not gates.get("pages"):
        return None
    met = ", ".join(f"{kind} ×{n}" for kind, n in gates["pages"].items())
    became = [f"{gates[key]} {words}" for key, words in (("passed", "waited out"), ("banned", "bans"),
                                                         ("needs_person", "hosts need a person"),
                                                         ("gave_up", "hosts given up")) if gates.get(key)]
    return f"  gates: {met}" + (f"; {', '.join(became)}" if became else "") + " (misc/hosts_gates.json)"


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The summary in a few lines of plain words, for the log."""
    elapsed = summary.get("elapsed_seconds")
    lines = [f"crawl finished ({summary['finish_reason']}"
             + (f", {elapsed:g} s" if elapsed is not None else "")
             + f"): {summary['pages']} pages, {summary['renders']} renders;"
             f" exit code {summary['exit_code']}: {summary['exit_meaning']}"]
    for name, net in summary["networks"].items():
        statuses = ", ".join(f"{n}×{status}" for status, n in net["status"].items()) or "none"
        lines.append(f"  {name}: {net['pages']} pages ({statuses}), {net['renders']} renders, "
                     f"{net['failed']} failed; hosts {net['hosts_up']} up, {net['hosts_down']} down")
    for name, n in summary["networks_unavailable"].items():
        lines.append(f"  {name}: network unavailable for {n} requests")
    for failure in summary["failures"][:8]:
        example = f": {failure['example']}" if failure["example"] else ""
        lines.append(f"  {failure['count']} × {failure['stage']} {failure['error']}{example}")
    if len(summary["failures"]) > 8:
        lines.append(f"  ... and {len(summary['failures']) - 8} more kinds of failure (see the summary file)")
    if summary["traps"]:
        lines.append("  traps: " + ", ".join(f"{kind} ×{n}" for kind, n in summary["traps"].items()))
    gates = _gates_line(summary.get("gates") or {})
    if gates:
        lines.append(gates)
    hosts, api = summary["hosts"], summary["api"]
    if hosts["backed_off"] or hosts["given_up"]:
        lines.append(f"  hosts backed off: {hosts['backed_off']}, given up: {hosts['given_up']}")
    if api["still_spooled"]:
        lines.append(f"  {api['still_spooled']} API payloads still spooled: `scrapy resubmit` delivers them")
    lines.append(f"  output: {summary['output']}")
    catalog = summary.get("catalog") or {}
    if catalog.get("unavailable") or catalog.get("lost"):
        lines.append("  catalogue incomplete (see the warnings above): `scrapy catalog --rebuild` makes it whole")
    elif catalog.get("snapshots") or catalog.get("failures"):
        lines.append(f"  catalogue: {catalog['snapshots']} new snapshots, {catalog['failures']} failures; "
                     "browse and search it with `scrapy view`")
    return lines
