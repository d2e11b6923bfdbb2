"""Client keys: who may use the proxy, and within which limits.

Keys come from three places, all merged into one `KeySet`:
- `PROXY_API_KEY`: the operator's key, named `default`, allowed everything (dashboard included);
- `[keys.NAME]` tables in CONFIG_FILE, each with the key's SHA-256 (`sha256 = "..."`) or the name of
  an environment variable holding the key (`key_env = "..."`);
- the keys file (`KEYS_FILE`, default `DATA_DIR/keys.json`) that `provider-proxy keys create|list|revoke`
  manages; the proxy reads it again when it changes, so a revocation needs no restart.

Only SHA-256 digests are kept. A key is looked up by the digest of what the client presents: an attacker
who can time the lookup learns about a hash they cannot steer, never about the key. Generated keys are
256 random bits, so a fast hash is the right one (a slow password hash buys nothing against brute force
of 2^256 and costs every request).

Per key (all optional): `models` (shell-style patterns on the requested model or the "provider/model"
target; none means any), `rpm` and `tpm` (requests and tokens per minute), `daily_budget` and
`monthly_budget` (US dollars, from the prices the usage report uses), `admin` (may open the dashboard
and /metrics).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from provider_proxy.config.settings import ConfigError, Settings

KEY_PREFIX: Final = "ppk_"
DEFAULT_KEY_NAME: Final = "default"
# How much of a generated key `keys list` shows, to tell keys apart (not enough to guess the rest).
_SHOWN_CHARS: Final = len(KEY_PREFIX) + 6
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


class KeyEntry(BaseModel):
    """One key as written in CONFIG_FILE (`[keys.NAME]`) or in the keys file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str | None = None
    key_env: str | None = None
    models: tuple[str, ...] = ()
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    daily_budget: float | None = Field(default=None, gt=0)
    monthly_budget: float | None = Field(default=None, gt=0)
    admin: bool = False
    # Kept by `provider-proxy keys` for `keys list`.
    shown: str | None = None
    created: str | None = None
    revoked: str | None = None

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip().lower()
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise ValueError("must be the 64 hex digits of the key's SHA-256")
        return value


@dataclass(frozen=True, slots=True)
class ClientKey:
    name: str
    digest: bytes = field(repr=False)
    models: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    daily_budget: float | None = None
    monthly_budget: float | None = None
    admin: bool = False
    # Whether requests made with this key are counted (rates or budgets): read twice per request.
    limited: bool = field(init=False)

    def __post_init__(self) -> None:
        limits = (self.rpm, self.tpm, self.daily_budget, self.monthly_budget)
        object.__setattr__(self, "limited", any(value is not None for value in limits))

    def allows(self, *names: str) -> bool:
        """Whether any of `names` (the requested model, the target) matches the key's `models`."""
        return not self.models or any(fnmatchcase(name, pattern) for pattern in self.models for name in names)


@dataclass(frozen=True, slots=True)
class KeySet:
    by_digest: Mapping[bytes, ClientKey] = field(default_factory=dict, repr=False)
    # Whether clients must present a key: some key is configured, even if every one is revoked.
    required: bool = False

    def find(self, presented: str) -> ClientKey | None:
        return self.by_digest.get(digest(presented)) if presented else None


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def check_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= _NAME_CHARS:
        raise ConfigError(f"key name {name!r}: use 1-64 letters, digits and . _ - @")
    return name


def build_keys(settings: Settings, entries: Mapping[str, KeyEntry]) -> KeySet:
    """Every active key: PROXY_API_KEY, the config file's `[keys]`, the keys file's."""
    keys: dict[bytes, ClientKey] = {}
    if settings.proxy_api_key is not None:
        operator = settings.proxy_api_key.get_secret_value().strip()
        keys[digest(operator)] = ClientKey(DEFAULT_KEY_NAME, digest(operator), admin=True)
    from_file = read_keys_file(settings.keys_path)
    for name, entry in _merged(entries, from_file, settings.keys_path):
        if entry.revoked is None:
            key = _client_key(name, entry)
            keys.setdefault(key.digest, key)
    return KeySet(keys, required=bool(keys or entries or from_file))


def _merged(config: Mapping[str, KeyEntry], file: Mapping[str, KeyEntry], path: Path) -> Iterable[tuple[str, KeyEntry]]:
    for name in config.keys() & file.keys():
        raise ConfigError(f"keys.{name}: defined both in CONFIG_FILE and in {path}; keep one")
    yield from config.items()
    yield from file.items()


def _client_key(name: str, entry: KeyEntry) -> ClientKey:
    check_name(name)
    if entry.sha256 is not None:
        key_digest = bytes.fromhex(entry.sha256)
    elif entry.key_env is not None:
        value = os.environ.get(entry.key_env, "").strip()
        if not value:
            raise ConfigError(f"keys.{name}.key_env: the environment variable {entry.key_env} is not set")
        key_digest = digest(value)
    else:
        raise ConfigError(f"keys.{name}: give the key's sha256 or key_env (or create it with provider-proxy keys)")
    return ClientKey(
        name,
        key_digest,
        models=entry.models,
        rpm=entry.rpm,
        tpm=entry.tpm,
        daily_budget=entry.daily_budget,
        monthly_budget=entry.monthly_budget,
        admin=entry.admin,
    )


def read_keys_file(path: Path) -> dict[str, KeyEntry]:
    """The keys file's entries by name; none when the file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"KEYS_FILE: cannot read {path}: {exc.strerror}") from None
    try:
        data = orjson.loads(raw)
        keys = data["keys"] if isinstance(data, dict) else None
        if not isinstance(keys, dict):
            raise ValueError('expected {"keys": {"NAME": {...}}}')
        return {check_name(name): KeyEntry.model_validate(entry) for name, entry in keys.items()}
    except (orjson.JSONDecodeError, ValueError, ValidationError) as exc:
        raise ConfigError(f"KEYS_FILE: {path} is not a valid keys file: {exc}") from None


def write_keys_file(path: Path, entries: Mapping[str, KeyEntry]) -> None:
    """Replace the keys file at once (a reader never sees half a file); only the owner may read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"keys": {name: entry.model_dump(exclude_defaults=True) for name, entry in entries.items()}}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def created_entry(key: str, **limits: object) -> KeyEntry:
    """The entry `keys create` stores for a new key."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return KeyEntry(sha256=digest(key).hex(), shown=key[:_SHOWN_CHARS], created=now, **limits)  # type: ignore[arg-type]
