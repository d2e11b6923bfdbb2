"""The one record of a request: what it asked for, where it went, what it cost and how it ended.

The API layer creates it when a request arrives and fills it in while the request runs; when the
response (stream or not) has been sent, `services.recorder` writes it once: the request's log line,
its usage row and its metrics are all views of this object. Every field is a column of
`usage_records` except those marked `_NOT_STORED`; adding a column means adding a field here and a
migration (`migrations`), nothing else on the request path.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Final

from provider_proxy.config.keys import ClientKey
from provider_proxy.models.anthropic_output import Usage

_NOT_STORED: Final = {"stored": False}


def new_request_id() -> str:
    # Unique, not secret: the module PRNG (reseeded after fork) is ~10x cheaper than uuid4.
    return f"req_{random.getrandbits(96):024x}"


@dataclass(slots=True, kw_only=True)
class RequestRecord:
    """Times are epoch seconds (`ts`) and milliseconds (latencies)."""

    ts: float = field(default_factory=time.time)
    request_id: str = field(default_factory=new_request_id)
    key_name: str | None = None
    model: str | None = None
    route: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    status: int = 0
    error_type: str | None = None
    stop_reason: str | None = None
    retries: int = 0
    # When more than one target was tried: each target and how it ended ("p/m: rate_limit_error (429); ...").
    attempts: str | None = None
    # Claude Code's session (its X-Claude-Code-Session-Id header), to group a session's requests.
    session_id: str | None = None
    # Input tokens written to the provider's prompt cache (Anthropic's cache_creation_input_tokens).
    cache_creation_tokens: int | None = None
    # The request's start on the monotonic clock the latencies are measured on.
    started: float = field(default_factory=time.perf_counter, compare=False, metadata=_NOT_STORED)
    # For the log line: the request's method and path.
    method: str = field(default="POST", compare=False, metadata=_NOT_STORED)
    path: str = field(default="/v1/messages", compare=False, metadata=_NOT_STORED)
    # The client's key (its name is stored as `key_name`), for its model list and limits.
    client_key: ClientKey | None = field(default=None, compare=False, repr=False, metadata=_NOT_STORED)
    # The request holds one of the proxy's slots (`services.admission`) until its response is sent.
    holds_slot: bool = field(default=False, compare=False, metadata=_NOT_STORED)

    def note_usage(self, usage: Usage) -> None:
        """The tokens of the answer, as the client was told them."""
        self.input_tokens, self.output_tokens = usage["input_tokens"], usage["output_tokens"]
        self.cache_read_tokens = usage["cache_read_input_tokens"]
        self.cache_creation_tokens = usage["cache_creation_input_tokens"]

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def row(self) -> tuple[Any, ...]:
        """The stored values in `COLUMNS` order, with the time as integer milliseconds. A NUL in a text
        value (a client may send one in a model name) becomes U+FFFD: PostgreSQL refuses NUL in text,
        and the writer would retry that batch for ever. (One search of the text values joined, in C: a
        check per value costs more than the rest of the row.)"""
        values = _STORED_AFTER_TS(self)
        if "\x00" in "".join(filter(None, _TEXT(self))):
            values = tuple(_storable(value) for value in values)
        return (round(self.ts * 1000), *values)


def _storable(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if type(value) is str else value


_TEXT_TYPES: Final = ("str", "str | None")  # the annotations, as strings (`from __future__ import annotations`)
# Column names in the table, in `RequestRecord.row()` order (`ts` is stored as `ts_ms`).
_STORED: Final = tuple(f.name for f in fields(RequestRecord) if f.metadata.get("stored", True))
COLUMNS: Final[tuple[str, ...]] = ("ts_ms", *_STORED[1:])
# Every stored field after `ts`, read in one call (dataclasses.astuple deep-copies each value).
_STORED_AFTER_TS: Final = attrgetter(*_STORED[1:])
# The stored text fields, read in one call.
_TEXT: Final = attrgetter(*(f.name for f in fields(RequestRecord) if f.name in _STORED and f.type in _TEXT_TYPES))
