"""`GET /metrics`: Prometheus text from a registry owned by the app, updated as requests finish."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from provider_proxy.app import create_app
from provider_proxy.config.settings import Settings
from provider_proxy.services.metrics import MAX_CLAUDE_NAMES
from tests.support.fake_upstream import FakeUpstream, Reply, completion, sse
from tests.support.proxy_server import ProxyServer

BODY: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}


def samples(proxy: ProxyServer, **params: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{proxy.url}/metrics", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_requests_tokens_errors_and_latency_are_counted(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}],
    }
    upstream.queue(
        Reply(json=completion("Hello", usage={"prompt_tokens": 12, "completion_tokens": 4})),
        Reply(stream=sse(chunk, {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}})),
        Reply(status=503, json={"error": {"message": "busy"}}),
    )
    for body in (BODY, {**BODY, "stream": True}, BODY):
        httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=10)
    found = samples(proxy)
    ok = frozenset({("model", "claude-sonnet-4-6"), ("provider", "default"), ("status", "200")})
    assert found["proxy_requests_total", ok] == 2
    assert found["proxy_requests_total", ok - {("status", "200")} | {("status", "529")}] == 1
    assert found["proxy_errors_total", frozenset({("type", "overloaded_error")})] == 1
    tokens = frozenset({("provider", "default"), ("model", "big-model")})
    assert found["proxy_tokens_total", tokens | {("direction", "input")}] == 15
    assert found["proxy_tokens_total", tokens | {("direction", "output")}] == 5
    assert found["proxy_request_duration_seconds_count", frozenset({("provider", "default"), ("stream", "false")})] == 2
    assert found["proxy_time_to_first_token_seconds_count", frozenset({("provider", "default")})] == 1
    assert found["proxy_streams_in_flight", frozenset()] == 0


def test_metrics_need_the_proxy_key_when_one_is_set(start_proxy: Callable[..., ProxyServer]) -> None:
    proxy = start_proxy(proxy_api_key="metrics-key-1234")
    assert httpx.get(f"{proxy.url}/metrics").status_code == 401
    assert httpx.get(f"{proxy.url}/metrics", headers={"authorization": "Bearer metrics-key-1234"}).status_code == 200
    assert samples(proxy, key="metrics-key-1234")


def test_two_apps_in_one_process_keep_separate_registries(make_settings: Callable[..., Settings]) -> None:
    first, second = create_app(make_settings()), create_app(make_settings())
    first.state.proxy.recorder.metrics.errors.labels("api_error").inc()
    assert b'proxy_errors_total{type="api_error"} 1.0' in first.state.proxy.recorder.metrics.render()
    assert b"api_error" not in second.state.proxy.recorder.metrics.render()


def test_the_usage_backlog_and_records_not_written_are_exposed(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    httpx.post(f"{proxy.url}/v1/messages", json=BODY, timeout=10)
    found = samples(proxy)
    assert found["proxy_usage_backlog", frozenset()] >= 0
    assert found["proxy_usage_not_written", frozenset()] == 0


def test_model_names_from_clients_fold_into_one_label_value(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[routes]]\nmatch = "team-model"\nmodel = "routed-model"\n')
    proxy = start_proxy(config_file=str(config))
    names = ["claude-sonnet-4-6"]
    names += [f"random-{secrets.token_hex(6)}" for _ in range(1_400)]
    names += [f"claude-opus-{secrets.token_hex(4)}x" for _ in range(300)]
    names += [f"claude-haiku-4-5-{20250000 + day}" for day in range(300)]
    names += ["team-model", "claude-sonnet-4-6", "claude-sonnet-4-7"]
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        for name in names:
            assert client.post("/v1/messages", json={**BODY, "model": name}).status_code == 200
    found = samples(proxy)
    series = {key for key in found if key[0].startswith("proxy_")}
    assert len(series) < 200 + MAX_CLAUDE_NAMES, f"{len(series)} series"
    requests = {
        dict(labels)["model"]: value for (name, labels), value in found.items() if name == "proxy_requests_total"
    }
    assert requests["other"] == 1_400
    assert requests["team-model"] == 1
    assert requests["claude-sonnet-4-6"] == 2  # a Claude id seen early keeps its name
    assert requests["claude-opus"] == 300  # not shaped like a Claude id: its family
    assert requests["claude-sonnet"] == 1  # a Claude id after the first MAX_CLAUDE_NAMES: its family
    assert len(requests) == 5 + MAX_CLAUDE_NAMES
    upstream_models = {dict(labels)["model"] for name, labels in found if name == "proxy_tokens_total"}
    assert upstream_models == {"other", "routed-model", "big-model", "small-model"}
