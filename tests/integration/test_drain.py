"""Stopping behind a load balancer: on SIGTERM the proxy says "not ready" while it keeps serving for
DRAIN_SECONDS, lets a stream in flight finish, writes its usage and last log lines, and exits 0."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply, sse

STREAM = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 20,
    "stream": True,
    "messages": [{"role": "user", "content": "Hi"}],
}
PLAIN = {**STREAM, "stream": False}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_serving(upstream: FakeUpstream, tmp_path: Path, **extra: str) -> tuple[subprocess.Popen[str], str]:
    """`provider-proxy serve` in a process of its own; returns once it is ready (or has exited)."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("OPENAI_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"))
    }
    env |= {
        "OPENAI_BASE_URL": upstream.url,
        "OPENAI_API_KEY": "sk-drain-test-0123456789",
        "BIG_MODEL": "big-model",
        "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"),
        "DRAIN_SECONDS": "1.5",
        "LOG_LEVEL": "INFO",
    } | extra
    process = subprocess.Popen(
        [sys.executable, "-m", "provider_proxy", "serve", "--env-file", str(tmp_path / "none.env")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url


@pytest.fixture
def serve(upstream: FakeUpstream, tmp_path: Path):  # type: ignore[no-untyped-def]
    process, url = start_serving(upstream, tmp_path)
    yield process, url
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_sigterm_drains_then_stops_cleanly(serve, upstream: FakeUpstream) -> None:  # type: ignore[no-untyped-def]
    process, url = serve
    chunk = {"choices": [{"index": 0, "delta": {"content": "slow"}, "finish_reason": None}]}
    last = {"choices": [{"index": 0, "delta": {"content": " and done"}, "finish_reason": "stop"}]}
    upstream.queue(Reply(stream=sse(chunk, 2.5, last)))
    streamed: list[str] = []

    def stream() -> None:
        with httpx.stream("POST", f"{url}/v1/messages", json=STREAM, timeout=20) as response:
            streamed.append(response.read().decode())

    client = threading.Thread(target=stream)
    client.start()
    upstream.wait_for_requests(1)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert httpx.get(f"{url}/ready", timeout=5).status_code == 503  # the balancer takes us out...
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200  # ...while we are alive
    assert httpx.post(f"{url}/v1/messages", json=PLAIN, timeout=5).status_code == 200  # and still serve
    client.join(20)
    assert "slow" in streamed[0] and "and done" in streamed[0] and "message_stop" in streamed[0]
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    # The last lines of the log were written (the logging thread was flushed at exit).
    assert "Finished server process" in output or "Application shutdown complete" in output
    assert output.count("POST /v1/messages") == 2


def test_sigterm_drains_every_worker_then_exits_zero(upstream: FakeUpstream, tmp_path: Path) -> None:
    """With WORKERS=2, uvicorn's supervisor stopped its workers at once on SIGTERM: no drain period,
    idle keep-alive connections closed under a balancer's feet, /ready never said 503."""
    process, url = start_serving(upstream, tmp_path, WORKERS="2")
    try:
        chunk = {"choices": [{"index": 0, "delta": {"content": "slow"}, "finish_reason": None}]}
        last = {"choices": [{"index": 0, "delta": {"content": " and done"}, "finish_reason": "stop"}]}
        upstream.queue(Reply(stream=sse(chunk, 2.5, last)))
        with httpx.stream("POST", f"{url}/v1/messages", json=STREAM, timeout=20) as response:
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            # Both workers drain: every /ready answer is 503, every request is still served.
            assert {httpx.get(f"{url}/ready", timeout=5).status_code for _ in range(6)} == {503}
            assert httpx.post(f"{url}/v1/messages", json=PLAIN, timeout=5).status_code == 200
            assert "message_stop" in response.read().decode()
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert output.count("draining: /ready answers 503") == 2, output
    assert output.count("Finished server process") == 2, output  # the workers' last log lines too


def test_a_worker_that_cannot_start_stops_the_others_with_exit_code_1(upstream: FakeUpstream, tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: the usage store cannot open
    process, _ = start_serving(
        upstream, tmp_path, WORKERS="2", USAGE_DATABASE_URL=f"postgresql://nobody@127.0.0.1:{closed}/usage"
    )
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, output
    assert "as it started; stopping" in output


def worker_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_a_killed_worker_is_replaced_and_the_others_keep_serving(upstream: FakeUpstream, tmp_path: Path) -> None:
    process, url = start_serving(upstream, tmp_path, WORKERS="2", DRAIN_SECONDS="0")
    try:
        first, second = worker_pids(process.pid)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(replaced := worker_pids(process.pid)) < 2 or first in replaced:
            assert time.monotonic() < deadline and process.poll() is None, "no worker took the killed one's place"
            time.sleep(0.1)
        assert second in replaced
        assert all(httpx.post(f"{url}/v1/messages", json=PLAIN, timeout=10).status_code == 200 for _ in range(4))
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert "died (exit code -9); starting another" in output
    assert process.returncode == 0, output


def test_workers_stop_by_themselves_when_their_supervisor_is_killed(upstream: FakeUpstream, tmp_path: Path) -> None:
    process, _ = start_serving(upstream, tmp_path, WORKERS="2", DRAIN_SECONDS="0")
    workers = worker_pids(process.pid)
    process.kill()
    try:
        # The workers share the supervisor's output: it ends once the last of them has exited.
        output, _ = process.communicate(timeout=20)
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.communicate()
    assert output.count("is gone; stopping this worker") == 2, output
