"""`provider-proxy keys create|list|revoke`: the client keys in the keys file (KEYS_FILE, default
DATA_DIR/keys.json). A running proxy reads the file again within a second of a change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from provider_proxy.config.keys import KeyEntry, check_name, created_entry, new_key, read_keys_file, write_keys_file
from provider_proxy.config.settings import ConfigError


def create_key(path: Path, name: str, config_names: frozenset[str], **limits: object) -> str:
    """A new key under `name`, stored hashed; the key itself is returned once, to be shown."""
    check_name(name)
    entries = read_keys_file(path)
    existing = entries.get(name)
    if name in config_names or (existing is not None and existing.revoked is None):
        raise ConfigError(f"a key named {name!r} exists already; revoke it first or choose another name")
    key = new_key()
    write_keys_file(path, {**entries, name: created_entry(key, **limits)})
    return key


def revoke_key(path: Path, name: str, config_names: frozenset[str]) -> None:
    entries = read_keys_file(path)
    entry = entries.get(name)
    if entry is None:
        where = " (it is defined in CONFIG_FILE: delete its [keys] table there)" if name in config_names else ""
        raise ConfigError(f"no key named {name!r} in {path}{where}")
    if entry.revoked is None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        write_keys_file(path, {**entries, name: entry.model_copy(update={"revoked": now})})


def keys_table(file_entries: Mapping[str, KeyEntry], config_entries: Mapping[str, KeyEntry]) -> Table:
    table = Table("name", "key", "source", "created", "revoked", "models", "rpm", "tpm", "per day", "per month")
    table.columns[0].overflow = "fold"
    sources = [(config_entries, "config"), (file_entries, "keys file")]
    for entries, source in sources:
        for name, entry in sorted(entries.items()):
            table.add_row(
                name,
                entry.shown and f"{entry.shown}...",
                source,
                entry.created,
                entry.revoked,
                ", ".join(entry.models) or "any",
                _number(entry.rpm),
                _number(entry.tpm),
                _dollars(entry.daily_budget),
                _dollars(entry.monthly_budget),
            )
    return table


def show(table: Table) -> None:
    Console().print(table)


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _dollars(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"
