"""Strings a client chose (the model name, the session id) reach the usage store: every string a
request can carry is stored in either database, so one request never jams the writer for the rest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import httpx
import pytest

from provider_proxy.services.usage.record import COLUMNS, RequestRecord
from provider_proxy.services.usage.store import UsageStore, store_from_settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy_server import ProxyServer
from tests.support.usage_data import from_row, record
from tests.usage.test_usage_recording_http import stored_records

ODD = ["a\x00b", "\x00", "\u202e\ufeff\U0001f600", "\x1c"]


@pytest.mark.parametrize("text", ODD)
async def test_client_strings_with_any_character_are_stored(store: UsageStore, text: str) -> None:
    await store.insert([record(request_id="req_odd", model=text, session_id=text)])
    rows = await store.select(f"SELECT {', '.join(COLUMNS)} FROM usage_records")
    stored = from_row(rows[0])
    assert stored.model == text.replace("\x00", "\ufffd")
    assert stored.session_id == text.replace("\x00", "\ufffd")


def test_a_model_name_with_nul_does_not_jam_usage_recording(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, postgres_url: str
) -> None:
    """Before, PostgreSQL refused the row and the writer retried its batch for ever: no usage was
    recorded for anyone after it (and shutdown gave the records up)."""
    proxy = start_proxy(usage_database_url=postgres_url)
    body = {"model": "gpt\x00-4.1", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=20).status_code == 200
    body["model"] = "claude-sonnet-4-6"
    assert httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=20).status_code == 200
    proxy.stop()
    odd, plain = stored_records(store_from_settings(proxy.settings))
    assert (odd.model, odd.upstream_model) == ("gpt\ufffd-4.1", "gpt\ufffd-4.1")
    assert plain.model == "claude-sonnet-4-6"


def test_every_stored_text_column_has_nul_replaced() -> None:
    """Not only the model name: whatever text column a client or an upstream string reaches."""
    text = [f.name for f in fields(RequestRecord) if f.name in COLUMNS and f.type in ("str", "str | None")]
    assert {"model", "route", "upstream_model", "stop_reason", "attempts", "session_id"} <= set(text)
    row = dict(zip(COLUMNS, RequestRecord(**{name: f"{name}\x00end" for name in text}).row(), strict=True))
    assert [row[name] for name in text] == [f"{name}\ufffdend" for name in text]
