"""The usage schema as numbered migrations: ordered SQL that both SQLite and PostgreSQL accept.

`schema_version` holds the number of the last migration applied. Never edit a released migration;
append a new one. Times are integer milliseconds since the epoch (`ts_ms`) so that bucketing is
integer division in both databases; days are UTC days.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION_TABLE: Final = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"

# MIGRATIONS[n - 1] brings the schema from version n - 1 to n; each is a list of statements.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE usage_records (
            ts_ms BIGINT NOT NULL,
            request_id TEXT NOT NULL,
            key_name TEXT,
            model TEXT,
            route TEXT,
            provider TEXT,
            upstream_model TEXT,
            stream BOOLEAN NOT NULL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cache_read_tokens INTEGER,
            ttft_ms DOUBLE PRECISION,
            latency_ms DOUBLE PRECISION NOT NULL,
            status INTEGER NOT NULL,
            error_type TEXT,
            stop_reason TEXT,
            retries INTEGER NOT NULL
        )
        """,
        "CREATE INDEX usage_records_ts ON usage_records (ts_ms)",
    ),
    # 2: the targets tried when a request fell back from one to the next.
    ("ALTER TABLE usage_records ADD COLUMN attempts TEXT",),
    # 3: Claude Code's session id, for usage per session.
    ("ALTER TABLE usage_records ADD COLUMN session_id TEXT",),
    # 4: tokens written to the provider's prompt cache.
    ("ALTER TABLE usage_records ADD COLUMN cache_creation_tokens INTEGER",),
)


def pending(current: int) -> list[tuple[int, tuple[str, ...]]]:
    """The migrations after version `current`, numbered."""
    return [(number, sql) for number, sql in enumerate(MIGRATIONS, start=1) if number > current]
