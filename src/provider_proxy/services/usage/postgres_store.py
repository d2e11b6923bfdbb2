"""The shared usage store: PostgreSQL through psycopg 3's async connection.

Several replicas can write the same database; migrations take an advisory lock so that replicas
starting together apply each migration once. Queries arrive with `?` placeholders (see `store`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

import psycopg

from provider_proxy.services.usage.migrations import SCHEMA_VERSION_TABLE, pending
from provider_proxy.services.usage.record import COLUMNS, RequestRecord

_INSERT: Final = (
    f"INSERT INTO usage_records ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
    "ON CONFLICT (request_id) DO NOTHING"
)
_MIGRATION_LOCK: Final = 0x70707573  # any constant shared by every replica
_UNIQUE_REQUEST_ID: Final = "CREATE UNIQUE INDEX IF NOT EXISTS usage_records_request_id ON usage_records (request_id)"


class PostgresStore:
    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        self._lock = asyncio.Lock()

    @property
    def description(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self._url)
        return f"PostgreSQL {info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"

    async def open(self) -> None:
        conn = await self._connection()
        async with self._lock, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(SCHEMA_VERSION_TABLE)
            cursor = await conn.execute("SELECT MAX(version) FROM schema_version")
            row = await cursor.fetchone()
            current = (row[0] if row else None) or 0
            for number, statements in pending(current):
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
            # A commit whose acknowledgement is lost on the network is retried by the writer: rows are
            # unique by request id, so it counts once (SQLite commits locally and needs no such index).
            await conn.execute(_UNIQUE_REQUEST_ID)

    async def insert(self, records: Sequence[RequestRecord]) -> None:
        conn = await self._connection()
        # One transaction a batch: the connection autocommits, which would commit every row.
        async with self._lock, conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(_INSERT, [record.row() for record in records])

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = await self._connection()
        async with self._lock:
            cursor = await conn.execute(sql.replace("?", "%s"), tuple(params))
            return await cursor.fetchall()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connection(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        """The open connection, reconnecting after the server closed it."""
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        return self._conn
