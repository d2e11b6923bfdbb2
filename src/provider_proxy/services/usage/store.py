"""The usage store interface and the factory that picks SQLite or PostgreSQL from the settings.

Queries are written once, with `?` placeholders and SQL that both databases accept; the
PostgreSQL store converts the placeholders. Every method is async; blocking drivers run in a thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from provider_proxy.config.settings import ConfigError, Settings, default_data_dir
from provider_proxy.services.usage.record import RequestRecord

DB_FILE = "usage.db"
__all__ = ["DB_FILE", "UsageStore", "default_data_dir", "store_from_settings"]


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


def store_from_settings(settings: Settings) -> UsageStore:
    """The configured store, not yet opened: PostgreSQL when USAGE_DATABASE_URL is set, else SQLite."""
    if settings.usage_database_url is not None:
        url = settings.usage_database_url.get_secret_value()
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("USAGE_DATABASE_URL: must be a postgresql:// URL (e.g. postgresql://user@host/db)")
        from provider_proxy.services.usage.postgres_store import PostgresStore

        return PostgresStore(url)
    from provider_proxy.services.usage.sqlite_store import SQLiteStore

    return SQLiteStore(settings.data_path / DB_FILE)
