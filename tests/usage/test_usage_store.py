"""The usage stores: the same schema, migrations and queries on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from provider_proxy.config.settings import ConfigError, load_settings
from provider_proxy.services.usage.migrations import MIGRATIONS
from provider_proxy.services.usage.record import COLUMNS
from provider_proxy.services.usage.sqlite_store import SQLiteStore
from provider_proxy.services.usage.store import UsageStore, default_data_dir, store_from_settings
from tests.support.usage_data import from_row, record


async def test_opening_a_new_store_applies_every_migration_once(new_store: UsageStore) -> None:
    await new_store.open()
    await new_store.close()
    await new_store.open()  # a restart finds the schema current and changes nothing
    versions = await new_store.select("SELECT version FROM schema_version ORDER BY version")
    await new_store.close()
    assert [row[0] for row in versions] == list(range(1, len(MIGRATIONS) + 1))


async def test_inserted_records_read_back_unchanged(store: UsageStore) -> None:
    records = [
        record(request_id="req_a", ts=1_780_000_000.125),
        record(request_id="req_b", stream=True, ttft_ms=87.5, key_name="default", cache_read_tokens=64),
        record(request_id="req_c", status=429, error_type="rate_limit_error", input_tokens=None, stop_reason=None),
    ]
    await store.insert(records)
    rows = await store.select(f"SELECT {', '.join(COLUMNS)} FROM usage_records ORDER BY request_id")
    assert [from_row(row) for row in rows] == records


async def test_queries_take_parameters_in_either_database(store: UsageStore) -> None:
    await store.insert([record(request_id=f"req_{n}", ts=1_780_000_000 + n) for n in range(5)])
    rows = await store.select(
        "SELECT COUNT(*) FROM usage_records WHERE ts_ms >= ? AND ts_ms < ?", (1_780_000_001_000, 1_780_000_003_000)
    )
    assert rows == [(2,)]


def test_sqlite_lives_in_the_per_user_data_dir_by_default(tmp_path: Path) -> None:
    store = store_from_settings(load_settings(env_file=None))
    assert isinstance(store, SQLiteStore)
    assert store.path == default_data_dir() / "usage.db"
    assert str(store.path).startswith(str(Path.home() / ".local" / "share" / "provider-proxy"))


async def test_the_data_dir_is_created_on_first_run(tmp_path: Path) -> None:
    store = store_from_settings(load_settings(env_file=None, data_dir=tmp_path / "new" / "dir"))
    await store.open()
    await store.close()
    assert (tmp_path / "new" / "dir" / "usage.db").is_file()


def test_a_database_url_that_is_not_postgresql_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="USAGE_DATABASE_URL"):
        store_from_settings(load_settings(env_file=None, usage_database_url="mysql://x@y/z"))
