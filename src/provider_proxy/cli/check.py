"""`provider-proxy check`: what is missing or wrong in the configuration, in plain words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from provider_proxy.api.body import decode_request
from provider_proxy.config.provider import Provider
from provider_proxy.config.proxy_config import ProxyConfig, build_config, split_target
from provider_proxy.config.settings import LOOPBACK, Settings
from provider_proxy.errors import UpstreamError
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.services.routing import RequestTraits, Router, is_subagent
from provider_proxy.services.token_counting import TokenCounter
from provider_proxy.services.upstream import UpstreamClient

_LOCAL_KINDS = frozenset({"ollama", "lmstudio", "vllm", "llamacpp"})
_LOOPBACK = LOOPBACK
# The keys .env.example ships with (your-provider-key, your-openrouter-key, ...).
_PLACEHOLDER = re.compile(r"your-[a-z0-9-]*key", re.IGNORECASE)
_OTHER_MODEL = "any-other-model-name"
OTHER_NAMES = "other model names"


@dataclass(frozen=True, slots=True)
class Finding:
    level: Literal["ok", "warning", "error"]
    message: str


def _is_local(provider: Provider) -> bool:
    host = urlsplit(provider.base_url).hostname or ""
    return provider.profile.kind in _LOCAL_KINDS or host in _LOOPBACK or host.endswith(".local")


def _used_providers(config: ProxyConfig, router: Router) -> dict[str, list[str]]:
    """Provider name -> what uses it (families, file routes, and model names nothing else matches)."""
    used: dict[str, list[str]] = {}
    for family in ("opus", "sonnet", "haiku"):
        route = router.resolve(f"claude-{family}-4-5")
        used.setdefault(route.provider.name, []).append(f"{family} -> {route.model}")
    for entry in config.routes:
        used.setdefault(entry.provider, []).append(f"route {entry.match!r}")
    # A name no route or family matches (`claude --model gpt-4.1`) goes to the default provider,
    # unchanged, unless a catch-all route sends it elsewhere.
    other = router.resolve(_OTHER_MODEL)
    if other.model == _OTHER_MODEL:
        used.setdefault(other.provider.name, []).append(OTHER_NAMES)
    return used


def _provider_finding(where: str, provider: Provider, users: list[str] | None) -> Finding:
    if not users:
        return Finding("ok", f"{where} is configured but no route uses it")
    serves = f"{where} serves {', '.join(users)}"
    if _is_local(provider):
        return Finding("ok", serves + ("" if provider.api_key else "; no API key (a local server)"))
    # Claude Code asks for family names; when those go elsewhere, only names asked for directly fail.
    level: Literal["warning", "error"] = "warning" if users == [OTHER_NAMES] else "error"
    if not provider.api_key:
        return Finding(level, f"{serves} but has no API key: set {provider.key_source}")
    if _PLACEHOLDER.fullmatch(provider.api_key):
        return Finding(
            level,
            f"{serves} but its key is still the placeholder {provider.api_key!r} from .env.example: "
            f"put your provider key in {provider.key_source}",
        )
    return Finding("ok", serves)


def startup_warnings(settings: Settings) -> list[str]:
    """What `serve` says before it starts: every problem `check` would report, as a warning (the
    proxy still serves the providers that work)."""
    return [finding.message for finding in check_config(settings) if finding.level != "ok"]


def check_config(settings: Settings) -> list[Finding]:
    config = build_config(settings)
    router = Router(config)
    findings: list[Finding] = []
    used = _used_providers(config, router)
    for name, provider in config.providers.items():
        users = used.get(name)
        where = f"provider {name!r} ({provider.profile.kind}, {provider.base_url})"
        findings.append(_provider_finding(where, provider, users))
    if not config.keys.required and settings.host not in _LOOPBACK:
        findings.append(
            Finding(
                "warning",
                f"HOST={settings.host} exposes the proxy beyond this machine without PROXY_API_KEY or client keys: "
                "anyone who reaches the port spends your provider credit",
            )
        )
    return findings


def explain_route(settings: Settings, raw: bytes, headers: Mapping[str, str]) -> list[str]:
    """Where a sample request would go, and why: the scenarios it matches, the route, the fallbacks."""
    config = build_config(settings)
    router = Router(config)
    request, _ = decode_request(raw, MessagesRequest)
    traits = RequestTraits(
        subagent=is_subagent({k.lower(): v for k, v in headers.items()}.get("x-claude-code-agent-id", ""), request),
        body_bytes=len(raw),
        input_tokens=lambda: TokenCounter().estimate_request(request),
    )
    route = router.route(request, traits)
    lines = [f"model {request.model!r}"]
    if config.scenarios:
        matched = router.matching_scenarios(request, traits)
        if split_target(request.model, config.providers) is not None:
            lines.append("scenarios: not consulted (the model names a provider explicitly)")
        else:
            listed = ", ".join(f"{name}{' (matches)' if name in matched else ''}" for name in config.scenarios)
            lines.append(f"scenarios in order: {listed}")
    how = f"scenario {route.scenario!r}" if route.scenario else "routing by name"
    lines.append(f"goes to {route.label} ({how}), up to {route.max_output_tokens} output tokens")
    if route.fallbacks:
        lines.append("then, if it fails before answering: " + ", ".join(target.label for target in route.fallbacks))
    return lines


async def _probe(client: UpstreamClient, provider: Provider) -> Finding:
    try:
        status, detail = await client.probe(provider)
    except UpstreamError as exc:
        return Finding("error", f"provider {provider.name!r}: cannot reach {provider.base_url}: {exc.message}")
    if status == 200:
        return Finding("ok", f"provider {provider.name!r} answered GET /models")
    return Finding("error", f"provider {provider.name!r}: GET /models -> HTTP {status}: {detail}")


async def probe_providers(settings: Settings) -> list[Finding]:
    config = build_config(settings)
    client = UpstreamClient(settings, config.secrets)
    await client.start()
    try:
        return [await _probe(client, provider) for provider in config.providers.values()]
    finally:
        await client.close()
