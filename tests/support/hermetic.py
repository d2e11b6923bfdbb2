"""The developer's own usage store, watched while the tests run: no test may write to it.

A proxy started without a data directory writes to the per-user store (`DATA_DIR`, else
`$XDG_DATA_HOME/provider-proxy`, else `~/.local/share/provider-proxy`). A subprocess started
with a trimmed environment has no HOME and falls back to the account's home directory, so that
one is watched as well.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

DB_FILE = "usage.db"
# The database and its write-ahead log change on every insert; `-shm` also changes on a read.
_WRITTEN = ("", "-wal")

Snapshot = dict[Path, tuple[int, int] | None]


def developer_stores(environ: Mapping[str, str]) -> list[Path]:
    """Every usage database a proxy run outside the tests' isolation could write to."""
    homes = {_account_home()}
    if environ.get("HOME"):
        homes.add(Path(environ["HOME"]))
    dirs = {home / ".local" / "share" / "provider-proxy" for home in homes}
    if environ.get("XDG_DATA_HOME"):
        dirs.add(Path(environ["XDG_DATA_HOME"]) / "provider-proxy")
    if environ.get("DATA_DIR"):
        dirs.add(Path(environ["DATA_DIR"]))
    return sorted(directory / DB_FILE for directory in dirs)


def _account_home() -> Path:
    """The home directory of the account, whatever HOME says (where a process without HOME writes)."""
    if os.name == "posix":
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    return Path(os.path.expanduser("~"))


def snapshot(databases: list[Path]) -> Snapshot:
    """Size and modification time of each database file and its write-ahead log (None: absent)."""
    state: Snapshot = {}
    for database in databases:
        for suffix in _WRITTEN:
            path = database.with_name(database.name + suffix)
            try:
                stat = path.stat()
            except FileNotFoundError:
                state[path] = None
            else:
                state[path] = (stat.st_size, stat.st_mtime_ns)
    return state


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """The files that were created, removed or written between the two snapshots."""
    return [str(path) for path in before if before[path] != after.get(path)]


def written_since(database: Path, since: float) -> str:
    """What was recorded in `database` from `since` (epoch seconds) on, by model: the evidence that
    tells a test run's records (bench-model, big-model) from those of a proxy the developer runs."""
    try:
        with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT COALESCE(model, '-'), COUNT(*) FROM usage_records WHERE ts_ms >= ? GROUP BY 1 ORDER BY 2 DESC",
                (int(since * 1000),),
            ).fetchall()
    except sqlite3.Error as exc:
        return f"{database}: cannot read it ({exc})"
    return f"{database}: " + (", ".join(f"{count} x {model}" for model, count in rows) or "no new records")
