"""Anthropic's web search server tool, run by the proxy: the pure parts (no I/O).

Anthropic runs `web_search` itself and answers with a `server_tool_use` block, then a
`web_search_tool_result` block, then the model's text. An OpenAI-compatible model cannot call a server
tool, so when a search backend is configured the proxy offers the model a function tool of the same
name (`offer_web_search`); a call to it is turned into the `server_tool_use` block the client sees
(`search_calls`), the search's outcome into the result block (`result_block`), and the conversation
continues upstream with both in the history (`continued`).

Those blocks come back from the client on later turns. For the upstream they become an assistant tool
call and its tool result when the search function is offered, else plain text in the assistant turn
(`history_for_upstream`): the model sees what was searched and found either way.

The snippet of each result travels in `encrypted_content` (Anthropic's field is opaque to clients):
`ppx1` and the snippet in URL-safe base64, so the next turn can show the model what it read. Anything
else there (Anthropic's own encrypted blobs) is left out.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import msgspec

from provider_proxy.models.anthropic import (
    ContentBlock,
    CountTokensRequest,
    Message,
    MessagesRequest,
    ServerToolUseBlock,
    TextBlock,
    Tool,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
    WebSearchResult,
    WebSearchToolResultBlock,
    WebSearchToolResultError,
)
from provider_proxy.models.anthropic_output import ContentBlock as OutputBlock
from provider_proxy.models.anthropic_output import (
    ServerToolUseContent,
    Usage,
    WebSearchErrorCode,
    WebSearchResultContent,
    WebSearchToolResultContent,
)

R = TypeVar("R", MessagesRequest, CountTokensRequest)
SEARCH_TOOL = "web_search"
# Anthropic leaves max_uses open; the proxy's loop is bounded: this many when the client sets none,
# never more than the cap.
DEFAULT_MAX_USES: Final = 5
MAX_USES_CAP: Final = 10
MAX_QUERY_CHARS: Final = 400
_SNIPPET_CHARS: Final = 2000
_TITLE_CHARS: Final = 500
_URL_CHARS: Final = 2000
_CONTENT_PREFIX: Final = "ppx1"
_DESCRIPTION: Final = (
    "Search the web for current information. Returns the titles, URLs, dates and text snippets of the "
    "best matching pages; cite the URLs you use."
)
_PARAMETERS: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "The search query"}},
    "required": ["query"],
}
_ERROR_WORDS: Final[dict[str, str]] = {
    "invalid_tool_input": "the call had no usable query",
    "unavailable": "the search service is unavailable",
    "max_uses_exceeded": "the search limit of this answer is reached; answer with what was found",
    "too_many_requests": "the search service is rate limited",
    "query_too_long": f"the query is longer than {MAX_QUERY_CHARS} characters",
}


@dataclass(frozen=True, slots=True)
class SearchHit:
    url: str
    title: str
    snippet: str = ""
    page_age: str | None = None


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """What the client's web search tool allows."""

    max_uses: int
    allowed_domains: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchCall:
    """One call of the search function, as the client sees it (`id` is a `srvtoolu_` id)."""

    id: str
    input: Any


def server_tool_use_id() -> str:
    return f"srvtoolu_{random.getrandbits(96):024x}"


def web_search_tool(request: MessagesRequest | CountTokensRequest) -> Tool | None:
    """The client's web search server tool, when it offers one."""
    for tool in request.tools or ():
        if tool.type and tool.type.startswith("web_search_"):
            return tool
    return None


def search_spec(tool: Tool) -> SearchSpec:
    uses = tool.max_uses if tool.max_uses and tool.max_uses > 0 else DEFAULT_MAX_USES
    return SearchSpec(min(uses, MAX_USES_CAP), tuple(tool.allowed_domains or ()), tuple(tool.blocked_domains or ()))


def offer_web_search(request: MessagesRequest, server_tool: Tool) -> MessagesRequest | None:
    """The request with the server tool replaced by a function tool of the same name; None when a client
    tool already has that name (the server tool is then left out, as without a backend)."""
    tools = request.tools or []
    if any(tool.name == server_tool.name and tool is not server_tool for tool in tools):
        return None
    function = Tool(name=server_tool.name, description=_DESCRIPTION, input_schema=_PARAMETERS)
    return msgspec.structs.replace(request, tools=[function if tool is server_tool else tool for tool in tools])


