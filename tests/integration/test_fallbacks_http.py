"""Fallbacks over real HTTP: a failing target hands the request to the next before anything reached the
client, within one deadline; a target that keeps failing is skipped for a cool-down; every attempt is
in the usage record."""

from __future__ import annotations

import re
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply, completion, sse
from tests.support.proxy_server import ProxyServer

BODY: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def backup() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def config(tmp_path: Path, backup_url: str, extra: str = "") -> Path:
    path = tmp_path / "proxy.toml"
    path.write_text(
        f'[providers.backup]\nbase_url = "{backup_url}"\napi_key = "sk-backup-key-0123456789"\n\n'
        '[fallbacks]\n"default/big-model" = ["backup/backup-model"]\n' + extra
    )
    return path


def post(proxy: ProxyServer, body: dict[str, Any] = BODY, timeout: float = 20) -> httpx.Response:
    return httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=timeout)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "failure",
    [
        Reply(status=429, json={"error": {"message": "slow down"}}, headers={"retry-after": "1"}),
        Reply(status=500, json={"error": {"message": "boom"}}),
        Reply(status=503, json={"error": {"message": "unavailable"}}),
        Reply(status=529, json={"error": {"type": "overloaded_error", "message": "Overloaded"}}),
        Reply(status=400, json={"error": {"message": "The model is overloaded, try again later"}}),
        Reply(json={"error": {"message": "Provider returned error", "code": 502}}),
    ],
    ids=["429-retry-after", "500", "503", "529", "overloaded-400", "200-with-error-body"],
)
def test_a_failing_target_falls_back_to_the_next(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    backup: FakeUpstream,
    tmp_path: Path,
    failure: Reply,
) -> None:
    upstream.queue(failure)
    backup.queue(Reply(json=completion("from the backup")))
    proxy = start_proxy(config_file=config(tmp_path, backup.url))
    answer = post(proxy)
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "from the backup"
    assert backup.last.json["model"] == "backup-model"
    assert backup.last.headers["Authorization"] == "Bearer sk-backup-key-0123456789"


def test_a_refused_connection_falls_back(
    start_proxy: Callable[..., ProxyServer], backup: FakeUpstream, tmp_path: Path
) -> None:
    backup.queue(Reply(json=completion("from the backup")))
    proxy = start_proxy(
        openai_base_url=f"http://127.0.0.1:{closed_port()}/v1", config_file=config(tmp_path, backup.url)
    )
    assert post(proxy).json()["content"][0]["text"] == "from the backup"


