"""Requests the fuzzing (tests/fuzz) found answered with the proxy's own 500 or a malformed answer,
each now answered as Anthropic would: a 400 naming the problem, or a normal answer."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from provider_proxy.dashboard.data import MAX_BUCKETS
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy_server import ProxyServer

HUGE = 10**30


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **fields}


def _assert_invalid(response: httpx.Response, *words: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    for word in words:
        assert word in error["message"]
    return error


def _tool_use_turns(tool_input: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": tool_input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
    ]


BIG_INTEGERS = {
    "tool schema": _body(tools=[{"name": "Read", "input_schema": {"type": "integer", "maximum": HUGE}}]),
    "tool_use input": _body(messages=_tool_use_turns({"offset": -HUGE})),
}


@pytest.mark.parametrize("body", BIG_INTEGERS.values(), ids=BIG_INTEGERS.keys())
def test_an_integer_beyond_64_bits_is_a_400_not_an_internal_error(
    proxy: ProxyServer, upstream: FakeUpstream, body: dict[str, Any]
) -> None:
    response = httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=20)
    _assert_invalid(response, "64-bit")
    assert upstream.requests == []


def test_an_integer_beyond_64_bits_is_a_400_when_counting_tokens(proxy: ProxyServer) -> None:
    body = _body(messages=_tool_use_turns({"offset": HUGE}))
    del body["max_tokens"]
    response = httpx.post(f"{proxy.url}/v1/messages/count_tokens", json=body, timeout=20)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        _assert_invalid(response, "64-bit")


@pytest.mark.parametrize("model", [" ", "\x1c", "\t\n"])
def test_a_model_name_of_only_whitespace_is_routed_not_an_internal_error(
    proxy: ProxyServer, upstream: FakeUpstream, model: str
) -> None:
    response = httpx.post(f"{proxy.url}/v1/messages", json=_body(model=model), timeout=20)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == model


@pytest.mark.parametrize("model", [" ", "\x1c"])
def test_a_model_id_of_only_whitespace_is_described_not_an_internal_error(proxy: ProxyServer, model: str) -> None:
    info = httpx.get(f"{proxy.url}/v1/models/{quote(model)}", timeout=20)
    assert info.status_code == 200, info.text
    assert info.json()["id"] == model


@pytest.mark.parametrize("limit", ["\u00b2", "\u2460", "1\u00b3"])
def test_a_limit_of_digits_that_are_not_decimal_is_a_400(proxy: ProxyServer, limit: str) -> None:
    """Superscripts and circled digits count as digits for `str.isdigit` but not for `int`."""
    response = httpx.get(f"{proxy.url}/v1/models", params={"limit": limit}, timeout=20)
    _assert_invalid(response, "limit: must be a number from 1 to 1000")


# msgspec stops at the first value of the wrong type; JSON broken after it is found only later.
BROKEN_AFTER_A_WRONG_TYPE = {
    "cut short": b'{"model": "m", "max_tokens": "10", "messages": [{"role": "user", "content": "hi"',
    "lone surrogate": b'{"model": "m", "max_tokens": "10", "messages": [{"role": "user", "content": "\\ud800"}]}',
    "unknown block, then cut short": (
        b'{"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "hologram"}, {"type"'
    ),
}


@pytest.mark.parametrize("raw", BROKEN_AFTER_A_WRONG_TYPE.values(), ids=BROKEN_AFTER_A_WRONG_TYPE.keys())
def test_json_broken_after_a_wrong_type_is_called_invalid_json_not_too_deep(proxy: ProxyServer, raw: bytes) -> None:
    response = httpx.post(
        f"{proxy.url}/v1/messages", content=raw, headers={"content-type": "application/json"}, timeout=20
    )
    error = _assert_invalid(response, "Request body is not valid JSON")
    assert "nested too deeply" not in error["message"]


def test_the_dropped_block_types_named_in_an_error_are_few_and_short(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    """Block type names are the client's strings: a 400 (and the log line) repeats ten of them at most,
    cut to 40 characters, and quotes those that are not plain words."""
    kinds = ["", "x" * 100_000, *(f"kind{i}" for i in range(20))]
    body = _body(messages=[{"role": "user", "content": [{"type": kind} for kind in kinds]}])
    error = _assert_invalid(httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=20))
    assert len(error["message"]) < 1000, error["message"][:2000]
    assert "dropped block types: '', kind0, kind1, " in error["message"]
    assert "and 12 more" in error["message"]
    assert upstream.requests == []


def test_a_long_dropped_block_type_is_cut_in_the_error(proxy: ProxyServer) -> None:
    body = _body(messages=[{"role": "user", "content": [{"type": "y" * 100_000}]}])
    error = _assert_invalid(httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=20))
    assert f"dropped block types: {'y' * 40}... (it translates" in error["message"]


def test_a_model_name_cannot_forge_or_flood_the_request_log_line(
    proxy: ProxyServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The model name is the client's string: in the one line per request its line breaks and other
    control characters are escaped (no forged log lines) and it is cut to 200 characters."""
    caplog.set_level(logging.INFO, logger="provider_proxy.request")
    forged = "gpt-4.1\n2026-01-01 00:00:00 INFO provider_proxy.request: req_forged POST /v1/messages admin"
    for model in (forged, "m" * 5_000):
        response = httpx.post(f"{proxy.url}/v1/messages", json=_body(model=model), timeout=20)
        assert response.status_code == 200, response.text
    deadline = time.monotonic() + 5
    while len(lines := [r.getMessage() for r in caplog.records if " POST /v1/messages " in r.getMessage()]) < 2:
        assert time.monotonic() < deadline, lines
        time.sleep(0.01)
    assert all("\n" not in line for line in lines)
    assert "gpt-4.1\\n2026-01-01" in lines[0]
    assert f" {'m' * 200}... -> " in lines[1] and "m" * 201 not in lines[1]


