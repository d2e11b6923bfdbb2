"""Usage tracking: one record per request, written off the hot path to SQLite or PostgreSQL.

`record` is the row, `migrations` the schema, `store` opens the configured store (`sqlite_store`,
`postgres_store`), `writer` drains a queue into it in batches, `recorder` is what the request path
calls, and `report` / `dashboard_data` read it back for the CLI and the dashboard.
"""
