"""Usage store fixtures: every store test runs against SQLite and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from provider_proxy.services.usage.postgres_store import PostgresStore
from provider_proxy.services.usage.sqlite_store import SQLiteStore
from provider_proxy.services.usage.store import UsageStore
from tests.support.postgres import PostgresServer, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    return postgres.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> UsageStore:
    """An unopened store of each kind, on an empty database."""
    if request.param == "sqlite":
        return SQLiteStore(tmp_path / "data" / "usage.db")
    return PostgresStore(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(new_store: UsageStore) -> AsyncIterator[UsageStore]:
    await new_store.open()
    yield new_store
    await new_store.close()
