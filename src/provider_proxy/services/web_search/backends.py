"""The search backends the proxy runs web searches with: Brave, Tavily and SearXNG over HTTP.

Each search is one request on the project's HTTP client (`services.http1`) with its own small pool,
bounded in time (`timeout` from the config, connection included) and size (an answer over 2 MiB is
refused). Every failure becomes `SearchFailed` with the error code Anthropic gives for it: a 429 is
`too_many_requests`, anything else (no connection, a timeout, another status, an answer that is not
the backend's JSON) `unavailable`, logged once with the key redacted.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Final
from urllib.parse import urlencode

import msgspec
import orjson

from provider_proxy.config.server_tools import WebSearchConfig
from provider_proxy.conversion.server_tools import SearchHit
from provider_proxy.models.anthropic_output import WebSearchErrorCode
from provider_proxy.services.http1 import HttpClient, HttpError, prepare
from provider_proxy.utils.logging import redact

logger = logging.getLogger(__name__)

_MAX_ANSWER: Final = 2 << 20
_CONNECTIONS: Final = 8
_USER_AGENT: Final = "claude-code-provider-proxy"
_TAGS: Final = re.compile(r"<[^>]{0,200}>")
_SHOWN: Final = 200


class SearchFailed(Exception):
    def __init__(self, code: WebSearchErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class _BraveResult(msgspec.Struct):
    url: str = ""
    title: str = ""
    description: str = ""
    page_age: str | None = None
    age: str | None = None


class _BraveWeb(msgspec.Struct):
    results: list[_BraveResult] = msgspec.field(default_factory=list)


class _BraveAnswer(msgspec.Struct):
    web: _BraveWeb | None = None


class _TavilyResult(msgspec.Struct):
    url: str = ""
    title: str = ""
    content: str = ""
    published_date: str | None = None


class _TavilyAnswer(msgspec.Struct):
    results: list[_TavilyResult] = msgspec.field(default_factory=list)


class _SearxResult(msgspec.Struct):
    url: str = ""
    title: str = ""
    content: str | None = ""
    published: str | None = msgspec.field(default=None, name="publishedDate")


class _SearxAnswer(msgspec.Struct):
    results: list[_SearxResult] = msgspec.field(default_factory=list)


class SearchBackend:
    """One configured backend; `search` returns its hits or raises `SearchFailed`."""

    def __init__(self, config: WebSearchConfig, secrets: tuple[str, ...] = ()) -> None:
        self.config = config
        self._secrets = secrets
        self._http: HttpClient | None = None

    def _client(self) -> HttpClient:
        if self._http is None:
            timeout = self.config.timeout
            self._http = HttpClient(
                connect_timeout=timeout,
                read_timeout=timeout,
                max_body_bytes=_MAX_ANSWER,
                max_connections_per_origin=_CONNECTIONS,
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def search(self, query: str) -> list[SearchHit]:
        config = self.config
        method, url, headers, body = self._request(query)
        deadline = asyncio.get_running_loop().time() + config.timeout
        try:
            response = await self._client().request(prepare(method, url, headers.items()), body, deadline=deadline)
            raw = await response.read(config.timeout, deadline)
        except (HttpError, TimeoutError) as exc:
            raise self._failed("unavailable", f"no answer: {exc or type(exc).__name__}") from None
        if response.status == 429:
            raise self._failed("too_many_requests", "HTTP 429 (rate limited)")
        if response.status != 200:
            raise self._failed("unavailable", f"HTTP {response.status}: {raw[:_SHOWN].decode('utf-8', 'replace')}")
        try:
            return self._hits(raw)
        except msgspec.DecodeError:
            raise self._failed("unavailable", f"an answer that is not its JSON: {raw[:_SHOWN]!r}") from None

    def _failed(self, code: WebSearchErrorCode, detail: str) -> SearchFailed:
        message = redact(f"web search backend {self.config.backend} failed ({code}): {detail}", self._secrets)
        logger.warning("%s", message)
        return SearchFailed(code, message)

    def _request(self, query: str) -> tuple[str, str, dict[str, str], bytes]:
        config = self.config
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if config.backend == "tavily":
            headers["Content-Type"] = "application/json"
            headers["Authorization"] = f"Bearer {config.api_key}"
            body = orjson.dumps({"query": query, "max_results": config.max_results, "search_depth": "basic"})
            return "POST", config.url, headers, body
        if config.backend == "brave":
            headers["X-Subscription-Token"] = config.api_key or ""
            params = {"q": query, "count": str(config.max_results)}
        else:
            if config.api_key:
                headers["Authorization"] = f"Bearer {config.api_key}"
            params = {"q": query, "format": "json"}
        return "GET", f"{config.url}?{urlencode(params)}", headers, b""

    def _hits(self, raw: bytes) -> list[SearchHit]:
        backend = self.config.backend
        if backend == "brave":
            web = msgspec.json.decode(raw, type=_BraveAnswer).web
            found = [
                SearchHit(r.url, _plain(r.title), _plain(r.description), r.page_age or r.age)
                for r in (web.results if web else [])
            ]
        elif backend == "tavily":
            answer = msgspec.json.decode(raw, type=_TavilyAnswer)
            found = [SearchHit(r.url, r.title, r.content, r.published_date) for r in answer.results]
        else:
            searx = msgspec.json.decode(raw, type=_SearxAnswer)
            found = [SearchHit(r.url, r.title, r.content or "", r.published) for r in searx.results]
        return [hit for hit in found if hit.url.startswith(("http://", "https://"))]


def _plain(text: str) -> str:
    """Brave marks the matched words with <strong>; the model reads text."""
    return _TAGS.sub("", text).replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&")