def continued(request: MessagesRequest, produced: Sequence[OutputBlock], search_offered: bool) -> MessagesRequest:
    """The request for the next round: what the model answered so far (searches and their results
    included) as the assistant turn, a forced tool choice relaxed (it held for the first call), and the
    search function gone once its uses are spent."""
    blocks = msgspec.convert(list(produced), list[ContentBlock])
    messages = list(request.messages)
    last = messages[-1] if messages else None
    if last is not None and last.role == "assistant":
        messages[-1] = Message(role="assistant", content=[*_blocks(last.content), *blocks])
    else:
        messages.append(Message(role="assistant", content=blocks))
    tools = request.tools
    if not search_offered and tools:
        tools = [tool for tool in tools if tool.name != SEARCH_TOOL or not tool.is_client_tool] or None
    return msgspec.structs.replace(request, messages=messages, tools=tools, tool_choice=_relaxed(request.tool_choice))


def _relaxed(choice: ToolChoice | None) -> ToolChoice | None:
    if choice is None or choice.type in ("auto", "none"):
        return choice
    return ToolChoice(type="auto", disable_parallel_tool_use=choice.disable_parallel_tool_use)


def search_calls(content: list[OutputBlock]) -> tuple[list[OutputBlock], list[SearchCall]]:
    """An answer's blocks with each call of the search function turned into a `server_tool_use` block."""
    out: list[OutputBlock] = []
    calls: list[SearchCall] = []
    for block in content:
        if block["type"] == "tool_use" and block["name"] == SEARCH_TOOL:
            call = SearchCall(server_tool_use_id(), block["input"])
            calls.append(call)
            out.append(server_tool_use_block(call))
        else:
            out.append(block)
    return out, calls


def server_tool_use_block(call: SearchCall) -> ServerToolUseContent:
    value = call.input if isinstance(call.input, dict) else {}
    return {"type": "server_tool_use", "id": call.id, "name": SEARCH_TOOL, "input": value}


def search_query(arguments: Any) -> tuple[str, None] | tuple[None, WebSearchErrorCode]:
    """The query the model asked for, or the error code Anthropic gives for a bad one."""
    query = arguments.get("query") if isinstance(arguments, dict) else None
    if not isinstance(query, str) or not query.strip():
        return None, "invalid_tool_input"
    if len(query) > MAX_QUERY_CHARS:
        return None, "query_too_long"
    return query.strip(), None


def result_block(tool_use_id: str, outcome: Sequence[SearchHit] | WebSearchErrorCode) -> WebSearchToolResultContent:
    if isinstance(outcome, str):
        return {
            "type": "web_search_tool_result",
            "tool_use_id": tool_use_id,
            "content": {"type": "web_search_tool_result_error", "error_code": outcome},
        }
    return {"type": "web_search_tool_result", "tool_use_id": tool_use_id, "content": [_result(hit) for hit in outcome]}


def _result(hit: SearchHit) -> WebSearchResultContent:
    return {
        "type": "web_search_result",
        "url": hit.url[:_URL_CHARS],
        "title": hit.title[:_TITLE_CHARS],
        "encrypted_content": encode_snippet(hit.snippet),
        "page_age": hit.page_age,
    }


def encode_snippet(snippet: str) -> str:
    data = snippet[:_SNIPPET_CHARS].encode("utf-8")
    return _CONTENT_PREFIX + base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode_snippet(content: str) -> str:
    """The snippet the proxy put in `encrypted_content`; "" for anything else."""
    if not content.startswith(_CONTENT_PREFIX):
        return ""
    encoded = content[len(_CONTENT_PREFIX) :]
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")[:_SNIPPET_CHARS]
    except (binascii.Error, ValueError):
        return ""


def within_domains(hits: Iterable[SearchHit], spec: SearchSpec, limit: int) -> list[SearchHit]:
    """The hits the tool's allowed/blocked domains admit, at most `limit`."""
    kept = [
        hit
        for hit in hits
        if (not spec.allowed_domains or _matches(hit.url, spec.allowed_domains))
        and not _matches(hit.url, spec.blocked_domains)
    ]
    return kept[:limit]


def _matches(url: str, domains: Sequence[str]) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    for domain in domains:
        name, _, path = domain.lower().removeprefix("https://").removeprefix("http://").partition("/")
        if (host == name or host.endswith("." + name)) and parts.path.startswith("/" + path if path else ""):
            return True
    return False


