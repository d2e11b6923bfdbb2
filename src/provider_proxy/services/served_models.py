"""What the proxy serves, for `GET /v1/models` and `provider-proxy models`: the Claude family names
(each routed to its family's target), the config file's routes and scenarios, each with its route
(target, fallbacks, and the facts of the target's model)."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final

from provider_proxy.config.provider import Route
from provider_proxy.config.proxy_config import ProxyConfig
from provider_proxy.services.routing import Router

# The family names listed (Claude Code's current ids); any other Claude name maps by family too.
FAMILY_IDS: Final = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5")


@dataclass(frozen=True, slots=True)
class Served:
    # The name a client asks for.
    id: str
    # What chose the route: "family", "route claude-*haiku*", "scenario think".
    via: str
    route: Route


def served_models(config: ProxyConfig, router: Router) -> list[Served]:
    """The family names first, then each route and scenario of the config file, in file order."""
    served = [Served(name, _family_via(name, config), router.resolve(name)) for name in FAMILY_IDS]
    for entry in config.routes:
        # The route as the entry builds it (its limits and fallbacks): resolved through its own match,
        # listed under the explicit name of its target, which any client may ask for.
        name = f"{entry.provider}/{entry.model}" if entry.model else entry.match
        served.append(Served(name, f"route {entry.match}", router.resolve(entry.match)))
    for scenario, chosen in config.scenarios.items():
        served.append(Served(chosen.target, f"scenario {scenario}", router.resolve(FAMILY_IDS[1], scenario)))
    return served


def _family_via(name: str, config: ProxyConfig) -> str:
    """A family name goes by its family unless a route of the file matches it first."""
    matching = next((entry.match for entry in config.routes if fnmatchcase(name, entry.match.lower())), None)
    return "family" if matching is None else f"route {matching}"


def is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")
