"""Golden-fixture helpers: a case directory holds inputs and the expected outputs, as JSON.

Set UPDATE_GOLDEN=1 to write missing expected files (then read every one before committing it).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from provider_proxy.config.provider import Provider, Route
from provider_proxy.providers.model_facts import DEFAULT_OUTPUT_LIMIT, model_facts
from provider_proxy.providers.profiles import PROFILES

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def route_for(spec: dict[str, Any], requested: str = "claude-sonnet-4-6") -> Route:
    """A route to a provider of the given profile kind ("generic-nousage": no stream_options)."""
    kind = spec["kind"]
    if kind == "generic-nousage":
        profile = dataclasses.replace(PROFILES["generic"], stream_usage=False)
    else:
        profile = PROFILES[kind]
    provider = Provider(name="test", base_url="http://upstream.invalid/v1", api_key=None, profile=profile)
    model = spec["model"]
    facts = model_facts(model, profile.kind)
    limit = spec.get("max_output_tokens") or facts.max_output_tokens or DEFAULT_OUTPUT_LIMIT
    return Route(requested, provider, model, limit, facts)


def check_golden(path: Path, actual: Any) -> None:
    if not path.exists() and os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review it"
    assert actual == load(path), f"differs from {path}"