def _signature(payload: Any) -> str:
    return "ppx1." + base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


@pytest.mark.parametrize("payload", [{"rd": 5}, {"rd": None}, {"rd": "text"}, {"rd": {"a": 1}}, [1], "x"])
@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "deepseek-reasoner"])
def test_a_thinking_signature_in_the_proxys_shape_with_other_content_is_ignored(
    proxy: ProxyServer, upstream: FakeUpstream, payload: Any, model: str
) -> None:
    """A signature that looks like the proxy's but carries something else is someone else's: the
    thinking block is left out as any foreign one, and the request is answered."""
    thinking = {"type": "thinking", "thinking": "earlier reasoning", "signature": _signature(payload)}
    turns = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [thinking, {"type": "text", "text": "hello"}]},
        {"role": "user", "content": "more"},
    ]
    response = httpx.post(f"{proxy.url}/v1/messages", json=_body(model=model, messages=turns), timeout=20)
    assert response.status_code == 200, response.text
    assert "earlier reasoning" not in upstream.last.body.decode()


@pytest.mark.parametrize("since", ["9999999999w", "99999999999999d", "9" * 400 + "d", "1" * 20 + "m"])
def test_a_dashboard_period_before_the_year_1_is_a_400(proxy: ProxyServer, since: str) -> None:
    """Before: a MemoryError (a bucket for every week back to then) or a NaN, as a plain-text 500."""
    response = httpx.get(f"{proxy.url}/dashboard/data", params={"since": since}, timeout=20)
    assert response.status_code == 400, response.text[:500]
    assert response.json()["error"]["message"].startswith("since/until: ")


@pytest.mark.parametrize("since", ["0001-01-01", "100000w"])
def test_a_dashboard_period_of_centuries_keeps_its_charts_under_the_point_limit(proxy: ProxyServer, since: str) -> None:
    response = httpx.get(f"{proxy.url}/dashboard/data", params={"since": since}, timeout=20)
    assert response.status_code == 200, response.text[:500]
    assert len(response.json()["buckets"]) <= MAX_BUCKETS + 1


def test_an_unexpected_failure_outside_the_api_endpoints_is_an_anthropic_error(
    proxy: ProxyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's endpoints go through Starlette: a bug there was a plain-text 500."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("provider_proxy.dashboard.routes.dashboard_data", broken)
    response = httpx.get(f"{proxy.url}/dashboard/data", timeout=20)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "api_error"
    assert error["message"].startswith("Internal proxy error; see the proxy log for req_")
    assert response.headers["request-id"] in error["message"]


@pytest.mark.parametrize(
    "path", ["/v1/models", "/v1/models/claude-opus-5-5", "/openapi.json", "/", "/health", "/ready"]
)
def test_head_is_answered_wherever_get_is(proxy: ProxyServer, path: str) -> None:
    """Starlette lets HEAD through wherever GET is allowed: HEAD /v1/models reached the guard meant
    for wrong methods only (an AssertionError, a 500)."""
    get = httpx.get(f"{proxy.url}{path}", timeout=20)
    head = httpx.head(f"{proxy.url}{path}", timeout=20)
    assert (head.status_code, head.content) == (get.status_code, b"")
    assert head.headers["content-type"] == get.headers["content-type"]


def _with_unknown_block_and_result(parts: list[Any]) -> dict[str, Any]:
    """An unknown block sends the body down the lenient path, which sorts the tool result's parts."""
    result = {"type": "tool_result", "tool_use_id": "t1", "content": parts}
    turns = _tool_use_turns({})
    turns[2]["content"] = [{"type": "hologram"}, result]
    return _body(messages=turns)


@pytest.mark.parametrize("kind", [[], {}, ["text"]])
def test_a_tool_result_part_whose_type_is_not_a_string_is_dropped_like_an_unknown_one(
    proxy: ProxyServer, upstream: FakeUpstream, kind: Any
) -> None:
    body = _with_unknown_block_and_result([{"type": "text", "text": "kept"}, {"type": kind, "text": "dropped"}])
    response = httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=20)
    assert response.status_code == 200, response.text
    sent = upstream.last.body.decode()
    assert "kept" in sent and "dropped" not in sent


