"""Anthropic-API upstreams (`kind = "anthropic"`) over real HTTP, with the official SDK as the client and
its stream accumulator as the oracle: the request passes through with the route's model, the answer
comes back with the client's, usage is recorded, errors keep Anthropic's type and status, betas and
fields the provider rejects are left out, count_tokens goes to the provider, and a route falls back
across API kinds."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from provider_proxy.conversion.signatures import thinking_signature
from tests.conftest import UPSTREAM_KEY
from tests.support.fake_upstream import FakeUpstream, Reply, completion
from tests.support.proxy_server import ProxyServer
from tests.support.sdk import sdk_client

ANTHROPIC_KEY = "sk-ant-upstream-secret-9876543210"
REQUESTED = "claude-sonnet-4-6"
UPSTREAM_MODEL = "claude-upstream-1"


@pytest.fixture
def claude() -> Iterator[FakeUpstream]:
    """A stand-in for an Anthropic-API provider."""
    fake = FakeUpstream().start()
    fake.script = lambda _: Reply(json=message())
    yield fake
    fake.stop()


def config(tmp_path: Path, url: str, extra: str = "", kind: str = "anthropic", profile: str = "") -> Path:
    path = tmp_path / "proxy.toml"
    path.write_text(
        f'[providers.claude]\nbase_url = "{url}"\napi_key = "{ANTHROPIC_KEY}"\nkind = "{kind}"\n'
        + (f"[providers.claude.profile]\n{profile}\n" if profile else "")
        + f'\n[[routes]]\nmatch = "claude-*"\nprovider = "claude"\nmodel = "{UPSTREAM_MODEL}"\n'
        + extra
    )
    return path


@pytest.fixture
def native(start_proxy: Callable[..., ProxyServer], claude: FakeUpstream, tmp_path: Path) -> ProxyServer:
    return start_proxy(config_file=config(tmp_path, claude.url), data_dir=tmp_path / "data")


def message(text: str = "Hello from upstream", usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": "msg_upstream_1",
        "type": "message",
        "role": "assistant",
        "model": UPSTREAM_MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage
        or {"input_tokens": 21, "output_tokens": 5, "cache_creation_input_tokens": 7, "cache_read_input_tokens": 300},
    }


def events(*pairs: tuple[str, dict[str, Any]]) -> Reply:
    return Reply(stream=[f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n" for name, data in pairs])


def streamed_tool_turn() -> Reply:
    start = {**message(), "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": 40, "output_tokens": 1, "cache_creation_input_tokens": 100}
    tool = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}
    return events(
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Reading "}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "it."}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": tool}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"file_path": "a.py"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 17, "cache_read_input_tokens": 2000},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    )


def usage_rows(tmp_path: Path) -> list[tuple[Any, ...]]:
    query = (
        "SELECT model, provider, upstream_model, input_tokens, output_tokens, cache_read_tokens, "
        "cache_creation_tokens, stop_reason, error_type FROM usage_records"
    )
    return list(sqlite3.connect(tmp_path / "data" / "usage.db").execute(query))


def ask(proxy: ProxyServer, **options: Any) -> anthropic.types.Message:
    client = sdk_client(proxy.url)
    return client.messages.create(
        model=REQUESTED, max_tokens=100, messages=[{"role": "user", "content": "Hi"}], **options
    )


def test_a_message_passes_through_with_the_model_rewritten_both_ways(
    native: ProxyServer, claude: FakeUpstream, tmp_path: Path
) -> None:
    answer = ask(native, metadata={"user_id": "u-1"}, extra_body={"top_k": 5})
    assert answer.model == REQUESTED
    assert answer.id == "msg_upstream_1"
    assert answer.content[0].text == "Hello from upstream"  # type: ignore[union-attr]
    sent = claude.last
    assert sent.path == "/v1/messages"
    assert sent.json["model"] == UPSTREAM_MODEL
    # Passed through untranslated: Anthropic fields the Chat Completions path would map or drop.
    assert sent.json["messages"] == [{"role": "user", "content": "Hi"}]
    assert sent.json["metadata"] == {"user_id": "u-1"} and sent.json["top_k"] == 5
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in {name.lower() for name in sent.headers}
    native.stop()
    assert usage_rows(tmp_path) == [(REQUESTED, "claude", UPSTREAM_MODEL, 21, 5, 300, 7, "end_turn", None)]


def test_a_stream_is_relayed_and_the_sdk_rebuilds_the_message(
    native: ProxyServer, claude: FakeUpstream, tmp_path: Path
) -> None:
    claude.queue(streamed_tool_turn())
    client = sdk_client(native.url)
    with client.messages.stream(
        model=REQUESTED, max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert claude.last.json["stream"] is True and claude.last.json["model"] == UPSTREAM_MODEL
    assert final.model == REQUESTED
    assert final.stop_reason == "tool_use"
    assert final.content[0].text == "Reading it."  # type: ignore[union-attr]
    assert final.content[1].input == {"file_path": "a.py"}  # type: ignore[union-attr]
    assert final.usage.output_tokens == 17 and final.usage.cache_read_input_tokens == 2000
    assert "ping" not in kinds or kinds.index("ping") > 0  # relayed where the upstream sent it
    native.stop()
    assert usage_rows(tmp_path) == [(REQUESTED, "claude", UPSTREAM_MODEL, 40, 17, 2000, 100, "tool_use", None)]


def test_the_stream_bytes_are_the_upstreams_except_for_the_model(native: ProxyServer, claude: FakeUpstream) -> None:
    claude.queue(streamed_tool_turn())
    body = {"model": REQUESTED, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    raw = httpx.post(f"{native.url}/v1/messages", json=body, timeout=10).content
    upstream = b"".join(piece for piece in streamed_tool_turn().stream or [] if isinstance(piece, bytes))
    assert raw.replace(REQUESTED.encode(), UPSTREAM_MODEL.encode()).replace(b" ", b"") == upstream.replace(b" ", b"")


@pytest.mark.parametrize(
    ("status", "error_type", "headers"),
    [
        (400, "invalid_request_error", {}),
        (401, "authentication_error", {}),
        (429, "rate_limit_error", {"retry-after": "30"}),
        (529, "overloaded_error", {"retry-after": "20"}),
    ],
)
def test_errors_keep_their_anthropic_type_status_and_retry_after(
    native: ProxyServer, claude: FakeUpstream, status: int, error_type: str, headers: dict[str, str]
) -> None:
    detail = f"{error_type} happened for key {ANTHROPIC_KEY}"
    claude.script = lambda _: Reply(
        status=status, json={"type": "error", "error": {"type": error_type, "message": detail}}, headers=headers
    )
    response = httpx.post(
        f"{native.url}/v1/messages",
        json={"model": REQUESTED, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]},
        timeout=10,
    )
    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert error_type in body["error"]["message"]
    assert ANTHROPIC_KEY not in response.text
    assert response.headers.get("retry-after") == headers.get("retry-after")


def test_an_error_event_mid_stream_is_passed_on_redacted(native: ProxyServer, claude: FakeUpstream) -> None:
    start = {**message(), "content": [], "stop_reason": None}
    failure = {"type": "error", "error": {"type": "overloaded_error", "message": f"Overloaded ({ANTHROPIC_KEY})"}}
    claude.queue(
        events(
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hal"}},
            ),
            ("error", failure),
        )
    )
    client = sdk_client(native.url)
    request = {"model": REQUESTED, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}
    with pytest.raises(anthropic.APIStatusError) as raised, client.messages.stream(**request) as stream:  # type: ignore[arg-type]
        for _ in stream:
            pass
    assert "overloaded_error" in str(raised.value.body) and ANTHROPIC_KEY not in str(raised.value.body)


def test_a_stream_that_ends_before_message_stop_ends_with_an_error(native: ProxyServer, claude: FakeUpstream) -> None:
    start = {**message(), "content": [], "stop_reason": None}
    claude.queue(events(("message_start", {"type": "message_start", "message": start})))
    body = {"model": REQUESTED, "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    raw = httpx.post(f"{native.url}/v1/messages", json=body, timeout=10).text
    ended = "Upstream provider ended the stream before message_stop"
    assert raw.rstrip().splitlines()[-2:] == [
        "event: error",
        'data: {"type":"error","error":{"type":"api_error","message":"' + ended + '"}}',
    ]


def test_betas_are_relayed_as_the_profile_allows(
    start_proxy: Callable[..., ProxyServer], claude: FakeUpstream, tmp_path: Path
) -> None:
    betas = "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
    everything = start_proxy(config_file=config(tmp_path, claude.url))
    ask(everything, extra_headers={"anthropic-beta": betas})
    assert claude.last.headers["anthropic-beta"] == betas

    allowed = config(tmp_path, claude.url, profile='betas = ["interleaved-thinking-*", "fine-grained-*"]')
    ask(start_proxy(config_file=allowed), extra_headers={"anthropic-beta": betas})
    assert (
        claude.last.headers["anthropic-beta"]
        == "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
    )

    compatible = config(tmp_path, claude.url, kind="deepseek-anthropic")
    ask(start_proxy(config_file=compatible), extra_headers={"anthropic-beta": betas})
    assert "anthropic-beta" not in {name.lower() for name in claude.last.headers}


def test_fields_the_provider_rejects_and_the_proxys_own_thinking_are_left_out(
    start_proxy: Callable[..., ProxyServer], claude: FakeUpstream, tmp_path: Path
) -> None:
    proxy = start_proxy(
        config_file=config(tmp_path, claude.url, profile='drop_fields = ["context_management", "speed"]')
    )
    history = [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "from another provider", "signature": thinking_signature()},
                {"type": "thinking", "thinking": "Anthropic's own", "signature": "EqQBCkYIBxgCKkA"},
                {"type": "text", "text": "Hello"},
            ],
        },
        {"role": "user", "content": "Again"},
    ]
    body = {
        "model": REQUESTED,
        "max_tokens": 10,
        "messages": history,
        "context_management": {"edits": []},
        "speed": "fast",
        "future_field": {"kept": True},
    }
    assert httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=10).status_code == 200
    sent = claude.last.json
    assert "context_management" not in sent and "speed" not in sent
    assert sent["future_field"] == {"kept": True}
    assert [block["type"] for block in sent["messages"][1]["content"]] == ["thinking", "text"]
    assert sent["messages"][1]["content"][0]["signature"] == "EqQBCkYIBxgCKkA"


def test_bearer_auth_for_providers_that_want_it(
    start_proxy: Callable[..., ProxyServer], claude: FakeUpstream, tmp_path: Path
) -> None:
    ask(start_proxy(config_file=config(tmp_path, claude.url, kind="moonshot-anthropic")))
    assert claude.last.headers["Authorization"] == f"Bearer {ANTHROPIC_KEY}"
    assert "x-api-key" not in {name.lower() for name in claude.last.headers}


COUNT_BODY = {"model": REQUESTED, "messages": [{"role": "user", "content": "How many tokens is this?"}]}


def test_count_tokens_is_forwarded_to_the_provider(native: ProxyServer, claude: FakeUpstream) -> None:
    claude.queue(Reply(json={"input_tokens": 4242}))
    client = sdk_client(native.url)
    counted = client.messages.count_tokens(**COUNT_BODY, extra_headers={"anthropic-beta": "token-counting-2024-11-01"})  # type: ignore[arg-type]
    assert counted.input_tokens == 4242
    assert claude.last.path == "/v1/messages/count_tokens"
    assert claude.last.json == {**COUNT_BODY, "model": UPSTREAM_MODEL}
    assert claude.last.headers["anthropic-beta"] == "token-counting-2024-11-01"


@pytest.mark.parametrize(
    "failure",
    [Reply(status=500, json={"type": "error", "error": {"type": "api_error", "message": "x"}}), Reply(json={})],
)
def test_count_tokens_is_counted_locally_when_the_provider_cannot(
    native: ProxyServer, claude: FakeUpstream, failure: Reply
) -> None:
    claude.queue(failure)
    counted = sdk_client(native.url).messages.count_tokens(**COUNT_BODY)  # type: ignore[arg-type]
    assert 0 < counted.input_tokens < 100


def test_count_tokens_stays_local_for_providers_without_the_endpoint(
    start_proxy: Callable[..., ProxyServer], claude: FakeUpstream, tmp_path: Path
) -> None:
    proxy = start_proxy(config_file=config(tmp_path, claude.url, kind="deepseek-anthropic"))
    counted = sdk_client(proxy.url).messages.count_tokens(**COUNT_BODY)  # type: ignore[arg-type]
    assert counted.input_tokens > 0 and claude.requests == []


def test_a_route_falls_back_from_an_anthropic_target_to_a_chat_one_and_back(
    start_proxy: Callable[..., ProxyServer], claude: FakeUpstream, upstream: FakeUpstream, tmp_path: Path
) -> None:
    fallbacks = (
        f'\n[fallbacks]\n"claude/{UPSTREAM_MODEL}" = ["default/chat-model"]\n'
        f'"default/gpt-big" = ["claude/{UPSTREAM_MODEL}"]\n'
    )
    proxy = start_proxy(config_file=config(tmp_path, claude.url, extra=fallbacks), breaker_failures=100)
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    claude.queue(Reply(status=529, json=overloaded))
    upstream.queue(Reply(json=completion("from the chat provider")))
    first = ask(proxy)
    assert first.content[0].text == "from the chat provider" and first.model == REQUESTED  # type: ignore[union-attr]
    assert (
        upstream.last.json["model"] == "chat-model"
        and upstream.last.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    )

    # The other way: a model routed to the chat provider falls back to the Anthropic one, streaming.
    upstream.queue(Reply(status=503, json={"error": {"message": "down"}}))
    claude.queue(streamed_tool_turn())
    client = sdk_client(proxy.url)
    with client.messages.stream(model="gpt-big", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]) as stream:
        final = stream.get_final_message()
    assert final.model == "gpt-big" and final.stop_reason == "tool_use"
    assert claude.last.json["model"] == UPSTREAM_MODEL and claude.last.json["messages"] == [
        {"role": "user", "content": "Hi"}
    ]


def test_a_chat_answer_and_an_anthropic_answer_alternate_in_one_session(
    start_proxy: Callable[..., ProxyServer], claude: FakeUpstream, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Thinking the Chat Completions path signed goes to the chat provider again, not to Anthropic."""
    proxy = start_proxy(config_file=config(tmp_path, claude.url))
    upstream.queue(Reply(json=completion("chat", reasoning_content="pondering")))
    client = sdk_client(proxy.url)
    first = client.messages.create(model="gpt-big", max_tokens=50, messages=[{"role": "user", "content": "Hi"}])
    assert first.content[0].type == "thinking"
    history: list[Any] = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": "And now?"},
    ]
    client.messages.create(model=REQUESTED, max_tokens=50, messages=history)
    assert [block["type"] for block in claude.last.json["messages"][1]["content"]] == ["text"]
