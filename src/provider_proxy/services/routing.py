"""Request -> Route (provider, upstream model, facts, fallbacks), from one declarative table.

Claude model ids are mapped by family, never by an exact list: `claude-haiku-4-5-20251001`,
`claude-3-5-haiku-latest` and a future `claude-haiku-7` are all haiku. Order of precedence:

1. `NAME/model` where NAME is a configured provider: that provider, that model;
2. the config file's `[scenarios]`, in file order: background (haiku-class), think (thinking on, or
   adaptive at high effort), long_context (estimated input tokens over a threshold), web_search (a
   web-search server tool), image (an image anywhere), subagent (Claude Code's subagents);
3. the config file's `[[routes]]`, first match wins (shell-style patterns);
4. the Claude families: haiku -> SMALL_MODEL, sonnet -> MIDDLE_MODEL (or BIG_MODEL), opus -> BIG_MODEL;
5. anything else goes to the default provider unchanged.

A route's fallbacks are its entry's own (`fallbacks = [...]` on a route or scenario), else those the
`[fallbacks]` table gives for its target.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Final, assert_never

from provider_proxy.config.provider import Provider, Route, RouteOverrides
from provider_proxy.config.proxy_config import (
    DEFAULT_PROVIDER,
    ProxyConfig,
    ScenarioEntry,
    ScenarioName,
    split_target,
)
from provider_proxy.models.anthropic import ImageBlock, Message, MessagesRequest, ToolResultBlock
from provider_proxy.providers.model_facts import DEFAULT_OUTPUT_LIMIT
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
        self._cache: BoundedCache[tuple[str, str | None], Route] = BoundedCache(_CACHE_LIMIT)

    def resolve(self, requested: str, scenario: ScenarioName | None = None) -> Route:
        """The route for a model name (under a scenario, when one applies)."""
        key = (requested, scenario)
        route = self._cache.get(key)
        if route is None:
            route = self._cache.put(key, self._resolve(requested, scenario))
        return route

    def route(self, request: MessagesRequest, traits: RequestTraits) -> Route:
        """The route for a request: an explicit `provider/model` name, else the first scenario that
        matches, else by name."""
        if split_target(request.model, self._config.providers) is None:
            for name, scenario in self._config.scenarios.items():
                if _matches(name, scenario, request, traits):
                    return self.resolve(request.model, name)
        return self.resolve(request.model)

    def matching_scenarios(self, request: MessagesRequest, traits: RequestTraits) -> list[ScenarioName]:
        """Every configured scenario the request matches, in file order (the first one routes it)."""
        scenarios = self._config.scenarios.items()
        return [name for name, scenario in scenarios if _matches(name, scenario, request, traits)]

    def _resolve(self, requested: str, scenario: ScenarioName | None) -> Route:
        providers = self._config.providers
        if scenario is not None:
            chosen = self._config.scenarios[scenario]
            provider, model = split_target(chosen.target, providers) or (self._default, chosen.target)
            return self._route(requested, provider, model, fallbacks=chosen.fallbacks, scenario=scenario)
        explicit = split_target(requested, providers)
        if explicit is not None:
            return self._route(requested, *explicit)
        lowered = requested.lower()
        for entry in self._config.routes:
            if fnmatchcase(lowered, entry.match.lower()):
                provider = providers[entry.provider]
                if entry.api is not None and entry.api != provider.profile.api:
                    # This route speaks another OpenAI API to the same provider (and its connections).
                    provider = replace(provider, profile=replace(provider.profile, api=entry.api))
                model = entry.model or requested
                route = self._route(
                    requested, provider, model, entry.max_output_tokens, entry.reasoning, entry.fallbacks
                )
                overrides = RouteOverrides(entry.temperature, entry.reasoning_effort, entry.max_tokens)
                return replace(route, overrides=overrides)
        family = claude_family(requested)
        if family is not None:
            target = self._family_targets[family]
            provider, model = split_target(target, providers) or (self._default, target)
            return self._route(requested, provider, model)
        return self._route(requested, self._default, requested)

    @property
    def _default(self) -> Provider:
        return self._config.providers[DEFAULT_PROVIDER]

    def _route(
        self,
        requested: str,
        provider: Provider,
        model: str,
        max_output: int | None = None,
        reasoning: bool | None = None,
        fallbacks: tuple[str, ...] = (),
        scenario: ScenarioName | None = None,
    ) -> Route:
        """The route with the model's facts, overridden by the config file (the route entry first, then
        the `[models]` entry, then the provider's own limit), and its fallback targets: the entry's own,
        else those the `[fallbacks]` table gives for this target."""
        route = self._target(requested, provider, model, max_output, reasoning)
        targets = fallbacks or self._config.fallbacks.get(route.label, ())
        backups = []
        for target in targets:
            backup = split_target(target, self._config.providers)
            assert backup is not None  # checked when the configuration was loaded
            backups.append(self._target(requested, *backup))
        return replace(route, fallbacks=tuple(backups), scenario=scenario)

    def _target(
        self,
        requested: str,
        provider: Provider,
        model: str,
        max_output: int | None = None,
        reasoning: bool | None = None,
    ) -> Route:
        facts = self._config.facts_for(model, provider.profile.kind)
        model_entry = self._config.models.get(model)
        if model_entry is not None:
            max_output = max_output or model_entry.max_output_tokens
            reasoning = reasoning if reasoning is not None else model_entry.reasoning
        if reasoning is not None:
            facts = replace(facts, reasoning=reasoning)
        limit = max_output or provider.max_output_tokens or facts.max_output_tokens or DEFAULT_OUTPUT_LIMIT
        return Route(requested, provider, model, limit, facts)


@dataclass(frozen=True, slots=True)
class RequestTraits:
    """What scenario routing needs to know of a request beyond its body."""

    # Claude Code marked the request as a subagent's.
    subagent: bool = False
    # The size of the request body: a token is at least a byte, so a body this small is no longer.
    body_bytes: int = 0
    # Estimated input tokens, computed only when a long_context scenario asks about a large body.
    input_tokens: Callable[[], int] = lambda: 0


_HIGH_EFFORT: Final = frozenset({"high", "max", "xhigh"})


def _matches(name: ScenarioName, scenario: ScenarioEntry, request: MessagesRequest, traits: RequestTraits) -> bool:
    match name:
        case "background":
            return claude_family(request.model) == "haiku"
        case "think":
            return _thinks_hard(request)
        case "long_context":
            assert scenario.threshold is not None  # checked when the configuration was loaded
            return traits.body_bytes > scenario.threshold and traits.input_tokens() > scenario.threshold
        case "web_search":
            return any((tool.type or "").startswith("web_search") for tool in request.tools or ())
        case "image":
            return has_images(request.messages)
        case "subagent":
            return traits.subagent
        case unreachable:
            assert_never(unreachable)


def _thinks_hard(request: MessagesRequest) -> bool:
    """Thinking enabled, or adaptive thinking at high effort."""
    thinking = request.thinking
    if thinking is None or thinking.type == "disabled":
        return False
    if thinking.type == "enabled":
        return True
    effort = request.output_config.effort if request.output_config else None
    return (effort or "").lower() in _HIGH_EFFORT


def has_images(messages: list[Message]) -> bool:
    """An image anywhere in the conversation, tool results included."""
    for message in messages:
        if isinstance(message.content, str):
            continue
        for block in message.content:
            if isinstance(block, ImageBlock):
                return True
            if (
                isinstance(block, ToolResultBlock)
                and isinstance(block.content, list)
                and any(isinstance(part, ImageBlock) for part in block.content)
            ):
                return True
    return False


_SUBAGENT_MARK: Final = "cc_is_subagent=true"


def is_subagent(agent_id: str, request: MessagesRequest) -> bool:
    """Claude Code sends `x-claude-code-agent-id` (`agent_id` here) on every request of a subagent and
    on no other, and marks its billing line `cc_is_subagent=true` (docs/claude-code-subagents.md)."""
    if agent_id:
        return True
    system = request.system
    return isinstance(system, list) and bool(system) and _SUBAGENT_MARK in system[0].text
