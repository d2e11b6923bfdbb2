"""A PostgreSQL restart under load loses no usage record: failed batches are retried until the
database answers again, and every answered request has its row (real PostgreSQL, real HTTP)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import psycopg

from tests.support.fake_upstream import FakeUpstream
from tests.support.postgres import postgres_server
from tests.support.proxy_server import ProxyServer

BODY = {"model": "claude-sonnet-4-6", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}


def test_a_database_restart_mid_load_loses_no_usage_record(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream
) -> None:
    with postgres_server() as server:
        url = server.create_database()
        proxy = start_proxy(usage_database_url=url)
        answered: list[str] = []

        def load() -> None:
            with httpx.Client(timeout=20) as client:
                for _ in range(120):
                    response = client.post(f"{proxy.url}/v1/messages", json=BODY)
                    if response.status_code == 200:
                        answered.append(response.headers["request-id"])
                    time.sleep(0.01)

        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(0.3)
        server.stop()  # immediate: connections die mid-batch
        time.sleep(0.5)
        server.start_again()
        worker.join(60)
        proxy.stop()  # drains the queue, retrying while the database comes back
        with psycopg.connect(url) as conn:
            stored = {row[0] for row in conn.execute("SELECT request_id FROM usage_records")}
    assert len(answered) == 120
    assert set(answered) <= stored
