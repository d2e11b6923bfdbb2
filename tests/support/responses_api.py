"""OpenAI Responses API answers and their streams, built as OpenAI sends them, for tests.

`response` builds a whole response object; `stream_events` the events a streaming request receives
for it (created, per item: added, its parts and deltas, done; completed), with each text cut into
the pieces a `split` function chooses; `sse` encodes events the way OpenAI frames them (an `event:`
line naming the type). The openai SDK's types are the authority: `validate_response` and
`validate_events` check what these helpers (and the golden fixtures) hold against them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

Item = dict[str, Any]
Split = Callable[[str], list[str]]
_events = TypeAdapter(ResponseStreamEvent)


def whole(text: str) -> list[str]:
    return [text] if text else []


def message(text: str, item_id: str = "msg_1", refusal: bool = False) -> Item:
    part = {"type": "refusal", "refusal": text} if refusal else {"type": "output_text", "text": text, "annotations": []}
    return {"type": "message", "id": item_id, "role": "assistant", "status": "completed", "content": [part]}


def function_call(call_id: str, name: str, arguments: str, item_id: str | None = None) -> Item:
    return {
        "type": "function_call",
        "id": item_id or f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def reasoning(summary: Iterable[str], encrypted: str | None = "gAAAA-enc", item_id: str = "rs_1") -> Item:
    item: Item = {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": text} for text in summary],
    }
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def web_search_call(item_id: str, query: str, urls: Iterable[str]) -> Item:
    """A search the provider ran (its hosted `web_search` tool), sources included."""
    sources = [{"type": "url", "url": url} for url in urls]
    return {
        "type": "web_search_call",
        "id": item_id,
        "status": "completed",
        "action": {"type": "search", "query": query, "sources": sources},
    }


def usage(input_tokens: int = 11, output_tokens: int = 7, cached: int = 0, reasoning_tokens: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }


def response(
    output: list[Item],
    *,
    status: str = "completed",
    incomplete_reason: str | None = None,
    usage_: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1.0,
        "model": "gpt-5-test",
        "status": status,
        "output": output,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage() if usage_ is None and status != "failed" else usage_,
    }


def _added(item: Item) -> Item:
    """The item as `output_item.added` shows it: nothing generated yet."""
    match item["type"]:
        case "message":
            return {**item, "status": "in_progress", "content": []}
        case "function_call":
            return {**item, "status": "in_progress", "arguments": ""}
        case "reasoning":
            return {"type": "reasoning", "id": item["id"], "summary": []}
        case "web_search_call":
            return {**item, "status": "in_progress", "action": {"type": "search", "query": item["action"]["query"]}}
        case _:
            return item


def _item_events(index: int, item: Item, split: Split) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"type": "response.output_item.added", "output_index": index, "item": _added(item)}]
    where = {"item_id": item["id"], "output_index": index}
    if item["type"] == "message":
        for c, part in enumerate(item["content"]):
            kind = part["type"]
            empty = (
                {"type": "output_text", "text": "", "annotations": []} if kind == "output_text" else {**part, kind: ""}
            )
            events.append({"type": "response.content_part.added", **where, "content_index": c, "part": empty})
            text = part["text"] if kind == "output_text" else part["refusal"]
            delta_type = "response.output_text.delta" if kind == "output_text" else "response.refusal.delta"
            extra = {"logprobs": []} if kind == "output_text" else {}
            for piece in split(text):
                events.append({"type": delta_type, **where, "content_index": c, "delta": piece, **extra})
            if kind == "output_text":
                events.append({"type": "response.output_text.done", **where, "content_index": c, "text": text, **extra})
            else:
                events.append({"type": "response.refusal.done", **where, "content_index": c, "refusal": text})
            events.append({"type": "response.content_part.done", **where, "content_index": c, "part": part})
    elif item["type"] == "function_call":
        for piece in split(item["arguments"]):
            events.append({"type": "response.function_call_arguments.delta", **where, "delta": piece})
        events.append({"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]})
    elif item["type"] == "reasoning":
        for s, part in enumerate(item["summary"]):
            at = {**where, "summary_index": s}
            empty = {"type": "summary_text", "text": ""}
            events.append({"type": "response.reasoning_summary_part.added", **at, "part": empty})
            for piece in split(part["text"]):
                events.append({"type": "response.reasoning_summary_text.delta", **at, "delta": piece})
            events.append({"type": "response.reasoning_summary_text.done", **at, "text": part["text"]})
            events.append({"type": "response.reasoning_summary_part.done", **at, "part": part})
    elif item["type"] == "web_search_call":
        for stage in ("in_progress", "searching", "completed"):
            events.append({"type": f"response.web_search_call.{stage}", **where})
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def stream_events(final: dict[str, Any], split: Split = whole) -> list[dict[str, Any]]:
    """Every event of a streamed response whose final state is `final`, numbered in order."""
    started = {**final, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for index, item in enumerate(final["output"]):
        events += _item_events(index, item, split)
    ending = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"}
    events.append({"type": ending[final["status"]], "response": final})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def sse(events: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)


def validate_response(body: dict[str, Any]) -> None:
    Response.model_validate(body)


def validate_events(events: Iterable[dict[str, Any]]) -> None:
    for event in events:
        _events.validate_python(event)