def test_many_tool_result_parts_beside_an_unknown_block_take_linear_time(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    """Each kept part was looked up in the list of kept parts (a deep comparison with each): 30,000
    parts held the event loop, and every other client, for some ten seconds."""
    parts = [{"type": "text", "text": f"line {n}"} for n in range(30_000)] + [{"type": "smell"}]
    started = time.monotonic()
    response = httpx.post(f"{proxy.url}/v1/messages", json=_with_unknown_block_and_result(parts), timeout=60)
    assert response.status_code == 200, response.text[:500]
    assert time.monotonic() - started < 5
    assert "line 29999" in upstream.last.body.decode()


def test_thousands_of_tool_calls_and_results_in_one_turn_take_linear_time(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    """Each result was matched by scanning the turn's calls: 30,000 calls and their results held the
    event loop for about ten seconds."""
    count = 30_000
    calls = [{"type": "tool_use", "id": f"toolu_{n:06d}", "name": "Read", "input": {}} for n in range(count)]
    results = [{"type": "tool_result", "tool_use_id": f"toolu_{n:06d}", "content": f"r{n}"} for n in range(count)]
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": calls}]
    turns.append({"role": "user", "content": results[::-1]})  # answered in reverse order
    started = time.monotonic()
    response = httpx.post(f"{proxy.url}/v1/messages", json=_body(messages=turns), timeout=120)
    assert response.status_code == 200, response.text[:500]
    assert time.monotonic() - started < 5
    sent = upstream.last.json["messages"]
    assert [m["content"] for m in sent[2:5]] == ["r0", "r1", "r2"]


def test_thousands_of_tool_calls_sharing_one_id_take_linear_time(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    """Repeated ids get suffixes (_2, _3, ...); each repeat tried every suffix from _2 up: 10,000
    calls with one id held the event loop for about 15 s."""
    count = 10_000
    calls = [{"type": "tool_use", "id": "toolu_same", "name": "Read", "input": {}} for _ in range(count)]
    results = [{"type": "tool_result", "tool_use_id": "toolu_same", "content": f"r{n}"} for n in range(count)]
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": calls}]
    turns.append({"role": "user", "content": results})
    started = time.monotonic()
    response = httpx.post(f"{proxy.url}/v1/messages", json=_body(messages=turns), timeout=120)
    assert response.status_code == 200, response.text[:500]
    assert time.monotonic() - started < 5
    sent = upstream.last.json["messages"]
    ids = [call["id"] for call in sent[1]["tool_calls"]]
    assert len(set(ids)) == count and ids[:3] == ["toolu_same", "toolu_same_2", "toolu_same_3"]
    assert [(m["tool_call_id"], m["content"]) for m in sent[2:4]] == [("toolu_same", "r0"), ("toolu_same_2", "r1")]


def test_thousands_of_system_messages_in_a_row_fold_in_linear_time(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream
) -> None:
    """Local models get mid-conversation system text folded into the user turn before it; each system
    message copied the whole turn again: 40,000 of them (5 MB) held the event loop for about 7 s."""
    proxy = start_proxy(provider_kind="ollama")
    count = 40_000
    pad = "x" * 100
    turns = [{"role": "user", "content": "hi"}, *({"role": "system", "content": f"s{n}{pad}"} for n in range(count))]
    started = time.monotonic()
    response = httpx.post(f"{proxy.url}/v1/messages", json=_body(model="qwen3", messages=turns), timeout=120)
    assert response.status_code == 200, response.text[:500]
    assert time.monotonic() - started < 5
    [user] = [m for m in upstream.last.json["messages"] if m["role"] == "user"]
    assert user["content"].startswith(f"hi\n\n<system>\ns0{pad}\n</system>\n\n<system>\ns1{pad}\n</system>")
    assert user["content"].endswith(f"<system>\ns{count - 1}{pad}\n</system>")


def test_a_value_echoed_in_a_validation_error_is_cut_and_cannot_forge_log_lines(
    proxy: ProxyServer, caplog: pytest.LogCaptureFixture
) -> None:
    """msgspec repeats a wrong enum value in its message: a 1 MB role came back as a 1 MB error (and
    log line), and a line break in it wrote a forged line into the log."""
    caplog.set_level(logging.WARNING, logger="provider_proxy.request")
    role = "x" * 1_000_000 + "\n2026-01-01 00:00:00 INFO provider_proxy.request: req_forged"
    body = _body(messages=[{"role": role, "content": "hi"}])
    error = _assert_invalid(httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=20), "messages.0.role: ")
    assert len(error["message"]) < 400
    deadline = time.monotonic() + 5
    while not (lines := [r.getMessage() for r in caplog.records if "failed: invalid_request_error" in r.getMessage()]):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert "\n" not in lines[0] and len(lines[0]) < 1200


def test_a_translation_note_naming_a_client_string_cannot_forge_log_lines(
    proxy: ProxyServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="provider_proxy.request")
    tool = {"type": "web_search_20250305\nINFO provider_proxy.request: req_forged", "name": "web_search"}
    response = httpx.post(f"{proxy.url}/v1/messages", json=_body(tools=[tool]), timeout=20)
    assert response.status_code == 200, response.text
    notes = [r.getMessage() for r in caplog.records if "left out server tool" in r.getMessage()]
    assert notes and all("\n" not in note for note in notes)
