"""Every /v1/messages request through the proxy leaves exactly one correct usage record, written
after the response or stream ends and flushed when the proxy shuts down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from provider_proxy.services.usage.period import parse_period
from provider_proxy.services.usage.record import COLUMNS, RequestRecord
from provider_proxy.services.usage.report import usage_report
from provider_proxy.services.usage.store import UsageStore, store_from_settings
from tests.support.fake_upstream import FakeUpstream, Reply, completion, sse
from tests.support.proxy_server import ProxyServer
from tests.support.usage_data import from_row

KEY = "client-secret-1234"
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Hi"}],
}


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def post(proxy: ProxyServer, body: dict[str, Any], key: str = KEY) -> httpx.Response:
    return httpx.post(f"{proxy.url}/v1/messages", json=body, headers={"x-api-key": key}, timeout=20)


def stored_records(store: UsageStore) -> list[RequestRecord]:
    async def read() -> list[RequestRecord]:
        await store.open()
        try:
            rows = await store.select(f"SELECT {', '.join(COLUMNS)} FROM usage_records ORDER BY ts_ms")
        finally:
            await store.close()
        return [from_row(row) for row in rows]

    return asyncio.run(read())


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "sqlite":
        return {"data_dir": tmp_path / "data"}
    return {"usage_database_url": request.getfixturevalue("postgres_url")}


def test_each_request_leaves_one_record_with_its_outcome(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, store_settings: dict[str, Any]
) -> None:
    proxy = start_proxy(proxy_api_key=KEY, **store_settings)
    usage = {"prompt_tokens": 30, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 8}}
    upstream.queue(
        Reply(json=completion("Hello", usage={"prompt_tokens": 12, "completion_tokens": 4}, finish_reason="length")),
        Reply(
            stream=sse(
                chunk({"content": "Hel"}), 0.05, chunk({"content": "lo"}, "stop"), {"choices": [], "usage": usage}
            )
        ),
        Reply(status=429, json={"error": {"message": "slow down"}}),
    )
    assert post(proxy, BODY).status_code == 200
    assert post(proxy, {**BODY, "stream": True}).status_code == 200
    assert post(proxy, BODY).status_code == 429
    assert post(proxy, BODY, key="wrong").status_code == 401
    assert httpx.post(f"{proxy.url}/v1/messages/count_tokens", json=BODY, headers={"x-api-key": KEY}).status_code == 200
    proxy.stop()  # graceful shutdown drains the queue

    plain, streamed, limited, refused = stored_records(store_from_settings(proxy.settings))
    assert (plain.input_tokens, plain.output_tokens, plain.stop_reason, plain.status) == (12, 4, "max_tokens", 200)
    assert (plain.key_name, plain.provider, plain.upstream_model, plain.route) == (
        "default",
        "default",
        "big-model",
        "default/big-model",
    )
    assert plain.model == "claude-sonnet-4-6" and not plain.stream and plain.ttft_ms is None
    assert (streamed.input_tokens, streamed.output_tokens, streamed.cache_read_tokens) == (22, 5, 8)
    assert streamed.stream and streamed.stop_reason == "end_turn" and streamed.error_type is None
    assert streamed.ttft_ms is not None and 0 < streamed.ttft_ms < streamed.latency_ms
    assert streamed.latency_ms - streamed.ttft_ms >= 40  # the upstream paused 50 ms after the first delta
    assert (limited.status, limited.error_type, limited.stop_reason, limited.input_tokens) == (
        429,
        "rate_limit_error",
        None,
        None,
    )
    assert (refused.status, refused.error_type, refused.key_name, refused.model) == (
        401,
        "authentication_error",
        None,
        None,
    )
    assert len({plain.request_id, streamed.request_id, limited.request_id, refused.request_id}) == 4


def test_a_stream_that_fails_midway_is_recorded_with_its_error_type(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path
) -> None:
    proxy = start_proxy(data_dir=tmp_path / "data")
    upstream.queue(Reply(stream=sse(chunk({"content": "partial"}), done=False), abort=True))
    response = httpx.post(f"{proxy.url}/v1/messages", json={**BODY, "stream": True}, timeout=20)
    assert b"event: error" in response.content
    proxy.stop()
    [failed] = stored_records(store_from_settings(proxy.settings))
    assert (failed.status, failed.error_type, failed.stop_reason, failed.key_name) == (200, "api_error", None, None)
    assert failed.ttft_ms is not None


def test_usage_tracking_off_writes_nothing(start_proxy: Callable[..., ProxyServer], tmp_path: Path) -> None:
    proxy = start_proxy(data_dir=tmp_path / "data", usage_tracking=False)
    assert post(proxy, BODY, key="").status_code == 200
    proxy.stop()
    assert not (tmp_path / "data").exists()


def test_claude_codes_session_id_is_recorded_and_reported_per_session(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path
) -> None:
    proxy = start_proxy(data_dir=tmp_path / "data")
    for session in ("session-a", "session-a", "session-b", "x" * 500):
        answer = httpx.post(
            f"{proxy.url}/v1/messages", json=BODY, headers={"x-claude-code-session-id": session}, timeout=20
        )
        assert answer.status_code == 200
    proxy.stop()
    store = store_from_settings(proxy.settings)
    assert [record.session_id for record in stored_records(store)] == ["session-a", "session-a", "session-b", "x" * 128]

    async def by_session() -> dict[str, int]:
        await store.open()
        try:
            report = await usage_report(store, parse_period("1d"), "session")
        finally:
            await store.close()
        return {row.group: row.requests for row in report.rows}

    assert asyncio.run(by_session()) == {"session-a": 2, "session-b": 1, "x" * 128: 1}
