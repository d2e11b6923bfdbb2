"""A proxy process killed with SIGKILL loses no usage record: what it had answered (even while its
store was down) and the stream it was serving are in the store once it runs again, exactly once,
also when its journal is shipped a second time. Real processes, real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import psycopg
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply, sse
from tests.support.postgres import PostgresServer, postgres_server
from tests.support.proxy_server import ProxyProcess

PLAIN = {"model": "claude-sonnet-4-6", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}
STREAM = {**PLAIN, "stream": True}
SLOW = {"choices": [{"index": 0, "delta": {"content": "slow"}, "finish_reason": None}]}
LAST = {"choices": [{"index": 0, "delta": {"content": " end"}, "finish_reason": "stop"}]}
_ROWS = "SELECT request_id, status, error_type, stream, model, key_name FROM usage_records"


class Store(Protocol):
    env: dict[str, str]

    def rows(self) -> list[tuple[Any, ...]]: ...

    def down(self) -> None: ...

    def up(self) -> None: ...


class SQLiteUnderTest:
    """The proxy's SQLite file; `down` holds its write lock, so the proxy's inserts wait."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "usage.db"
        self.env: dict[str, str] = {}
        self._holder: sqlite3.Connection | None = None

    def rows(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path, timeout=30) as conn:
            return conn.execute(_ROWS).fetchall()

    def down(self) -> None:
        self._holder = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._holder.execute("BEGIN EXCLUSIVE")

    def up(self) -> None:
        assert self._holder is not None
        self._holder.execute("COMMIT")
        self._holder.close()


class PostgresUnderTest:
    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.url = server.create_database()
        self.env = {"USAGE_DATABASE_URL": self.url}

    def rows(self) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(_ROWS).fetchall()

    def down(self) -> None:
        self.server.stop()

    def up(self) -> None:
        self.server.start_again()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        yield SQLiteUnderTest(tmp_path / "data")
        return
    with postgres_server() as server:  # its own server: this test stops it
        yield PostgresUnderTest(server)


@pytest.fixture
def proxy(store: Store, upstream: FakeUpstream, tmp_path: Path) -> Iterator[ProxyProcess]:
    env = {
        "OPENAI_BASE_URL": upstream.url,
        "OPENAI_API_KEY": "sk-journal-test-0123456789",
        "BIG_MODEL": "big-model",
        "DATA_DIR": str(tmp_path / "data"),
        **store.env,
    }
    process = ProxyProcess(env, tmp_path / "proxy.log")
    yield process
    if process.process is not None and process.process.poll() is None:
        process.kill()


def answer(proxy: ProxyProcess) -> str:
    response = httpx.post(f"{proxy.url}/v1/messages", json=PLAIN, timeout=20)
    assert response.status_code == 200, response.text
    return response.headers["request-id"]


def wait_for(condition: Any, what: str, proxy: ProxyProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s; the proxy's log:\n{proxy.output()}")
        time.sleep(0.1)


def test_a_killed_proxy_leaves_every_answer_and_an_interrupted_stream_in_the_store_exactly_once(
    store: Store, proxy: ProxyProcess, upstream: FakeUpstream, tmp_path: Path
) -> None:
    journal = tmp_path / "data" / "usage-journal"
    proxy.start()
    answered = [answer(proxy) for _ in range(5)]
    wait_for(lambda: len(store.rows()) == 5, "the first answers were not stored", proxy)
    store.down()
    answered += [answer(proxy) for _ in range(10)]  # journalled, not stored: the store is away
    upstream.queue(Reply(stream=sse(SLOW, 60.0, LAST)))
    with httpx.Client(timeout=20) as client, client.stream("POST", f"{proxy.url}/v1/messages", json=STREAM) as stream:
        interrupted = stream.headers["request-id"]
        chunks = stream.iter_text()  # kept: a generator dropped after `break` would close the connection
        for chunk in chunks:
            if "slow" in chunk:
                break
        proxy.kill()  # mid-stream, with ten answers not yet in the store
    shutil.copytree(journal, tmp_path / "journal-at-kill")
    store.up()

    proxy.start()
    wait_for(lambda: len(store.rows()) == 16, "the journal was not shipped", proxy)
    rows = {row[0]: row for row in store.rows()}
    assert sorted(rows) == sorted([*answered, interrupted])
    assert all(rows[request_id][1:4] == (200, None, False) for request_id in answered)
    assert rows[interrupted][1:] == (200, "interrupted", True, "claude-sonnet-4-6", None)
    wait_for(lambda: not list(journal.glob("*.jsonl")), "the shipped journal was not removed", proxy)

    # Shipped again (as after a crash between the commit and the removal): nothing is counted twice.
    assert proxy.stop() == 0
    for path in (tmp_path / "journal-at-kill").iterdir():
        shutil.copy(path, journal / path.name)
    proxy.start()
    wait_for(lambda: not list(journal.glob("*.jsonl")), "the journal was not shipped again", proxy)
    assert sorted(row[0] for row in store.rows()) == sorted([*answered, interrupted])
    assert "11 record(s) written, 1 of them interrupted streams" in proxy.output()
    # Log lines reach stderr in batches, up to ~20 ms after the journal's files are gone.
    shipped_again = "0 record(s) written, 0 of them interrupted streams"
    wait_for(lambda: shipped_again in proxy.output(), "shipping it again was not logged", proxy)
    assert proxy.stop() == 0
