"""Gate pages in the darkweb spider: an interstitial is recorded as the host's gate, never
as its content.

The gate middleware reads most answers (:mod:`darkcrawl.downloadermiddlewares.gates`) and
puts a gate it found in the request's meta; a page it did not read closely (a big page
with no refresh and an ordinary title) is read here once parsed, when its visible text
is short (:meth:`GatePages._late_gate`).  A gate page is saved, as the evidence (raw
document and headers record, with ``Gate``), but it is not rendered, its links are not
followed, and it takes no part in content-seen: otherwise every page of a queued host
would be a duplicate of the first queue page.  Then:

* a queue or a ban (``action`` "wait"): the same request again, which the gate
  middleware holds until the host lets the crawl in;
* "needs a person" (captcha, login wall): nothing more; the URL waits for the revisit
  schedule, and the host's other requests fail with the reason;
* a queue that never opened ("give_up"): a ``FailureItem`` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from scrapy.utils.httpobj import urlparse_cached

from darkcrawl.frontier.revisit_policy import GATED, parse_time
from darkcrawl.intel.gates import SHORT_TEXT, AnswerHeaders, Gate, detect, markup_signals
from darkcrawl.items import FailureItem
from darkcrawl.links.extract import page_title
from darkcrawl.meta import (
    BOOTSTRAP_KEY,
    GATE_CHECKED_KEY,
    GATE_KEY,
    GATE_PACER_KEY,
    GATE_PROBE_KEY,
    REVISIT_STATE_KEY,
    gate_key,
    host_key,
)
from darkcrawl.spiders.common import now_iso

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from darkcrawl.policy.gatebook import GateBook
    from darkcrawl.links.extract import PageFacts

#: meta keys of one attempt: the request asked for again leaves them out
_ATTEMPT_KEYS = frozenset({GATE_KEY, GATE_CHECKED_KEY, GATE_PROBE_KEY, GATE_PACER_KEY, "retry_times",
                           "download_latency", "redirect_times", "redirect_ttl"})


class GatePages:
    """Mixed into DarkwebSpider (uses its page records, revisits, stats and bootstrap)."""

    gates: GateBook | None = None
    #: content digests of gate pages found late (after content-seen): their copies are gates too
    _gate_digests: dict[bytes, Gate]

    def _gate_page(self, response: Response, url: str, kind: str, host: str, content_type: str,
                   record: dict[str, Any], stage: str = "plain") -> Iterator[Any]:
        """The gate page's record (the evidence), then what its action asks for."""
        visit = now_iso()
        item = self._page_item(response, url, kind, host, content_type, visit,  # type: ignore[attr-defined]
                               links=[], title=self._gate_title(response), text=None, gate=record)
        self.stats.inc_value("darkcrawl/gates/pages")  # type: ignore[attr-defined]
        yield item
        action = record.get("action")
        if action == "wait":
            yield self._gate_again(response)  # the visit is its answer's, once the host lets us in
            return
        revisits = self.revisits  # type: ignore[attr-defined]
        if stage == "plain" and revisits.enabled:  # the host answered, the page was not seen
            revisits.adopt(url, response.meta.get(REVISIT_STATE_KEY))
            revisits.failed(url, response.meta.get("depth", 0), parse_time(visit), GATED, host_key(kind, host))
        if action == "give_up":
            yield FailureItem(url=url, timestamp=now_iso(), network=kind, stage=stage,
                              reason=f"behind a gate: {record.get('reason') or record.get('evidence')}",
                              error="GateGaveUp", redirects=list(response.meta.get("redirect_urls", ())))

    @staticmethod
    def _gate_title(response: Response) -> str | None:
        try:
            return page_title(response.selector.root) or None  # type: ignore[attr-defined]
        except Exception:  # not HTML, or not parseable: no title
            return None

    @staticmethod
    def _gate_again(response: Response) -> Request:
        """The request that met the gate, again: the gate middleware holds it until the host
        lets the crawl in (the queue's delay, or a fresh start after a ban)."""
        request = response.request
        assert request is not None
        meta = {key: value for key, value in request.meta.items() if key not in _ATTEMPT_KEYS}
        return request.replace(meta=meta, dont_filter=True)

    def _late_gate(self, response: Response, facts: PageFacts) -> Gate | None:
        """A gate among the pages the gate middleware did not read closely: read once the page
        is parsed, when its visible text is short (a gate's always is)."""
        if self.gates is None:
            return None
        text = facts.text if self.options.catalog_text else None  # type: ignore[attr-defined]
        if text is not None and len(text) > 3 * SHORT_TEXT:
            return None
        try:
            root = response.selector.root  # type: ignore[attr-defined]
        except Exception:
            return None
        signals = markup_signals(root, response.status, response.url, AnswerHeaders.read(response.headers.get), text)
        if signals.long:
            return None
        request = response.request
        requested = (response.meta.get("redirect_urls") or [request.url if request else response.url])[0]
        return detect(signals, requested)

    def _late_gate_record(self, response: Response, gate: Gate) -> dict[str, Any]:
        """Tell the book about a gate found here; the gate as the page records it."""
        meta = response.meta
        key = gate_key(meta)
        if self.gates is None or key is None:
            return {**gate.as_dict(), "action": "none"}
        request = response.request
        hostname = urlparse_cached(request if request is not None else response).hostname or ""
        self.stats.inc_value("darkcrawl/gates/late")  # type: ignore[attr-defined]
        return self.gates.met(key, gate, meta.get(GATE_PROBE_KEY), hostname, response.url)

    def _bootstrap_gate(self, response: Response, step: str) -> Iterator[Any]:
        """A bootstrap file (robots.txt, a sitemap) answered by a gate: recorded as the host's
        gate, asked for again once the host lets the crawl in, or the chain goes on without it."""
        state = response.meta[BOOTSTRAP_KEY]
        record = response.meta[GATE_KEY]
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1").split(";", 1)[0].strip()
        request = response.request
        assert request is not None
        yield from self._gate_page(response, request.url, state["network"], state["host"], content_type.lower(),
                                   record, stage="bootstrap")
        if record.get("action") == "wait":
            return
        state["partial"] = True
        if step == "robots":
            state["todo"] = [state["root"] + "sitemap.xml"]
        yield from self._bootstrap_next(state)  # type: ignore[attr-defined]
