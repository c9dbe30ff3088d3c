"""Requests as JSON: safe to store on disk or in Redis, and to load in another version.

Scrapy's JOBDIR and scrapy-redis pickle requests by default: loading a pickle runs
whatever code it names, so a queue shared by a fleet (or a disk edited by anyone)
becomes a way in, and a pickle of one version's classes may not load in the next.
Here a request is ``Request.to_dict()`` (callbacks by name, as Scrapy does) written
as JSON, with tags for the types JSON lacks:

=========================  ===================================
``bytes``                  ``{"__b": "<base64>"}``
``tuple``                  ``{"__t": [...]}``
dict with non-str keys     ``{"__d": [[key, value], ...]}``
scrapy-playwright action   ``{"__pm": [method, args, kwargs]}``
=========================  ===================================

Anything else (a live object in meta) raises :class:`TypeError`; the scheduler keeps
such a request in memory instead.  The module has ``dumps`` and ``loads``, the
interface scrapy-redis's ``SCHEDULER_SERIALIZER`` expects.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from scrapy import Request as ScrapyRequest
from scrapy.http.request import _find_method
from scrapy.utils.request import request_from_dict

if TYPE_CHECKING:
    from scrapy import Request, Spider

#: bump when the format changes in a way old readers cannot follow
FORMAT = 1


def _encode(value: Any) -> Any:
    # json calls this only for what it cannot write itself
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"__b": base64.b64encode(bytes(value)).decode("ascii")}
    method = getattr(value, "method", None)
    if type(value).__name__ == "PageMethod" and isinstance(method, str):
        return {"__pm": [method, _tagged(list(value.args)), _tagged(dict(value.kwargs))]}
    raise TypeError(f"cannot store a {type(value).__name__} in a queued request")


def _tagged(value: Any) -> Any:
    # json writes tuples as lists silently: tag them (and walk containers) first
    if isinstance(value, tuple):
        return {"__t": [_tagged(v) for v in value]}
    if isinstance(value, list):
        return [_tagged(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {k: _tagged(v) for k, v in value.items()}
        # headers have bytes keys: a list of pairs keeps them
        return {"__d": [[_tagged(k), _tagged(v)] for k, v in value.items()]}
    return value


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "__b" in obj:
            return base64.b64decode(obj["__b"])
        if "__t" in obj:
            return tuple(obj["__t"])
        if "__d" in obj:
            return {_hashable(k): v for k, v in obj["__d"]}
        if "__pm" in obj:
            from scrapy_playwright.page import PageMethod  # only requests that use it pay for it

            method, args, kwargs = obj["__pm"]
            return PageMethod(method, *args, **kwargs)
    return obj


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def dumps(obj: dict[str, Any]) -> bytes:
    """A request dict (``Request.to_dict()``) as JSON bytes; TypeError if it cannot be."""
    body = {"v": FORMAT, "r": _tagged(obj)}
    return json.dumps(body, default=_encode, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads(data: bytes | str) -> dict[str, Any]:
    body = json.loads(data, object_hook=_decode)
    if not isinstance(body, dict) or body.get("v") != FORMAT:
        raise ValueError(f"not a darkcrawl request of format {FORMAT}")
    return body["r"]


def method_name(spider: Spider, func: Any) -> Any:
    """A callback's name: at once for the spider's own bound methods, else by Scrapy's
    search (``Request.to_dict`` lists every member of the spider, with
    ``inspect.getmembers``, for every callback of every request)."""
    if func is None or isinstance(func, str):
        return func
    name = getattr(func, "__name__", None)
    if (name and getattr(func, "__self__", None) is spider
            and getattr(type(spider), name, None) is getattr(func, "__func__", None)):
        return name
    return _find_method(spider, func)


def request_dict(request: Request, spider: Spider) -> dict[str, Any]:
    """``request.to_dict(spider=spider)``: the same dict, without a search per callback."""
    found: dict[str, Any] = {"url": request.url, "callback": method_name(spider, request.callback),
                             "errback": method_name(spider, request.errback), "headers": dict(request.headers)}
    for attr in request.attributes:
        found.setdefault(attr, getattr(request, attr))
    if type(request) is not ScrapyRequest:
        found["_class"] = f"{type(request).__module__}.{type(request).__name__}"
    return found


def request_to_bytes(request: Request, spider: Spider) -> bytes:
    return dumps(request_dict(request, spider))


def request_from_bytes(data: bytes | str, spider: Spider) -> Request:
    return request_from_dict(loads(data), spider=spider)
