"""Stopping: on SIGTERM the proxy says "not ready" while it keeps serving for DRAIN_SECONDS (behind a load
balancer), then accepts no connection, lets the streams in flight finish within SHUTDOWN_GRACE (one that
outlasts it ends with an error clients retry), writes every usage row and its last log lines, and exits 0.
Each test runs `provider-proxy serve` in its own process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from provider_proxy.services.usage.store import DB_FILE
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


Served = tuple[subprocess.Popen[str], str]


def launch(upstream: FakeUpstream, data_dir: Path, **settings: str) -> Served:
    """`provider-proxy serve` in its own process, ready; its environment holds only what the test gives."""
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
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "INFO",
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "provider_proxy", "serve", "--env-file", str(data_dir / "none.env")],
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
def served(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    processes: list[subprocess.Popen[str]] = []

    def start(**settings: str) -> Served:
        process, url = launch(upstream, tmp_path / "data", **settings)
        processes.append(process)
        return process, url

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.fixture
def serve(served: Callable[..., Served]) -> Served:
    return served(DRAIN_SECONDS="1.5")


def test_sigterm_drains_then_stops_cleanly(serve: Served, upstream: FakeUpstream) -> None:
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


def chunk(content: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}


USAGE = {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}}


class StreamClient(threading.Thread):
    """One streaming request: its request id, when its first event came, everything it received."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.started = threading.Event()
        self.request_id = ""
        self.received = b""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.stream("POST", f"{self.url}/v1/messages", json=STREAM, timeout=30) as response:
                self.request_id = response.headers["request-id"]
                for piece in response.iter_bytes():
                    self.received += piece
                    self.started.set()
        except BaseException as exc:  # the test reads it
            self.error = exc
            self.started.set()


def refused(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def usage_rows(data_dir: Path) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(data_dir / DB_FILE) as db:
        rows = db.execute("SELECT request_id, status, stream, output_tokens, error_type FROM usage_records")
        return {row[0]: row[1:] for row in rows}


def test_sigterm_refuses_new_connections_lets_every_stream_finish_and_loses_no_usage_row(
    served: Callable[..., Served], upstream: FakeUpstream, tmp_path: Path
) -> None:
    process, url = served(SHUTDOWN_GRACE="30")
    upstream.script = lambda _: Reply(stream=sse(chunk("slow"), 2.0, chunk(" and done", "stop"), USAGE))
    clients = [StreamClient(url) for _ in range(4)]
    for client in clients:
        client.start()
    for client in clients:
        assert client.started.wait(10) and client.error is None, client.error
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 1.5
    while not refused(url):
        assert time.monotonic() < deadline, "the proxy still accepts connections after SIGTERM"
        time.sleep(0.05)
    assert all(client.is_alive() for client in clients), "a stream ended before its upstream did"
    for client in clients:
        client.join(20)
        assert client.error is None, client.error
        assert b"slow" in client.received and b"and done" in client.received
        assert client.received.rstrip().endswith(b'data: {"type":"message_stop"}')
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    rows = usage_rows(tmp_path / "data")
    assert {client.request_id for client in clients} <= rows.keys(), output
    assert all(rows[client.request_id] == (200, 1, 34, None) for client in clients)


def test_a_stream_longer_than_the_grace_period_is_ended_and_still_recorded(
    served: Callable[..., Served], upstream: FakeUpstream, tmp_path: Path
) -> None:
    process, url = served(SHUTDOWN_GRACE="1")
    upstream.queue(Reply(stream=sse(chunk("slow"), 60.0, chunk("never", "stop"))))
    client = StreamClient(url)
    client.start()
    assert client.started.wait(10) and client.error is None, client.error
    process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    output, _ = process.communicate(timeout=30)
    assert time.monotonic() - stopped < 5
    assert process.returncode == 0, output
    assert "Traceback" not in output  # the cut stream ended as a response, not as an exception
    client.join(10)
    assert b"slow" in client.received and b"never" not in client.received
    # The client learns why, with an error its SDK retries; the usage row says so too.
    last = client.received.rstrip().rsplit(b"\n\n", 1)[-1]
    assert last.startswith(b"event: error\n") and b"overloaded_error" in last and b"SHUTDOWN_GRACE" in last
    assert usage_rows(tmp_path / "data")[client.request_id] == (200, 1, 0, "overloaded_error"), output


def test_sigterm_drains_every_worker_then_exits_zero(upstream: FakeUpstream, tmp_path: Path) -> None:
    """With WORKERS=2, uvicorn's supervisor stopped its workers at once on SIGTERM: no drain period,
    idle keep-alive connections closed under a balancer's feet, /ready never said 503."""
    process, url = launch(upstream, tmp_path / "data", WORKERS="2", DRAIN_SECONDS="1.5")
    wait_for_workers(tmp_path / "data", 2)
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
    process, _ = launch(
        upstream, tmp_path / "data", WORKERS="2", USAGE_DATABASE_URL=f"postgresql://nobody@127.0.0.1:{closed}/usage"
    )
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, output
    assert "as it started; stopping" in output


def wait_for_workers(data_dir: Path, count: int) -> None:
    """Until `count` workers have started their app: each holds a usage-journal lock from then on
    (a worker still starting when the test signals would have nothing to drain)."""
    deadline = time.monotonic() + 30
    while len(list((data_dir / "usage-journal").glob("*.lock"))) < count:
        assert time.monotonic() < deadline, "the workers did not all start"
        time.sleep(0.05)


def worker_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_a_killed_worker_is_replaced_and_the_others_keep_serving(upstream: FakeUpstream, tmp_path: Path) -> None:
    process, url = launch(upstream, tmp_path / "data", WORKERS="2", DRAIN_SECONDS="0")
    wait_for_workers(tmp_path / "data", 2)
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
    process, _ = launch(upstream, tmp_path / "data", WORKERS="2", DRAIN_SECONDS="0")
    wait_for_workers(tmp_path / "data", 2)
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
