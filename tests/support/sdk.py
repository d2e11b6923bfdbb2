"""anthropic SDK clients for tests, closed after each test (an open keep-alive socket left to the
garbage collector is a ResourceWarning, which this suite treats as an error)."""

from __future__ import annotations

from typing import Any

import anthropic

_open: list[anthropic.Anthropic] = []


def sdk_client(base_url: str, **options: Any) -> anthropic.Anthropic:
    settings: dict[str, Any] = {"api_key": "any-client-key", "max_retries": 0, **options}
    client = anthropic.Anthropic(base_url=base_url, **settings)
    _open.append(client)
    return client


def close_all() -> None:
    while _open:
        _open.pop().close()
