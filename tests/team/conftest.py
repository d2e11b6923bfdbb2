"""Fixtures for the team tests: one PostgreSQL and one Redis per module (each test gets a new
database), the fake upstream answering the mixed load, and a `team` factory that stops what it started."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.postgres import PostgresServer, postgres_server
from tests.support.redis_server import RedisServer, start_redis
from tests.support.replicas import Team, mixed_script, start_team, stop_team


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def team(
    upstream: FakeUpstream, postgres: PostgresServer, redis: RedisServer, tmp_path: Path
) -> Iterator[Callable[..., Team]]:
    upstream.script = mixed_script
    teams: list[Team] = []

    def start(**options: Any) -> Team:
        started = start_team(tmp_path, upstream, postgres, redis, **options)
        teams.append(started)
        return started

    yield start
    for started in teams:
        stop_team(started)
