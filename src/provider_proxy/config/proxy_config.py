"""The resolved configuration: providers and routes, from the settings and an optional TOML file.

The TOML file is strict: a misspelt key is an error that names it. Example:

    [providers.openrouter]
    base_url = "https://openrouter.ai/api/v1"
    api_key_env = "OPENROUTER_API_KEY"
    headers = { "X-Title" = "claude-code" }

    [[routes]]
    match = "claude-*haiku*"        # shell-style pattern on the requested model
    provider = "openrouter"
    model = "qwen/qwen3-coder"

Routes from the file are tried first, in order; then the family defaults (haiku -> SMALL_MODEL,
sonnet -> MIDDLE_MODEL or BIG_MODEL, opus -> BIG_MODEL) on the default provider, whose settings
come from OPENAI_BASE_URL and OPENAI_API_KEY. The default provider is called `default`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_type_hints

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from provider_proxy.config.keys import KeyEntry, KeySet, build_keys
from provider_proxy.config.provider import Provider
from provider_proxy.config.server_tools import ServerToolsEntry, WebSearchConfig, build_web_search
from provider_proxy.config.settings import ConfigError, Settings
from provider_proxy.config.urls import base_url_problem
from provider_proxy.providers.model_facts import ModelFacts, Prices, model_facts
from provider_proxy.providers.profiles import (
    OVERRIDABLE,
    PROFILES,
    ProviderProfile,
    anthropic_profile,
    detect_profile,
)
from provider_proxy.utils.proxy import parse_proxy

DEFAULT_PROVIDER = "default"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderEntry(_Strict):
    base_url: str
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    kind: str | None = None
    # "responses": speak OpenAI's Responses API (`POST {base_url}/responses`) instead of Chat Completions;
    # None: the API of the kind's profile (Chat Completions, or Anthropic's for the Anthropic-API kinds).
    api: Literal["chat", "responses"] | None = None
    # Single flags of the profile, e.g. `[providers.x.profile] stream_usage = false`.
    profile: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    api_version: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    connect_timeout: float | None = Field(default=None, gt=0)
    request_timeout: float | None = Field(default=None, gt=0)
    total_timeout: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    proxy: SecretStr | None = None

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not name or any(c in name for c in ":\r\n\0 ") or any(c in value for c in "\r\n\0"):
                raise ValueError(f"header {name!r} cannot be sent: no line breaks, and no colon in the name")
        return headers


class RouteEntry(_Strict):
    match: str
    provider: str = DEFAULT_PROVIDER
    model: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    reasoning: bool | None = None
    # Targets ("provider/model") tried in order when this one fails before answering.
    fallbacks: tuple[str, ...] = ()
    # Sent instead of what the client asked for.
    temperature: float | None = Field(default=None, ge=0, le=2)
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    # The OpenAI API this route speaks to its provider, when not the provider's own (`api` there).
    api: Literal["chat", "responses"] | None = None


ScenarioName = Literal["background", "think", "long_context", "web_search", "image", "subagent"]


class ScenarioEntry(_Strict):
    """Where requests of one kind go: `target` is "provider/model"."""

    target: str
    fallbacks: tuple[str, ...] = ()
    # long_context only: the estimated input tokens above which a request is long.
    threshold: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _target_alone(cls, value: object) -> object:
        """`think = "provider/model"` is short for `think = { target = "provider/model" }`."""
        return {"target": value} if isinstance(value, str) else value


class ModelEntry(_Strict):
    """`[models."UPSTREAM-MODEL"]`: facts of an upstream model that win over the dataset's."""

    max_output_tokens: int | None = Field(default=None, ge=1)
    reasoning: bool | None = None
    context_window: int | None = Field(default=None, ge=1)
    vision: bool | None = None
    tool_calling: bool | None = None
    input_per_mtok: float | None = Field(default=None, ge=0)
    output_per_mtok: float | None = Field(default=None, ge=0)
    cache_read_per_mtok: float | None = Field(default=None, ge=0)

    def applied_to(self, facts: ModelFacts) -> ModelFacts:
        """`facts` with every value this entry sets replaced."""
        changes: dict[str, Any] = {
            name: value
            for name in ("max_output_tokens", "reasoning", "vision", "tool_calling")
            if (value := getattr(self, name)) is not None
        }
        if self.context_window is not None:
            changes["context_window"] = self.context_window
            # A separate input limit larger than the window set here no longer applies.
            if facts.max_input_tokens is not None and facts.max_input_tokens >= self.context_window:
                changes["max_input_tokens"] = None
        prices = self._prices(facts.prices)
        if prices is not None:
            changes["prices"] = prices
        return replace(facts, **changes) if changes else facts

    def _prices(self, known: Prices | None) -> Prices | None:
        given = (self.input_per_mtok, self.output_per_mtok, self.cache_read_per_mtok)
        if all(value is None for value in given):
            return None
        base = known or Prices()
        return Prices(
            base.input_per_mtok if self.input_per_mtok is None else self.input_per_mtok,
            base.output_per_mtok if self.output_per_mtok is None else self.output_per_mtok,
            base.cache_read_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok,
        )


