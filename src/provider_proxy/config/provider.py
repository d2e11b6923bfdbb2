"""A provider the proxy can call, and a route: where one requested model goes.

Both are built once (providers when the configuration loads, routes by `services.routing.Router`)
and read by the translators and the upstream client. Objects that hold a key never show it: the key
and the headers (which may carry one) are left out of `repr`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from provider_proxy.providers.model_facts import ModelFacts
from provider_proxy.providers.profiles import ProviderProfile


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    base_url: str
    api_key: str | None = field(repr=False)
    profile: ProviderProfile
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    api_version: str | None = None
    max_output_tokens: int | None = None
    # Where the key comes from, for messages that must not show the key itself.
    key_source: str = ""
    # This provider's own limits; None: the global setting (CONNECT_TIMEOUT, REQUEST_TIMEOUT, ...).
    connect_timeout: float | None = None
    request_timeout: float | None = None
    # The most time one attempt at this provider may take to start answering.
    total_timeout: float | None = None
    # Requests in flight at once (connections: one request each); more wait briefly, then 529.
    max_concurrency: int | None = None
    # An outbound HTTP proxy for this provider (may hold credentials); None: HTTPS_PROXY and friends.
    proxy: str | None = field(default=None, repr=False)

    @property
    def chat_url(self) -> str:
        return self.base_url + "/chat/completions"

    @property
    def responses_url(self) -> str:
        """The Responses API's URL (`api = "responses"`); with an `api_version` (Azure's preview API) the
        version as a query."""
        url = self.base_url + "/responses"
        return f"{url}?api-version={self.api_version}" if self.api_version else url

    @property
    def models_url(self) -> str:
        """`GET` lists the models (`check --probe`); Anthropic-API base URLs may leave out the `/v1`."""
        if self.profile.api == "anthropic" and not self.base_url.endswith("/v1"):
            return self.base_url + "/v1/models"
        return self.base_url + "/models"


@dataclass(frozen=True, slots=True)
class RouteOverrides:
    temperature: float | None = None
    reasoning_effort: str | None = None
    max_tokens: int | None = None


NO_OVERRIDES: Final = RouteOverrides()


@dataclass(frozen=True, slots=True)
class Route:
    """One requested model resolved: the provider, the upstream model and what is known about it."""

    requested: str
    provider: Provider
    model: str
    max_output_tokens: int
    # The model's facts with the config file's overrides applied (reasoning forced on or off, limits).
    facts: ModelFacts = field(default_factory=ModelFacts)
    # Tried in order when this target fails before answering (each a route with no fallbacks).
    fallbacks: tuple[Route, ...] = ()
    # The scenario that chose this route, if one did.
    scenario: str | None = None
    # The route's overrides of what the client asked for (see config.proxy_config.RouteEntry).
    overrides: RouteOverrides = field(default_factory=lambda: NO_OVERRIDES)
    # "provider/model", for logs, usage rows and circuit breakers.
    label: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", f"{self.provider.name}/{self.model}")

    @property
    def targets(self) -> tuple[Route, ...]:
        """This target, then its fallbacks."""
        return (self, *self.fallbacks)
