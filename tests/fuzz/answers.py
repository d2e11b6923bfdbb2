"""The fake upstream's side of the fuzzing: always a valid answer, in turn plain text, a tool call (of
the first tool the request offers, so odd tool names travel back), reasoning before text, and a
cut-off empty answer, streamed when the proxy asked for a stream. With the upstream never failing,
any 5xx the client sees is the proxy's own."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from tests.support.fake_upstream import Recorded, Reply, completion, sse

_TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "Read", "arguments": '{"file_path": "/a.py"}'}}


def _answers() -> list[tuple[dict[str, Any], str]]:
    """(message fields, finish_reason) of each kind of answer."""
    return [
        ({"content": "Hello from the fake upstream \u00e9\U0001f600"}, "stop"),
        ({"content": None, "tool_calls": [_TOOL_CALL]}, "tool_calls"),
        ({"content": "Answer.", "reasoning_content": "Thinking it over."}, "stop"),
        ({"content": ""}, "length"),
    ]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _stream(fields: dict[str, Any], finish: str) -> list[bytes | float]:
    chunks = [_chunk({"role": "assistant"})]
    if fields.get("reasoning_content"):
        chunks.append(_chunk({"reasoning_content": fields["reasoning_content"]}))
    if fields.get("content"):
        text = fields["content"]
        chunks += [_chunk({"content": text[:5]}), _chunk({"content": text[5:]})]
    for call in fields.get("tool_calls") or ():
        chunks.append(_chunk({"tool_calls": [{"index": 0, **call}]}))
    chunks.append(_chunk({}, finish))
    usage = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": completion()["usage"]}
    return sse(*chunks, usage)


def valid_answers() -> Callable[[Recorded], Reply]:
    """A script for `FakeUpstream`: the next kind of answer for each request."""
    kinds: Iterator[tuple[dict[str, Any], str]] = itertools.cycle(_answers())

    def answer(request: Recorded) -> Reply:
        fields, finish = next(kinds)
        body = orjson.loads(request.body)
        if fields.get("tool_calls") and body.get("tools"):
            # Call the first tool the request offers, by the name it was given upstream (maybe shortened).
            name = body["tools"][0]["function"]["name"]
            fields = {**fields, "tool_calls": [{**_TOOL_CALL, "function": {**_TOOL_CALL["function"], "name": name}}]}
        if body.get("stream"):
            return Reply(stream=_stream(fields, finish))
        return Reply(json=completion(finish_reason=finish, **fields))

    return answer
