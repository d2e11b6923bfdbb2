"""A team deployment in miniature for the tests: proxy replicas as real processes behind a real HAProxy.

`Team` starts, with real components (Debian `postgresql`, `redis-server`, `haproxy`; installed by the
test setup in CI, else the test skips with how to get them):
- a fake OpenAI-compatible upstream in this process (`mixed_script`: streams and plain answers, some
  slow, chosen by the request itself),
- one PostgreSQL database for usage (USAGE_DATABASE_URL), one Redis for limits (REDIS_URL), one keys
  file (KEYS_FILE) shared by every replica,
- replicas started with `python -m provider_proxy serve`, each with its own DATA_DIR and port,
- HAProxy with `deploy/haproxy.cfg` rendered for those ports (tests.support.haproxy).
Each replica's output goes to a file beside its data, shown when an assertion about it fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from provider_proxy.cli.keys import create_key
from tests.support.fake_upstream import FakeUpstream, Recorded, Reply, completion, sse
from tests.support.haproxy import HAProxy, free_port
from tests.support.postgres import PostgresServer
from tests.support.redis_server import RedisServer

UPSTREAM_KEY = "sk-team-upstream-0123456789"


@dataclass
class Replica:
    name: str
    directory: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / f"{self.name}.{self.starts}.log"

    def start(self) -> Replica:
        """Start (or start again, on the same port and DATA_DIR); returns once `/ready` says 200."""
        self.starts += 1
        env = {**self.env, "PORT": str(self.port), "DATA_DIR": str(self.directory / "data")}
        command = [sys.executable, "-m", "provider_proxy", "serve", "--env-file", str(self.directory / "none.env")]
        with self.log.open("wb") as log:
            # A session of its own: `stop` ends the workers of a WORKERS > 1 replica with it.
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"replica {self.name} did not become ready:\n{self.output()}")
            time.sleep(0.1)

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@dataclass
class Team:
    directory: Path
    upstream: FakeUpstream
    postgres: PostgresServer
    redis: RedisServer
    database_url: str
    keys_file: Path
    replicas: list[Replica]
    balancer: HAProxy
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.balancer.url

    def usage_rows(self) -> Counter[str]:
        """How many usage rows each request id has."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute("SELECT request_id, count(*) FROM usage_records GROUP BY request_id").fetchall()
        return Counter({request_id: count for request_id, count in rows})

    def error_types(self) -> dict[str, str | None]:
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute("SELECT request_id, error_type FROM usage_records").fetchall()
        return dict(rows)

    def wait_for_rows(self, request_ids: set[str], timeout: float = 20) -> Counter[str]:
        """The rows once every id in `request_ids` has one (or `timeout` passed): the writers retry."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.usage_rows()
            if request_ids <= rows.keys() or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)

    def outputs(self) -> str:
        logs = sorted(self.directory.glob("*/*.log"))
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}" for log in logs)


def replica_env(upstream: FakeUpstream, database_url: str, redis_url: str, keys_file: Path) -> dict[str, str]:
    """What every replica shares: the provider, the usage database, Redis, the keys file."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("OPENAI_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"))
    }
    return env | {
        "HOST": "127.0.0.1",
        "OPENAI_BASE_URL": upstream.url,
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "BIG_MODEL": "big-model",
        "SMALL_MODEL": "small-model",
        "USAGE_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "KEYS_FILE": str(keys_file),
        "LOG_LEVEL": "INFO",
        "MAX_RETRIES": "0",
    }


def start_team(
    directory: Path,
    upstream: FakeUpstream,
    postgres: PostgresServer,
    redis: RedisServer,
    *,
    replica_settings: list[dict[str, str]],
    keys: dict[str, dict[str, object]],
    inter: str | None = None,
) -> Team:
    """Replicas (one per entry of `replica_settings`, each with those extra settings) behind HAProxy."""
    database_url = postgres.create_database()
    keys_file = directory / "keys.json"
    created = {name: create_key(keys_file, name, frozenset(), **limits) for name, limits in keys.items()}
    env = replica_env(upstream, database_url, redis.url, keys_file)
    replicas = []
    for number, extra in enumerate(replica_settings, start=1):
        (directory / f"r{number}").mkdir()
        replicas.append(Replica(f"r{number}", directory / f"r{number}", env | extra).start())
    for replica in replicas:
        replica.wait_ready()
    balancer = HAProxy(directory, {replica.name: replica.port for replica in replicas}, inter=inter).start()
    for replica in replicas:
        balancer.wait_for(replica.name, "UP")
    return Team(directory, upstream, postgres, redis, database_url, keys_file, replicas, balancer, created)


def stop_team(team: Team) -> None:
    team.balancer.stop()
    for replica in team.replicas:
        replica.stop()


def _chunk(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def mixed_script(recorded: Recorded) -> Reply:
    """The fake upstream's answer, read from the request's last message: `stream <pieces> <pause>` or
    `plain <delay>`; usage in every answer, so each usage row has its tokens."""
    words = str(recorded.json["messages"][-1]["content"]).split()
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    if words[0] == "plain":
        return Reply(json=completion("plain answer", usage=usage), delay=float(words[1]))
    pieces, pause = int(words[1]), float(words[2])
    chunks: list[object] = []
    for number in range(pieces):
        chunks += [_chunk(f"piece {number} "), pause]
    last = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    return Reply(stream=sse(*chunks, last, {"choices": [], "usage": usage}))