class PriceEntry(_Strict):
    """Dollars per million tokens, for the usage report's cost estimate (`[prices."model"]`)."""

    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)
    cache_read_per_mtok: float | None = Field(default=None, ge=0)

    def prices(self) -> Prices:
        return Prices(self.input_per_mtok, self.output_per_mtok, self.cache_read_per_mtok)


class ConfigFile(_Strict):
    providers: dict[str, ProviderEntry] = Field(default_factory=dict)
    routes: list[RouteEntry] = Field(default_factory=list)
    # Tried in the order written in the file.
    scenarios: dict[ScenarioName, ScenarioEntry] = Field(default_factory=dict)
    # "provider/model" -> targets tried in order when it fails, for whichever route chose it.
    fallbacks: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    prices: dict[str, PriceEntry] = Field(default_factory=dict)
    # Named client keys (`config.keys`); more in the keys file `provider-proxy keys` manages.
    keys: dict[str, KeyEntry] = Field(default_factory=dict)
    # Server tools the proxy runs itself (`config.server_tools`).
    server_tools: ServerToolsEntry | None = None


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    settings: Settings
    providers: dict[str, Provider]
    routes: tuple[RouteEntry, ...]
    models: dict[str, ModelEntry]
    prices: dict[str, PriceEntry] = field(default_factory=dict)
    scenarios: dict[ScenarioName, ScenarioEntry] = field(default_factory=dict)
    fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The `[keys]` tables of the config file, and every key in force when the configuration was built.
    key_entries: dict[str, KeyEntry] = field(default_factory=dict)
    keys: KeySet = field(default_factory=KeySet)
    # The search backend for Anthropic's web search server tool; None: the tool is left out.
    web_search: WebSearchConfig | None = None

    def reload_keys(self) -> KeySet:
        """The keys in force now: the keys file may have changed since start-up."""
        return build_keys(self.settings, self.key_entries)

    def facts_for(self, model: str, provider_kind: str | None = None) -> ModelFacts:
        """The upstream model's facts from the dataset, with its `[models."name"]` entry applied."""
        facts = model_facts(model, provider_kind)
        entry = self.models.get(model)
        return entry.applied_to(facts) if entry is not None else facts

    @property
    def model_names(self) -> frozenset[str]:
        """Every model name the configuration spells out: BIG/MIDDLE/SMALL_MODEL, routes (their literal
        matches and models), scenario and fallback targets, `[models]` and `[prices]` entries; targets
        as written and as their model part. Names a client invents are not among them."""
        settings = self.settings
        names = {settings.big_model, settings.sonnet_model, settings.small_model, *self.models, *self.prices}
        for route in self.routes:
            names.update(route.fallbacks)
            if route.model:
                names.add(route.model)
            if not any(wildcard in route.match for wildcard in "*?["):
                names.add(route.match)
        for scenario in self.scenarios.values():
            names.update((scenario.target, *scenario.fallbacks))
        for target, fallbacks in self.fallbacks.items():
            names.update((target, *fallbacks))
        parts = (split_target(name, self.providers) for name in list(names))
        names.update(part[1] for part in parts if part is not None)
        return frozenset(names)

    @property
    def secrets(self) -> tuple[str, ...]:
        keys = [p.api_key for p in self.providers.values() if p.api_key]
        if self.settings.proxy_api_key:
            keys.append(self.settings.proxy_api_key.get_secret_value())
        if self.web_search is not None and self.web_search.api_key:
            keys.append(self.web_search.api_key)
        return tuple(k for k in keys if len(k) >= 4)


def _profile(kind: str | None, base_url: str, where: str) -> ProviderProfile:
    name = kind or detect_profile(base_url)
    if name == "anthropic":
        # Anthropic's API at a known provider's address: that provider's rules.
        name = anthropic_profile(base_url)
    if name not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise ConfigError(f"{where}: unknown provider kind {name!r}; use one of: {known}")
    return PROFILES[name]


def _entry_profile(name: str, entry: ProviderEntry) -> ProviderProfile:
    """The entry's profile, speaking the OpenAI API its `api` names (the kind's own API without one)."""
    profile = _profile(entry.kind, entry.base_url, f"providers.{name}.kind")
    if entry.api is None or entry.api == profile.api:
        return profile
    if profile.api == "anthropic":
        raise ConfigError(
            f"providers.{name}.api: {entry.api!r} is an OpenAI API, but kind {profile.kind!r} speaks Anthropic's "
            "Messages API; remove `api`, or set an OpenAI-compatible kind and base_url"
        )
    return replace(profile, api=entry.api)


def _with_overrides(profile: ProviderProfile, overrides: dict[str, Any], where: str) -> ProviderProfile:
    """The profile with single flags replaced; a flag that does not exist or a value of the wrong type
    is an error naming the key."""
    if not overrides:
        return profile
    hints = get_type_hints(ProviderProfile)
    checked: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in OVERRIDABLE:
            raise ConfigError(f"{where}.{key}: not a profile flag; use one of: {', '.join(sorted(OVERRIDABLE))}")
        if isinstance(value, list):
            value = tuple(value)  # TOML has arrays; the profile keeps tuples
        try:
            checked[key] = TypeAdapter(hints[key]).validate_python(value, strict=True)
        except ValidationError as exc:
            raise ConfigError(f"{where}.{key}: {exc.errors()[0]['msg']} (got {value!r})") from None
    return replace(profile, **checked)


