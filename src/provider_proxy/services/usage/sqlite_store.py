"""The embedded usage store: one SQLite file in DATA_DIR, driven from a thread.

WAL mode lets the CLI and the dashboard read while the proxy (or several workers) write; a busy
timeout makes concurrent writers wait instead of failing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provider_proxy.services.usage.migrations import SCHEMA_VERSION_TABLE, pending
from provider_proxy.services.usage.record import COLUMNS, RequestRecord

# A SQLite commit is local: it either happened or raised, so a retried batch is never a duplicate and
# the table needs no unique index (one costs a B-tree insert per row, on the proxy's own core).
_INSERT = f"INSERT INTO usage_records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return f"SQLite {self.path}"

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    async def insert(self, records: Sequence[RequestRecord]) -> None:
        rows = [record.row() for record in records]
        await asyncio.to_thread(self._run, lambda conn: _insert(conn, rows))

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._run, lambda conn: conn.execute(sql, tuple(params)).fetchall())

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._conn = conn
        self._run(_migrate)

    def _run(self, action: Any) -> Any:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("the usage store is not open")
            return action(self._conn)

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """One transaction a batch (the connection autocommits, which would commit every row)."""
    conn.execute("BEGIN")
    try:
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")  # one migrator at a time when several workers start together
    try:
        conn.execute(SCHEMA_VERSION_TABLE)
        current = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
        for number, statements in pending(current):
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
