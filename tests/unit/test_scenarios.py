"""Scenario routing: the first matching scenario in file order wins, explicit provider/model names win
over scenarios, and a bad scenario or fallback target is a start-up error that names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import ConfigError, load_settings
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.services.routing import RequestTraits, Router, is_subagent

PROVIDERS = """
[providers.fast]
base_url = "http://127.0.0.1:9001/v1"
[providers.deep]
base_url = "http://127.0.0.1:9002/v1"
[providers.eyes]
base_url = "http://127.0.0.1:9003/v1"
"""
SCENARIOS = """
[scenarios]
background = "fast/tiny"
think = { target = "deep/reasoner", fallbacks = ["fast/tiny"] }
long_context = { target = "deep/long", threshold = 2000 }
web_search = "deep/searcher"
image = "eyes/vision"
subagent = "fast/agent"
"""


def router(tmp_path: Path, toml: str = PROVIDERS + SCENARIOS) -> Router:
    (tmp_path / "proxy.toml").write_text(toml)
    settings = load_settings(env_file=None, openai_api_key="k", big_model="big", config_file=tmp_path / "proxy.toml")
    return Router(build_config(settings))


def request(**fields: Any) -> MessagesRequest:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    return msgspec.convert({**body, **fields}, MessagesRequest)


IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}


@pytest.mark.parametrize(
    ("fields", "traits", "expected"),
    [
        ({}, RequestTraits(), ("default/big", None)),
        ({"model": "claude-haiku-4-5-20251001"}, RequestTraits(), ("fast/tiny", "background")),
        ({"thinking": {"type": "enabled", "budget_tokens": 4000}}, RequestTraits(), ("deep/reasoner", "think")),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}},
            RequestTraits(),
            ("deep/reasoner", "think"),
        ),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}},
            RequestTraits(),
            ("default/big", None),
        ),
        ({}, RequestTraits(body_bytes=50_000, input_tokens=lambda: 9000), ("deep/long", "long_context")),
        ({}, RequestTraits(body_bytes=50_000, input_tokens=lambda: 100), ("default/big", None)),
        (
            {"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]},
            RequestTraits(),
            ("deep/searcher", "web_search"),
        ),
        ({"messages": [{"role": "user", "content": [IMAGE]}]}, RequestTraits(), ("eyes/vision", "image")),
        (
            {
                "messages": [
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Shot", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [IMAGE]}]},
                ]
            },
            RequestTraits(),
            ("eyes/vision", "image"),
        ),
        ({}, RequestTraits(subagent=True), ("fast/agent", "subagent")),
    ],
    ids=[
        "none",
        "background",
        "think-enabled",
        "think-adaptive-high",
        "adaptive-medium-is-not-think",
        "long-context",
        "short-context",
        "web-search",
        "image",
        "image-in-tool-result",
        "subagent",
    ],
)
def test_each_scenario_routes_its_requests(
    tmp_path: Path, fields: dict[str, Any], traits: RequestTraits, expected: tuple[str, str | None]
) -> None:
    route = router(tmp_path).route(request(**fields), traits)
    assert (route.label, route.scenario) == expected


def test_the_first_matching_scenario_in_file_order_wins(tmp_path: Path) -> None:
    both = request(model="claude-haiku-4-5", thinking={"type": "enabled", "budget_tokens": 2048})
    assert router(tmp_path).route(both, RequestTraits()).scenario == "background"
    reordered = PROVIDERS + '[scenarios]\nthink = "deep/reasoner"\nbackground = "fast/tiny"\n'
    assert router(tmp_path, reordered).route(both, RequestTraits()).scenario == "think"


def test_explicit_provider_model_names_win_over_scenarios(tmp_path: Path) -> None:
    route = router(tmp_path).route(request(model="eyes/other", thinking={"type": "enabled"}), RequestTraits())
    assert (route.label, route.scenario) == ("eyes/other", None)


def test_a_long_context_estimate_is_not_computed_for_a_short_body(tmp_path: Path) -> None:
    def fail() -> int:
        raise AssertionError("counted tokens of a body smaller than the threshold")

    assert router(tmp_path).route(request(), RequestTraits(body_bytes=500, input_tokens=fail)).scenario is None


def test_scenario_fallbacks_come_with_the_scenario_route(tmp_path: Path) -> None:
    route = router(tmp_path).route(request(thinking={"type": "enabled"}), RequestTraits())
    assert [target.label for target in route.targets] == ["deep/reasoner", "fast/tiny"]


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[scenarios]\ndaydream = "fast/tiny"\n', "scenarios.daydream"),
        ('[scenarios]\nthink = "nowhere/model"\n', "scenarios.think: 'nowhere/model' is not a target"),
        ('[scenarios]\nlong_context = "deep/long"\n', "scenarios.long_context.threshold: required"),
        ('[[routes]]\nmatch = "*"\nfallbacks = ["deep"]\n', "routes[0].fallbacks: 'deep' is not a target"),
        ('[fallbacks]\n"default/big" = ["ghost/x"]\n', "fallbacks.'default/big': 'ghost/x' is not a target"),
    ],
)
def test_an_unknown_scenario_or_fallback_target_is_a_start_up_error(tmp_path: Path, toml: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        router(tmp_path, PROVIDERS + toml)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "system", "expected"),
    [
        ({"x-claude-code-agent-id": "a4cccbc1b0cba9ff3"}, None, True),
        (
            {},
            [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332.c97; cc_is_subagent=true;"}],
            True,
        ),
        (
            {},
            [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332.456; cc_entrypoint=cli;"}],
            False,
        ),
        ({"x-claude-code-session-id": "s1"}, "You are Claude Code.", False),
    ],
    ids=["agent-id-header", "billing-line-mark", "main-conversation", "session-header-alone"],
)
def test_subagent_requests_are_told_by_claude_codes_markers(
    headers: dict[str, str], system: Any, expected: bool
) -> None:
    fields = {} if system is None else {"system": system}
    assert is_subagent(headers.get("x-claude-code-agent-id", ""), request(**fields)) is expected
