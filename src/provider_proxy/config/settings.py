"""Settings from the environment and `.env`, built once at start and passed in.

Names follow what users of similar proxies already set (`OPENAI_API_KEY`, `OPENAI_BASE_URL`,
`BIG_MODEL`, `SMALL_MODEL`, ...). Several providers and explicit routes come from an optional TOML
file (`CONFIG_FILE`, see `config.proxy_config`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from provider_proxy.config.urls import base_url_problem

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def default_data_dir() -> Path:
    """The per-user data directory: `$XDG_DATA_HOME/provider-proxy` or `~/.local/share/provider-proxy`."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "provider-proxy"


class ConfigError(Exception):
    """The configuration cannot work; the message names the key and says how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        frozen=True,
        case_sensitive=False,
    )

    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    # Profile of the default provider; detected from OPENAI_BASE_URL when unset.
    provider_kind: str | None = None
    azure_api_version: str | None = None

    big_model: str = "gpt-4.1"
    middle_model: str | None = None
    small_model: str = "gpt-4.1-mini"

    host: str = "127.0.0.1"
    port: int = Field(default=8082, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    workers: int = Field(default=1, ge=1, le=256)

    request_timeout: float = Field(default=600.0, gt=0)
    # On SIGTERM: seconds to keep serving while GET /ready says 503 (a load balancer stops sending),
    # then seconds in-flight requests and streams may take to finish before the process exits.
    drain_seconds: float = Field(default=0.0, ge=0)
    shutdown_grace: float = Field(default=300.0, gt=0)
    # Seconds of upstream silence before a stream sends the client a `ping`.
    ping_interval: float = Field(default=10.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    # The most time a request may spend getting an answer started, over every retry and fallback.
    total_timeout: float = Field(default=600.0, gt=0)
    # A target's circuit breaker opens after this many failures in a row, for this many seconds.
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown: float = Field(default=30.0, gt=0)
    max_output_tokens: int | None = Field(default=None, ge=1)
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)

    # When set, clients must present it as x-api-key or a Bearer token.
    proxy_api_key: SecretStr | None = None
    # Named client keys managed by `provider-proxy keys` (default: DATA_DIR/keys.json); more in CONFIG_FILE.
    keys_file: Path | None = None
    # Per-key limits are counted here when set (shared by every replica), else in each process.
    redis_url: SecretStr | None = None
    # When Redis cannot be reached: keep serving with per-process counts (false) or refuse with 529 (true).
    limits_fail_closed: bool = False
    # /v1/messages requests in flight at once; beyond it a few wait QUEUE_TIMEOUT seconds, the rest get 529.
    max_concurrent_requests: int = Field(default=1024, ge=1)
    max_queued_requests: int = Field(default=64, ge=0)
    queue_timeout: float = Field(default=5.0, ge=0)
    # Streams open at once; one more is refused with 529 at once.
    max_open_streams: int = Field(default=1024, ge=1)
    # Listen beyond loopback without PROXY_API_KEY (something in front controls who gets in).
    allow_open: bool = False
    config_file: Path | None = None

    # Usage tracking (services.usage): one record per /v1/messages request, in SQLite under DATA_DIR
    # (default ~/.local/share/provider-proxy) or, when USAGE_DATABASE_URL is set, in PostgreSQL.
    usage_tracking: bool = True
    data_dir: Path | None = None
    usage_database_url: SecretStr | None = None
    # Every usage record is appended to a local journal (DATA_DIR/usage-journal) before it goes to the
    # store, so a crash or a long database outage loses none; synced to disk at most this often.
    usage_journal: bool = True
    usage_journal_fsync_seconds: float = Field(default=1.0, ge=0)

    # Client connections (client_protocol): a keep-alive connection idle this long is closed; a request's
    # headers must arrive within CLIENT_HEADER_TIMEOUT seconds of its first byte and its body within
    # CLIENT_BODY_TIMEOUT seconds of the headers (else 408); a head of more bytes or header lines than
    # allowed gets a 431.
    client_idle_timeout: float = Field(default=5.0, gt=0)
    client_header_timeout: float = Field(default=20.0, gt=0)
    client_body_timeout: float = Field(default=120.0, gt=0)
    client_max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    client_max_headers: int = Field(default=100, ge=10)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("openai_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if problem := base_url_problem(value):
            raise ValueError(problem)
        return value.rstrip("/")

    @property
    def sonnet_model(self) -> str:
        return self.middle_model or self.big_model

    @property
    def data_path(self) -> Path:
        return self.data_dir or default_data_dir()

    @property
    def keys_path(self) -> Path:
        """The client keys file `provider-proxy keys` manages (read when it exists)."""
        return self.keys_file or self.data_path / "keys.json"

    @property
    def loopback_only(self) -> bool:
        return self.host in LOOPBACK

    def check_open(self, keys_required: bool) -> None:
        """Refuse to serve beyond this machine with no client key, unless told it is on purpose."""
        if not keys_required and not self.loopback_only and not self.allow_open:
            raise ConfigError(
                f"HOST={self.host} would let anyone who reaches the port spend your provider credit: set "
                "PROXY_API_KEY or create client keys (provider-proxy keys create NAME; clients send a key as "
                "x-api-key or ANTHROPIC_AUTH_TOKEN), listen on 127.0.0.1, or pass --allow-open "
                "(ALLOW_OPEN=true) when something in front of the proxy controls access"
            )


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Build the settings, turning validation failures into one readable ConfigError."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[arg-type,call-arg]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]).upper()
            shown = "" if "KEY" in key else f" (got {error.get('input')!r})"
            problems.append(f"{key}: {error['msg'].removeprefix('Value error, ')}{shown}")
        # One problem, one line; several, one line each.
        raise ConfigError(
            problems[0] if len(problems) == 1 else "invalid settings:\n  " + "\n  ".join(problems)
        ) from None
