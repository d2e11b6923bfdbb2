"""Scenario routing over real HTTP: each scenario's requests reach its target, the others the usual route."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply, completion
from tests.support.proxy_server import ProxyServer

IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
BASE: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def special() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    fake.script = lambda _: Reply(json=completion("special"))
    yield fake
    fake.stop()


@pytest.mark.parametrize(
    ("body", "headers", "model"),
    [
        ({**BASE, "model": "claude-haiku-4-5-20251001"}, {}, "bg-model"),
        ({**BASE, "thinking": {"type": "enabled", "budget_tokens": 2048}}, {}, "think-model"),
        ({**BASE, "messages": [{"role": "user", "content": "long " * 3000}]}, {}, "long-model"),
        ({**BASE, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, {}, "search-model"),
        (
            {**BASE, "messages": [{"role": "user", "content": [IMAGE, {"type": "text", "text": "see"}]}]},
            {},
            "eye-model",
        ),
        (BASE, {"x-claude-code-agent-id": "a4cccbc1b0cba9ff3"}, "agent-model"),
        (BASE, {}, None),
    ],
    ids=["background", "think", "long_context", "web_search", "image", "subagent", "no-scenario"],
)
def test_each_scenario_reaches_its_target(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    special: FakeUpstream,
    tmp_path: Path,
    body: dict[str, Any],
    headers: dict[str, str],
    model: str | None,
) -> None:
    toml = tmp_path / "proxy.toml"
    toml.write_text(
        f'[providers.special]\nbase_url = "{special.url}"\n\n[scenarios]\n'
        'background = "special/bg-model"\nthink = "special/think-model"\n'
        'long_context = { target = "special/long-model", threshold = 2000 }\nweb_search = "special/search-model"\n'
        'image = "special/eye-model"\nsubagent = "special/agent-model"\n'
    )
    proxy = start_proxy(config_file=toml)
    answer = httpx.post(f"{proxy.url}/v1/messages", json=body, headers=headers, timeout=20)
    assert answer.status_code == 200, answer.text
    if model is None:
        assert special.requests == [] and upstream.last.json["model"] == "big-model"
    else:
        assert upstream.requests == [] and special.last.json["model"] == model
