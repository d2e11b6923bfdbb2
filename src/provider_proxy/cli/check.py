"""`provider-proxy check`: what is missing or wrong in the configuration, in plain words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from provider_proxy.config.provider import Provider
from provider_proxy.config.proxy_config import ProxyConfig, build_config
from provider_proxy.config.settings import Settings
from provider_proxy.errors import UpstreamError
from provider_proxy.services.routing import Router
from provider_proxy.services.upstream import UpstreamClient

_LOCAL_KINDS = frozenset({"ollama", "lmstudio", "vllm", "llamacpp"})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class Finding:
    level: Literal["ok", "warning", "error"]
    message: str


def _is_local(provider: Provider) -> bool:
    host = urlsplit(provider.base_url).hostname or ""
    return provider.profile.kind in _LOCAL_KINDS or host in _LOOPBACK or host.endswith(".local")


def _used_providers(config: ProxyConfig, router: Router) -> dict[str, list[str]]:
    """Provider name -> what uses it (families and file routes)."""
    used: dict[str, list[str]] = {}
    for family in ("opus", "sonnet", "haiku"):
        route = router.resolve(f"claude-{family}-4-5")
        used.setdefault(route.provider.name, []).append(f"{family} -> {route.model}")
    for entry in config.routes:
        used.setdefault(entry.provider, []).append(f"route {entry.match!r}")
    return used


def check_config(settings: Settings) -> list[Finding]:
    config = build_config(settings)
    router = Router(config)
    findings: list[Finding] = []
    used = _used_providers(config, router)
    for name, provider in config.providers.items():
        users = used.get(name)
        where = f"provider {name!r} ({provider.profile.kind}, {provider.base_url})"
        if not users:
            findings.append(Finding("ok", f"{where} is configured but no route uses it"))
        elif provider.api_key:
            findings.append(Finding("ok", f"{where} serves {', '.join(users)}"))
        elif _is_local(provider):
            findings.append(Finding("ok", f"{where} serves {', '.join(users)}; no API key (a local server)"))
        else:
            findings.append(
                Finding(
                    "error",
                    f"{where} serves {', '.join(users)} but has no API key: set {provider.key_source}",
                )
            )
    if settings.proxy_api_key is None and settings.host not in _LOOPBACK:
        findings.append(
            Finding(
                "warning",
                f"HOST={settings.host} exposes the proxy beyond this machine without PROXY_API_KEY: "
                "anyone who reaches the port spends your provider credit",
            )
        )
    return findings


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