def results_text(query: str, content: list[WebSearchResult] | WebSearchToolResultError) -> str:
    """A search's outcome as the model reads it."""
    if isinstance(content, WebSearchToolResultError):
        words = _ERROR_WORDS.get(content.error_code, content.error_code)
        return f'Web search for "{query}" failed: {words} ({content.error_code}).'
    if not content:
        return f'Web search for "{query}" found nothing.'
    lines = [f'Web search results for "{query}":']
    for number, result in enumerate(content, 1):
        lines.append(f"\n[{number}] {result.title or result.url}\nURL: {result.url}")
        if result.page_age:
            lines.append(f"Published: {result.page_age}")
        snippet = decode_snippet(result.encrypted_content)
        if snippet:
            lines.append(snippet)
    return "\n".join(lines)


def add_usage(total: Usage, more: Usage) -> Usage:
    return {
        "input_tokens": total["input_tokens"] + more["input_tokens"],
        "output_tokens": total["output_tokens"] + more["output_tokens"],
        "cache_creation_input_tokens": total["cache_creation_input_tokens"] + more["cache_creation_input_tokens"],
        "cache_read_input_tokens": total["cache_read_input_tokens"] + more["cache_read_input_tokens"],
    }


def history_for_upstream(request: R) -> R:
    """The request with the server-tool blocks of its history in a form the upstream understands: the
    search function's call and result when it is offered, else text in the assistant turn."""
    search_offered = any(tool.name == SEARCH_TOOL and tool.is_client_tool for tool in request.tools or ())
    return msgspec.structs.replace(request, messages=_history(request.messages, search_offered))


def _history(history: list[Message], search_offered: bool) -> list[Message]:
    messages: list[Message] = []
    # The last message holds search results made here: a user message next joins it, after them.
    results_last = False
    for message in history:
        if results_last and message.role == "user":
            results: list[ContentBlock] = _blocks(messages[-1].content)
            messages[-1] = Message(role="user", content=[*results, *_blocks(message.content)])
            results_last = False
            continue
        results_last = False
        if message.role != "assistant" or isinstance(message.content, str) or not _has_server_block(message.content):
            messages.append(message)
        elif search_offered:
            parts = _as_tool_calls(message.content)
            messages += parts
            results_last = bool(parts) and parts[-1].role == "user"
        elif text := _as_text(message.content):
            messages.append(Message(role="assistant", content=text))
        # else: a turn of nothing but a search call without its result is left out
    return messages


def _blocks(content: str | list[ContentBlock]) -> list[ContentBlock]:
    return [TextBlock(text=content)] if isinstance(content, str) else content


def _has_server_block(blocks: list[ContentBlock]) -> bool:
    return any(isinstance(block, ServerToolUseBlock | WebSearchToolResultBlock) for block in blocks)


def _as_tool_calls(blocks: list[ContentBlock]) -> list[Message]:
    """One assistant turn with searches -> assistant (call) / user (result) / assistant ... messages."""
    queries: dict[str, str] = {}
    out: list[Message] = []
    said: list[ContentBlock] = []
    results: list[ContentBlock] = []
    for block in blocks:
        if isinstance(block, WebSearchToolResultBlock):
            text = results_text(queries.get(block.tool_use_id, ""), block.content)
            results.append(ToolResultBlock(tool_use_id=block.tool_use_id, content=text))
            continue
        if results:
            out += [Message(role="assistant", content=said), Message(role="user", content=results)]
            said, results = [], []
        if isinstance(block, ServerToolUseBlock):
            queries[block.id] = _query_text(block.input)
            said.append(ToolUseBlock(id=block.id, name=SEARCH_TOOL, input=block.input))
        else:
            said.append(block)
    if results:
        out += [Message(role="assistant", content=said), Message(role="user", content=results)]
    elif said:
        out.append(Message(role="assistant", content=said))
    return out


def _as_text(blocks: list[ContentBlock]) -> list[ContentBlock]:
    queries: dict[str, str] = {}
    out: list[ContentBlock] = []
    for block in blocks:
        if isinstance(block, ServerToolUseBlock):
            queries[block.id] = _query_text(block.input)
        elif isinstance(block, WebSearchToolResultBlock):
            out.append(TextBlock(text=results_text(queries.get(block.tool_use_id, ""), block.content)))
        else:
            out.append(block)
    return out


def _query_text(arguments: Any) -> str:
    query = arguments.get("query") if isinstance(arguments, dict) else None
    return query if isinstance(query, str) else ""
