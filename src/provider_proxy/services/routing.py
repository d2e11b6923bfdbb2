"""Requested model name -> Route (provider, upstream model, facts), from one declarative table.

Claude model ids are mapped by family, never by an exact list: `claude-haiku-4-5-20251001`,
`claude-3-5-haiku-latest` and a future `claude-haiku-7` are all haiku. Order of precedence:

1. `NAME/model` where NAME is a configured provider: that provider, that model;
2. the config file's `[[routes]]`, first match wins (shell-style patterns);
3. the Claude families: haiku -> SMALL_MODEL, sonnet -> MIDDLE_MODEL (or BIG_MODEL), opus -> BIG_MODEL;
4. anything else goes to the default provider unchanged.
"""

from __future__ import annotations

import re
from dataclasses import replace
from fnmatch import fnmatchcase

from provider_proxy.config.provider import Provider, Route
from provider_proxy.config.proxy_config import DEFAULT_PROVIDER, ProxyConfig
from provider_proxy.providers.model_facts import DEFAULT_OUTPUT_LIMIT, model_facts
from provider_proxy.utils.cache import BoundedCache

_FAMILY = re.compile(r"^(?:anthropic[/.])?claude-(?:[\d.]+-)*(opus|sonnet|haiku)(?![a-z])", re.IGNORECASE)
_CACHE_LIMIT = 1024


def claude_family(model: str) -> str | None:
    found = _FAMILY.match(model)
    return found.group(1).lower() if found else None


class Router:
    def __init__(self, config: ProxyConfig) -> None:
        self._config = config
        settings = config.settings
        self._family_targets = {
            "haiku": settings.small_model,
            "sonnet": settings.sonnet_model,
            "opus": settings.big_model,
        }
        # Model names come from clients: the resolved routes are kept, within a bound.
        self._cache: BoundedCache[str, Route] = BoundedCache(_CACHE_LIMIT)

    def resolve(self, requested: str) -> Route:
        route = self._cache.get(requested)
        if route is None:
            route = self._cache.put(requested, self._resolve(requested))
        return route

    def _resolve(self, requested: str) -> Route:
        explicit = self._split_provider(requested)
        if explicit is not None:
            return self._route(requested, *explicit)
        lowered = requested.lower()
        for entry in self._config.routes:
            if fnmatchcase(lowered, entry.match.lower()):
                provider = self._config.providers[entry.provider]
                return self._route(
                    requested, provider, entry.model or requested, entry.max_output_tokens, entry.reasoning
                )
        family = claude_family(requested)
        if family is not None:
            target = self._family_targets[family]
            provider, model = self._split_provider(target) or (self._default, target)
            return self._route(requested, provider, model)
        return self._route(requested, self._default, requested)

    @property
    def _default(self) -> Provider:
        return self._config.providers[DEFAULT_PROVIDER]

    def _split_provider(self, name: str) -> tuple[Provider, str] | None:
        prefix, slash, rest = name.partition("/")
        if slash and rest and prefix in self._config.providers:
            return self._config.providers[prefix], rest
        return None

    def _route(
        self,
        requested: str,
        provider: Provider,
        model: str,
        max_output: int | None = None,
        reasoning: bool | None = None,
    ) -> Route:
        """The route with the model's facts, overridden by the config file: the route entry first, then
        the `[models]` entry, then the provider's own limit."""
        facts = model_facts(model)
        model_entry = self._config.models.get(model)
        if model_entry is not None:
            max_output = max_output or model_entry.max_output_tokens
            reasoning = reasoning if reasoning is not None else model_entry.reasoning
        if reasoning is not None:
            facts = replace(facts, reasoning=reasoning)
        limit = max_output or provider.max_output_tokens or facts.max_output_tokens or DEFAULT_OUTPUT_LIMIT
        return Route(requested, provider, model, limit, facts)