def test_a_stalled_target_falls_back_within_the_deadline(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    upstream.queue(Reply(json=completion("too late"), delay=3))
    backup.queue(Reply(json=completion("from the backup")))
    proxy = start_proxy(request_timeout=0.5, config_file=config(tmp_path, backup.url))
    started = time.monotonic()
    assert post(proxy).json()["content"][0]["text"] == "from the backup"
    assert time.monotonic() - started < 2.5


def test_a_stream_falls_back_before_its_first_byte(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    upstream.queue(Reply(status=503, json={"error": {"message": "down"}}))
    chunk = {"choices": [{"index": 0, "delta": {"content": "streamed backup"}, "finish_reason": "stop"}]}
    backup.queue(Reply(stream=sse(chunk)))
    proxy = start_proxy(config_file=config(tmp_path, backup.url))
    with httpx.stream("POST", f"{proxy.url}/v1/messages", json={**BODY, "stream": True}, timeout=20) as answer:
        text = answer.read().decode()
    assert answer.status_code == 200
    assert "streamed backup" in text and "message_stop" in text


def test_a_bad_request_does_not_fall_back(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    upstream.queue(Reply(status=400, json={"error": {"message": "messages: invalid"}}))
    proxy = start_proxy(config_file=config(tmp_path, backup.url))
    answer = post(proxy)
    assert answer.status_code == 400
    assert backup.requests == []


def test_when_every_target_fails_the_last_error_names_every_attempt(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    upstream.queue(Reply(status=500, json={"error": {"message": "first is down"}}))
    backup.queue(Reply(status=503, json={"error": {"message": "second is down"}}))
    proxy = start_proxy(config_file=config(tmp_path, backup.url))
    answer = post(proxy)
    assert answer.status_code == 529
    error = answer.json()["error"]
    assert error["type"] == "overloaded_error"
    assert "second is down" in error["message"]
    assert "default/big-model: api_error (500)" in error["message"]
    assert "backup/backup-model: overloaded_error (529)" in error["message"]


def test_retries_and_fallbacks_share_one_deadline(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    upstream.script = lambda _: Reply(json=completion("slow"), delay=5)
    backup.script = lambda _: Reply(json=completion("slow too"), delay=5)
    proxy = start_proxy(total_timeout=1.0, max_retries=3, config_file=config(tmp_path, backup.url))
    started = time.monotonic()
    answer = post(proxy)
    elapsed = time.monotonic() - started
    assert answer.status_code == 504
    assert "TOTAL_TIMEOUT" in answer.json()["error"]["message"]
    assert elapsed < 2.0


def test_a_target_that_keeps_failing_is_skipped_then_probed_again(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    upstream.script = lambda _: Reply(status=503, json={"error": {"message": "down"}})
    backup.script = lambda _: Reply(json=completion("backup"))
    proxy = start_proxy(breaker_failures=2, breaker_cooldown=0.5, config_file=config(tmp_path, backup.url))
    for _ in range(2):
        assert post(proxy).status_code == 200
    assert len(upstream.requests) == 2
    for _ in range(3):  # open: straight to the backup
        assert post(proxy).status_code == 200
    assert len(upstream.requests) == 2
    time.sleep(0.6)
    upstream.script = lambda _: Reply(json=completion("primary again"))
    assert post(proxy).json()["content"][0]["text"] == "primary again"  # the half-open probe succeeds
    assert post(proxy).json()["content"][0]["text"] == "primary again"  # and the breaker is closed
    assert len(upstream.requests) == 4


def test_every_attempt_is_in_the_usage_record(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    upstream.queue(Reply(status=429, json={"error": {"message": "slow down"}}))
    backup.queue(Reply(json=completion("ok")))
    proxy = start_proxy(config_file=config(tmp_path, backup.url), data_dir=tmp_path / "data")
    assert post(proxy).status_code == 200
    proxy.stop()

    rows = sqlite3.connect(tmp_path / "data" / "usage.db").execute(
        "SELECT route, provider, upstream_model, attempts FROM usage_records"
    )
    assert list(rows) == [
        (
            "backup/backup-model",
            "backup",
            "backup-model",
            "default/big-model: rate_limit_error (429); backup/backup-model: answered",
        )
    ]


@pytest.mark.parametrize(
    "first",
    [
        sse({"error": {"message": "Provider returned error", "code": 502}, "choices": []}, done=False),
        sse(b'event: error\ndata: {"error": {"message": "overloaded"}}\n\n', done=False),
        [],
    ],
    ids=["error-object", "error-event", "closed-at-once"],
)
def test_a_stream_that_fails_in_its_first_read_falls_back(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    backup: FakeUpstream,
    tmp_path: Path,
    first: list[bytes | float],
) -> None:
    upstream.queue(Reply(stream=first))
    chunk = {"choices": [{"index": 0, "delta": {"content": "streamed backup"}, "finish_reason": "stop"}]}
    backup.queue(Reply(stream=sse(chunk)))
    proxy = start_proxy(config_file=config(tmp_path, backup.url))
    with httpx.stream("POST", f"{proxy.url}/v1/messages", json={**BODY, "stream": True}, timeout=20) as answer:
        text = answer.read().decode()
    assert "streamed backup" in text and "event: error" not in text


LONG: dict[str, Any] = {**BODY, "messages": [{"role": "user", "content": "word " * 4000}]}


def test_a_prompt_too_long_for_the_first_target_goes_to_a_fallback_with_room(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    backup.queue(Reply(json=completion("the big window took it")))
    extra = '[models."big-model"]\ncontext_window = 2000\n[models."backup-model"]\ncontext_window = 100000\n'
    proxy = start_proxy(config_file=config(tmp_path, backup.url, extra))
    answer = post(proxy, LONG)
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "the big window took it"
    assert upstream.requests == []  # refused here, before the small model was called


def test_a_prompt_too_long_for_every_target_names_the_largest_window_in_anthropics_words(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    extra = '[models."big-model"]\ncontext_window = 2000\n[models."backup-model"]\ncontext_window = 3000\n'
    proxy = start_proxy(config_file=config(tmp_path, backup.url, extra))
    answer = post(proxy, LONG)
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert re.fullmatch(r"prompt is too long: \d+ tokens > \d+ maximum", message), message
    assert int(message.split()[-2]) > 2000 - 100  # the backup's room, not the primary's
    assert upstream.requests == [] and backup.requests == []


def test_tools_for_a_model_without_tool_calling_go_to_a_fallback_that_has_it(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, backup: FakeUpstream, tmp_path: Path
) -> None:
    backup.queue(Reply(json=completion("called by the tool model")))
    extra = '[models."big-model"]\ntool_calling = false\n'
    proxy = start_proxy(config_file=config(tmp_path, backup.url, extra))
    with_tools = {**BODY, "tools": [{"name": "Read", "input_schema": {"type": "object"}}]}
    assert post(proxy, with_tools).json()["content"][0]["text"] == "called by the tool model"
    assert upstream.requests == []
