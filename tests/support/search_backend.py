"""Answers of the search backends the proxy supports, in each one's own JSON (Brave's web search API,
Tavily's search API, SearXNG's `format=json`), for a `FakeUpstream` standing in for the backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.fake_upstream import FakeUpstream, Recorded, Reply


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    snippet: str
    age: str | None = None


PAGES = (
    Page("https://example.org/proxy-news", "Proxy news", "The proxy ran the search itself.", "2 days ago"),
    Page("https://docs.example.com/search", "Search docs", "Results come back as web_search_result blocks."),
)


def brave(pages: tuple[Page, ...] = PAGES) -> dict[str, Any]:
    results = [
        {"title": p.title, "url": p.url, "description": f"<strong>{p.snippet}</strong>", "page_age": p.age}
        for p in pages
    ]
    return {"type": "search", "query": {"original": "q"}, "web": {"type": "search", "results": results}}


def tavily(pages: tuple[Page, ...] = PAGES) -> dict[str, Any]:
    results = [
        {"title": p.title, "url": p.url, "content": p.snippet, "score": 0.9, "published_date": p.age} for p in pages
    ]
    return {"query": "q", "answer": None, "results": results, "response_time": 0.1}


def searxng(pages: tuple[Page, ...] = PAGES) -> dict[str, Any]:
    results = [
        {"url": p.url, "title": p.title, "content": p.snippet, "engine": "fake", "publishedDate": p.age} for p in pages
    ]
    return {"query": "q", "number_of_results": len(results), "results": results}


ANSWERS = {"brave": brave, "tavily": tavily, "searxng": searxng}


def answering(backend: str) -> Any:
    """A script for the fake backend: every search finds `PAGES`."""

    def script(request: Recorded) -> Reply:
        return Reply(json=ANSWERS[backend]())

    return script


def search_config(tmp_path: Path, backend: str, search: FakeUpstream, *, max_results: int = 5, extra: str = "") -> Path:
    """A config file whose `[server_tools.web_search]` points at the fake backend."""
    base = f"http://127.0.0.1:{search.port}"
    url = base if backend == "searxng" else f"{base}/res/v1/web/search" if backend == "brave" else f"{base}/search"
    key = "" if backend == "searxng" else 'api_key = "search-key-0123456789abcdef"\n'
    path = tmp_path / "proxy.toml"
    path.write_text(
        f'[server_tools.web_search]\nbackend = "{backend}"\nbase_url = "{url}"\n{key}'
        f"max_results = {max_results}\ntimeout = 5\n{extra}"
    )
    return path
