"""`[server_tools]` in the TOML file: the search backend the proxy runs Anthropic's web search with.

    [server_tools.web_search]
    backend = "brave"                # or "tavily", or "searxng" (self-hosted: base_url required)
    api_key_env = "BRAVE_API_KEY"    # brave and tavily; searxng takes none unless yours sits behind one
    max_results = 5

Without this table the web search server tool is left out of what the upstream model is offered, as
before (a log note says so). The key never reaches a log line or an error body: it joins the secrets
the log formatter redacts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from provider_proxy.config.settings import ConfigError
from provider_proxy.config.urls import base_url_problem

SearchBackend = Literal["brave", "tavily", "searxng"]

# Where each hosted backend answers; `base_url` replaces it (a test double, an API gateway).
DEFAULT_URLS: Final[dict[SearchBackend, str]] = {
    "brave": "https://api.search.brave.com/res/v1/web/search",
    "tavily": "https://api.tavily.com/search",
}


class WebSearchEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: SearchBackend
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    # SearXNG: the instance (its `/search` is called with `format=json`); others: the endpoint itself.
    base_url: str | None = None
    max_results: int = Field(default=5, ge=1, le=20)
    # Seconds one search may take, connection included.
    timeout: float = Field(default=10.0, gt=0, le=60)


class ServerToolsEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    web_search: WebSearchEntry | None = None


@dataclass(frozen=True, slots=True)
class WebSearchConfig:
    """The resolved backend: its URL, key (never shown) and limits."""

    backend: SearchBackend
    url: str
    api_key: str | None = field(repr=False)
    max_results: int = 5
    timeout: float = 10.0


def build_web_search(entry: ServerToolsEntry | None) -> WebSearchConfig | None:
    """The backend from `[server_tools.web_search]`; an error names the key that is wrong."""
    if entry is None or entry.web_search is None:
        return None
    search = entry.web_search
    where = "server_tools.web_search"
    url = _url(search, where)
    key = search.api_key.get_secret_value() if search.api_key else None
    if search.api_key_env:
        key = os.environ.get(search.api_key_env)
        if not key:
            raise ConfigError(f"{where}.api_key_env: the environment variable {search.api_key_env} is not set")
    key = key.strip() if key else None
    if key is not None and any(c.isspace() or c == "\0" for c in key):
        raise ConfigError(f"{where}: the API key contains a space or line break")
    if search.backend != "searxng" and not key:
        raise ConfigError(f"{where}: the {search.backend} backend needs a key; set api_key_env (or api_key)")
    return WebSearchConfig(search.backend, url, key or None, search.max_results, search.timeout)


def _url(search: WebSearchEntry, where: str) -> str:
    if search.base_url is None:
        if search.backend == "searxng":
            raise ConfigError(f"{where}.base_url: required for searxng (your instance, e.g. http://127.0.0.1:8888)")
        return DEFAULT_URLS[search.backend]
    if problem := base_url_problem(search.base_url):
        raise ConfigError(f"{where}.base_url: {problem}")
    base = search.base_url.rstrip("/")
    return f"{base}/search" if search.backend == "searxng" else base
