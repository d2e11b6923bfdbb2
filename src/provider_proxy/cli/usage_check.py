"""`provider-proxy check`: a usage backlog that does not drain, and a usage store that does not answer.

A running proxy deletes each journal segment (`services.usage.journal`) soon after its records are
committed and rotates the current one every minute, so a segment that has not been written for
`STALE_SECONDS` is a backlog that does not drain: its proxy cannot write to the store, or its proxy is
gone and no proxy has started on the directory since to ship it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from provider_proxy.cli.check import Finding
from provider_proxy.config.settings import Settings
from provider_proxy.services.usage.journal import JOURNAL_DIR, SegmentState, inspect
from provider_proxy.services.usage.store import DB_FILE, UsageStore, default_data_dir, store_from_settings

STALE_SECONDS: Final = 300.0
_PROBE_TIMEOUT: Final = 10.0


async def usage_findings(settings: Settings, *, probe: bool = False) -> list[Finding]:
    """The journal's backlog, and (with `probe`, or when the backlog is stale) whether the store answers."""
    if not settings.usage_tracking:
        return []
    data_dir = settings.data_dir or default_data_dir()
    directory = data_dir / JOURNAL_DIR
    stale = [segment for segment in await asyncio.to_thread(_inspect, directory) if segment.age >= STALE_SECONDS]
    findings = _backlog_findings(directory, stale)
    sqlite_missing = settings.usage_database_url is None and not (data_dir / DB_FILE).exists()
    if (probe or stale) and not sqlite_missing:
        findings.append(await _probe_store(settings, directory))
    return findings


def _inspect(directory: Path) -> list[SegmentState]:
    return inspect(directory) if directory.is_dir() else []


def _backlog_findings(directory: Path, stale: list[SegmentState]) -> list[Finding]:
    findings = []
    running = [segment for segment in stale if segment.owner_alive]
    if running:
        findings.append(
            Finding(
                "error",
                f"the usage backlog does not drain: {_describe(running)} in {directory} of a running proxy "
                "have waited for the usage store: look for 'could not write' in that proxy's log, and make the "
                "store answer (start the database, fix USAGE_DATABASE_URL, free the disk); nothing is lost meanwhile",
            )
        )
    gone = [segment for segment in stale if not segment.owner_alive]
    if gone:
        findings.append(
            Finding(
                "warning",
                f"{_describe(gone)} in {directory} were left by a proxy that stopped and have not been written to "
                "the usage store: start the proxy (any replica with this DATA_DIR) and it ships them at once",
            )
        )
    return findings


def _describe(segments: list[SegmentState]) -> str:
    entries = sum(segment.entries for segment in segments)
    minutes = max(segment.age for segment in segments) / 60
    return (
        f"{len(segments)} journal segment(s) holding {entries:,} usage entries, the oldest {minutes:.0f} minutes old,"
    )


async def _probe_store(settings: Settings, directory: Path) -> Finding:
    store = store_from_settings(settings)
    try:
        await asyncio.wait_for(_ping(store), _PROBE_TIMEOUT)
    except Exception as exc:  # any failure to reach the store is the finding
        reason = str(exc) or type(exc).__name__
        return Finding(
            "error",
            f"the usage store {store.description} does not answer ({reason}): usage records wait in the journal "
            f"{directory} until it does; start the database or fix USAGE_DATABASE_URL",
        )
    return Finding("ok", f"the usage store {store.description} answers")


async def _ping(store: UsageStore) -> None:
    try:
        await store.open()
        await store.select("SELECT COUNT(*) FROM schema_version")
    finally:
        await store.close()
