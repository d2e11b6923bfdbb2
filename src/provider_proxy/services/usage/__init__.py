"""Usage tracking: one row per request, written off the hot path to SQLite or PostgreSQL.

`record` is the request's record (each stored field a column), `migrations` the schema, `store` opens
the configured store (`sqlite_store`, `postgres_store`), `writer` hands records to the local `journal`
and then, in batches, to the store; `replay` ships journal files left by a crash; `report` and
`period` read the store back for the CLI and the dashboard (`dashboard.data`). The request path hands
finished records to `services.recorder`.
"""
