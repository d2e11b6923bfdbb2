"""The usage store interface and the factory that picks SQLite or PostgreSQL from the settings.

Queries are written once, with `?` placeholders and SQL that both databases accept; the
PostgreSQL store converts the placeholders. Every method is async; blocking drivers run in a thread.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from provider_proxy.config.settings import ConfigError, Settings
from provider_proxy.services.usage.record import RequestRecord

DB_FILE = "usage.db"


class UsageStore(Protocol):
    @property
    def description(self) -> str:
        """Where the records live, with no password in it."""
        ...

    async def open(self) -> None:
        """Connect and bring the schema up to date."""
        ...

    async def insert(self, records: Sequence[RequestRecord]) -> None: ...

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def close(self) -> None: ...


def default_data_dir() -> Path:
    """The per-user data directory: `$XDG_DATA_HOME/provider-proxy` or `~/.local/share/provider-proxy`."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "provider-proxy"


def store_from_settings(settings: Settings) -> UsageStore:
    """The configured store, not yet opened: PostgreSQL when USAGE_DATABASE_URL is set, else SQLite."""
    if settings.usage_database_url is not None:
        url = settings.usage_database_url.get_secret_value()
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("USAGE_DATABASE_URL: must be a postgresql:// URL (e.g. postgresql://user@host/db)")
        from provider_proxy.services.usage.postgres_store import PostgresStore

        return PostgresStore(url)
    from provider_proxy.services.usage.sqlite_store import SQLiteStore

    return SQLiteStore((settings.data_dir or default_data_dir()) / DB_FILE)
