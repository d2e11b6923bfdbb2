"""Usage tracking: one row per request, written off the hot path to SQLite or PostgreSQL.

`record` is the request's record (each stored field a column), `migrations` the schema, `store` opens
the configured store (`sqlite_store`, `postgres_store`), `writer` drains a queue into it in batches,
and `report` and `period` read it back for the CLI and the dashboard (`dashboard.data`). The request
path hands finished records to `services.recorder`.
"""