def _read_file(path: Path) -> ConfigFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"CONFIG_FILE: {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"CONFIG_FILE: {path} is not valid TOML: {exc}") from None
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None


def _api_key(key: str | None, source: str) -> str | None:
    """The key as it will be sent: surrounding whitespace (a stray CR from a Windows .env) dropped;
    a line break or space inside would split the Authorization header, so it is refused here."""
    if key is None:
        return None
    key = key.strip()
    if any(c.isspace() or c == "\0" for c in key):
        raise ConfigError(f"{source}: the API key contains a space or line break")
    return key or None


def _file_provider(name: str, entry: ProviderEntry) -> Provider:
    if problem := base_url_problem(entry.base_url):
        raise ConfigError(f"providers.{name}.base_url: {problem}")
    key = entry.api_key.get_secret_value() if entry.api_key else None
    source = f"providers.{name}.api_key"
    if entry.api_key_env:
        key, source = os.environ.get(entry.api_key_env), entry.api_key_env
    return Provider(
        name=name,
        base_url=entry.base_url.rstrip("/"),
        api_key=_api_key(key, source),
        profile=_with_overrides(_entry_profile(name, entry), entry.profile, f"providers.{name}.profile"),
        headers=tuple(entry.headers.items()),
        api_version=entry.api_version,
        max_output_tokens=entry.max_output_tokens,
        key_source=source,
        connect_timeout=entry.connect_timeout,
        request_timeout=entry.request_timeout,
        total_timeout=entry.total_timeout,
        max_concurrency=entry.max_concurrency,
        proxy=_proxy(entry.proxy, f"providers.{name}.proxy"),
    )


def _proxy(url: SecretStr | None, where: str) -> str | None:
    """The proxy URL, checked at start-up (the message never shows its credentials)."""
    if url is None:
        return None
    try:
        parse_proxy(url.get_secret_value(), where)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return url.get_secret_value()


def build_config(settings: Settings) -> ProxyConfig:
    file = _read_file(settings.config_file) if settings.config_file else ConfigFile()
    default_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    default = Provider(
        name=DEFAULT_PROVIDER,
        base_url=settings.openai_base_url,
        api_key=_api_key(default_key, "OPENAI_API_KEY"),
        profile=_profile(settings.provider_kind, settings.openai_base_url, "PROVIDER_KIND"),
        api_version=settings.azure_api_version,
        max_output_tokens=settings.max_output_tokens,
        key_source="OPENAI_API_KEY",
    )
    providers = {DEFAULT_PROVIDER: default}
    for name, entry in file.providers.items():
        providers[name] = _file_provider(name, entry)
    for index, route in enumerate(file.routes):
        if route.provider not in providers:
            raise ConfigError(
                f"routes[{index}].provider: no provider named {route.provider!r}; "
                f"define [providers.{route.provider}] or use one of: {', '.join(sorted(providers))}"
            )
        _check_targets(route.fallbacks, providers, f"routes[{index}].fallbacks")
        if route.api is not None and providers[route.provider].profile.api == "anthropic":
            raise ConfigError(
                f"routes[{index}].api: {route.api!r} is an OpenAI API, but provider {route.provider!r} speaks "
                "Anthropic's Messages API; remove `api` or route to an OpenAI-compatible provider"
            )
    for name, scenario in file.scenarios.items():
        _check_targets((scenario.target, *scenario.fallbacks), providers, f"scenarios.{name}")
        if name == "long_context" and scenario.threshold is None:
            raise ConfigError("scenarios.long_context.threshold: required (estimated input tokens, e.g. 60000)")
    for target, fallbacks in file.fallbacks.items():
        _check_targets((target, *fallbacks), providers, f"fallbacks.{target!r}")
    return ProxyConfig(
        settings=settings,
        providers=providers,
        routes=tuple(file.routes),
        models=file.models,
        prices=file.prices,
        scenarios=file.scenarios,
        fallbacks=file.fallbacks,
        key_entries=file.keys,
        keys=build_keys(settings, file.keys),
        web_search=build_web_search(file.server_tools),
    )


def split_target(target: str, providers: Mapping[str, Provider]) -> tuple[Provider, str] | None:
    """`provider/model` -> (that provider, the model), when the prefix names a configured provider."""
    prefix, slash, model = target.partition("/")
    if slash and model and prefix in providers:
        return providers[prefix], model
    return None


def _check_targets(targets: Iterable[str], providers: Mapping[str, Provider], where: str) -> None:
    for target in targets:
        if split_target(target, providers) is None:
            raise ConfigError(
                f"{where}: {target!r} is not a target; write it as provider/model with one of the providers: "
                f"{', '.join(sorted(providers))}"
            )
