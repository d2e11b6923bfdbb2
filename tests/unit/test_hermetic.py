"""The suite is hermetic: it never writes to the developer's usage store, and would notice if it did."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from provider_proxy.config.settings import load_settings
from provider_proxy.services.usage.store import store_from_settings
from tests.support import hermetic
from tests.support.usage_data import record


def _write_one(database: Path) -> None:
    async def write() -> None:
        store = store_from_settings(load_settings(env_file=None, data_dir=database.parent))
        await store.open()
        await store.insert([record()])
        await store.close()

    asyncio.run(write())


def test_the_guard_watches_every_store_a_proxy_outside_the_tests_could_write_to(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path / "h"), "XDG_DATA_HOME": str(tmp_path / "x"), "DATA_DIR": str(tmp_path / "d")}
    watched = hermetic.developer_stores(environ)
    assert tmp_path / "h" / ".local" / "share" / "provider-proxy" / "usage.db" in watched
    assert tmp_path / "x" / "provider-proxy" / "usage.db" in watched
    assert tmp_path / "d" / "usage.db" in watched
    assert Path(os.path.expanduser("~")) != tmp_path / "h"  # the account's home is watched as well
    assert len(watched) == 4


def test_the_guard_notices_a_record_written_to_a_watched_store(tmp_path: Path) -> None:
    database = tmp_path / "d" / "usage.db"
    watched = hermetic.developer_stores({"DATA_DIR": str(database.parent)})
    before = hermetic.snapshot(watched)
    assert hermetic.changes(before, hermetic.snapshot(watched)) == []
    _write_one(database)
    assert str(database) in hermetic.changes(before, hermetic.snapshot(watched))
    assert hermetic.written_since(database, since=0).endswith(": 1 x claude-sonnet-4-6")


def test_tests_run_with_their_own_home_and_no_data_dir_of_the_developer(tmp_path: Path) -> None:
    assert Path.home() == tmp_path / "home"
    assert "XDG_DATA_HOME" not in os.environ and "DATA_DIR" not in os.environ
    store = store_from_settings(load_settings(env_file=None))
    assert str(getattr(store, "path", "")).startswith(str(tmp_path))
