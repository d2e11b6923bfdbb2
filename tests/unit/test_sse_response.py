"""The event-stream response relays a large upstream read in slices, giving the event loop a turn
between them, so one request's burst never holds up the others."""

from __future__ import annotations

import asyncio
from typing import Any

from provider_proxy.api.sse_response import EventStreamResponse
from provider_proxy.config.settings import load_settings
from provider_proxy.conversion.request import Translation
from provider_proxy.conversion.stream import StreamTranslator
from provider_proxy.conversion.stream_pipeline import EventPipeline
from provider_proxy.conversion.tools import ToolNames
from provider_proxy.services.usage.record import RequestRecord
from tests.support.fake_upstream import many_tool_calls


class OneRead:
    """An upstream stream that delivers its whole answer in one read."""

    def __init__(self, raw: bytes) -> None:
        self._reads = [raw, b""]

    async def read(self, wait: float) -> bytes | None:
        return self._reads.pop(0)

    def close(self) -> None:
        pass


def test_one_large_upstream_read_is_processed_in_slices_with_the_loop_free_between() -> None:
    raw = many_tool_calls(2_000)
    settings = load_settings(env_file=None, openai_api_key="sk-test-0000")
    translator = StreamTranslator("claude-sonnet-4-6", Translation({}, ToolNames(["Read"]), (), ()))
    response = EventStreamResponse(EventPipeline(translator), OneRead(raw), RequestRecord(), settings)  # type: ignore[arg-type]
    written: list[bytes] = []
    ticks_at_write: list[int] = []
    ticks = 0

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            written.append(message["body"])
            ticks_at_write.append(ticks)

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> None:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await response({"type": "http"}, receive, send)
        task.cancel()

    asyncio.run(main())
    body = b"".join(written)
    assert body.count(b'"type":"tool_use"') == 2_000
    slices = len(raw) // (64 * 1024)
    assert slices >= 4
    # The loop ran other tasks between the slices of the one read, not only after it.
    assert len(set(ticks_at_write)) >= slices, ticks_at_write
