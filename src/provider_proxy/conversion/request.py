"""Anthropic Messages request -> OpenAI Chat Completions request (pure).

Provider differences arrive as the route's profile; nothing here asks which provider it is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, assert_never

from provider_proxy.config.provider import Route
from provider_proxy.conversion.messages import (
    HistoryOptions,
    convert_history,
    loaded_tool_names,
    text_of,
)
from provider_proxy.conversion.text_tools import TextTools
from provider_proxy.conversion.tools import ToolNames, ensure_object_schema, gemini_schema
from provider_proxy.errors import TargetUnfit
from provider_proxy.models.anthropic import (
    ContextManagement,
    Message,
    MessagesRequest,
    TextBlock,
    Tool,
    ToolChoice,
)
from provider_proxy.models.openai_request import ChatRequest, Function, FunctionTool, TextPart
from provider_proxy.models.openai_request import ToolChoice as UpstreamToolChoice
from provider_proxy.providers.profiles import ProviderProfile

_PLAIN_USER = re.compile(r"^[A-Za-z0-9_.@:-]{1,64}$")
_BILLING_HEADER = "x-anthropic-billing-header:"
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high", "xhigh": "high"}


@dataclass(frozen=True, slots=True)
class Translation:
    """The upstream request and what the response translation needs to map back."""

    body: ChatRequest
    names: ToolNames
    stop_sequences: tuple[str, ...]
    notes: tuple[str, ...]
    # The offered tools, when tool calls written as text are recovered (`text_tool_calls`).
    text_tools: TextTools | None = None


def to_openai(request: MessagesRequest, route: Route) -> Translation:
    profile = route.provider.profile
    notes: list[str] = []
    names = ToolNames(tool.name for tool in request.tools or ())
    history = HistoryOptions(
        profile=profile,
        names=names,
        keep_thinking=_thinking_kept(request.messages, request.context_management),
        notes=notes,
        images=route.facts.vision is not False,
    )
    messages = convert_history(request.messages, history)
    if profile.assistant_prefix and messages and messages[-1]["role"] == "assistant":
        messages[-1]["prefix"] = True
    if history.omitted_images:
        notes.append(f"left out {history.omitted_images} image(s): {route.label} cannot see images")
    system = _system_text(request.system)
    first = messages[0]["content"] if messages and messages[0]["role"] == "system" else None
    if system and profile.mid_system_as_user and isinstance(first, str):
        # A role-"system" message first in the history joins the system prompt: one system message.
        messages[0] = {"role": "system", "content": f"{system}\n\n{first}"}
    elif system:
        marked = _marked_system(request.system) if profile.cache_control else None
        messages.insert(0, {"role": "system", "content": marked or system})

    body: ChatRequest = {"model": route.model, "messages": messages}
    restricted = profile.restricts_sampling(route.facts)
    overrides = route.overrides
    limit = min(overrides.max_tokens or request.max_tokens, route.max_output_tokens)
    if restricted:
        body["max_completion_tokens"] = limit
    else:
        body["max_tokens"] = limit
    temperature = request.temperature if overrides.temperature is None else overrides.temperature
    if temperature is not None and not restricted:
        body["temperature"] = temperature
    if request.top_p is not None and not restricted:
        body["top_p"] = request.top_p
    if request.top_k is not None and profile.supports_top_k:
        body["top_k"] = request.top_k
    stops_refused = restricted or not route.facts.stop_sequences
    stops = _stop_sequences(request.stop_sequences, profile.stop_limit(route.facts), stops_refused, notes)
    if stops:
        body["stop"] = stops
    if request.metadata and request.metadata.user_id and profile.supports_user:
        body["user"] = _user_field(request.metadata.user_id)
    _add_tools(body, request, route, names, notes)
    _add_reasoning(body, request, route)
    _add_output_format(body, request)
    if request.stream:
        body["stream"] = True
        if profile.stream_usage:
            body["stream_options"] = {"include_usage": True}
    text_tools = _text_tools(body) if profile.text_tool_calls else None
    return Translation(body, names, tuple(request.stop_sequences or ()), tuple(notes), text_tools)


def _text_tools(body: ChatRequest) -> TextTools | None:
    """Offered tool -> its string parameters, for recovering calls the model writes as text."""
    tools = body.get("tools")
    if not tools:
        return None
    return {tool["function"]["name"]: _string_parameters(tool["function"]["parameters"]) for tool in tools}


def _string_parameters(schema: dict[str, Any]) -> frozenset[str]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return frozenset()
    return frozenset(
        name for name, spec in properties.items() if isinstance(spec, dict) and spec.get("type") == "string"
    )


def _system_text(system: str | list[TextBlock] | None) -> str:
    """The system prompt, without Claude Code's billing-header line: it changes on every request and,
    at the very start of the prompt, would defeat the provider's prefix caching."""
    if not system:
        return ""
    if isinstance(system, str):
        return system
    return text_of([block for block in system if not block.text.startswith(_BILLING_HEADER)])


def _marked_system(system: str | list[TextBlock] | None) -> list[TextPart] | None:
    """The system prompt as text parts with the client's cache breakpoints, when it has any."""
    if not isinstance(system, list) or all(block.cache_control is None for block in system):
        return None
    parts: list[TextPart] = []
    for block in system:
        if block.text.startswith(_BILLING_HEADER) or not block.text:
            continue
        part: TextPart = {"type": "text", "text": block.text}
        if block.cache_control is not None:
            part["cache_control"] = block.cache_control
        parts.append(part)
    return parts or None


def _stop_sequences(stops: list[str] | None, limit: int | None, restricted: bool, notes: list[str]) -> list[str]:
    if not stops:
        return []
    if restricted:
        notes.append("dropped stop_sequences: the upstream model does not accept `stop`")
        return []
    if limit is not None and len(stops) > limit:
        notes.append(f"kept the first {limit} of {len(stops)} stop sequences (provider limit)")
        return stops[:limit]
    return stops


def _user_field(user_id: str) -> str:
    """Short ids pass; long or structured ones (Claude Code sends JSON) become a stable hash."""
    if _PLAIN_USER.match(user_id):
        return user_id
    return "user-" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:32]


def _thinking_kept(messages: list[Message], context: ContextManagement | None) -> frozenset[int] | None:
    """Honour a clear_thinking edit: only the last N assistant turns keep their reasoning."""
    if context is None:
        return None
    for edit in context.edits:
        if not edit.type.startswith("clear_thinking"):
            continue
        keep = edit.keep
        if keep == "all":
            return None
        turns = keep.get("value", 1) if isinstance(keep, dict) else 1
        assistant = [i for i, m in enumerate(messages) if m.role == "assistant"]
        return frozenset(assistant[-turns:]) if isinstance(turns, int) and turns > 0 else frozenset()
    return None


def _tool_parameters(tool: Tool, profile: ProviderProfile) -> dict[str, Any]:
    schema = ensure_object_schema(tool.input_schema or {})
    return gemini_schema(schema) if profile.schema_dialect == "gemini" else schema


def _add_tools(body: ChatRequest, request: MessagesRequest, route: Route, names: ToolNames, notes: list[str]) -> None:
    if not request.tools:
        return
    profile = route.provider.profile
    loaded = loaded_tool_names(request.messages) if any(t.defer_loading for t in request.tools) else set()
    tools: list[FunctionTool] = []
    for tool in request.tools:
        if not tool.is_client_tool:
            notes.append(f"left out server tool {tool.name!r} ({tool.type}): no upstream equivalent")
            continue
        if tool.defer_loading and tool.name not in loaded:
            continue
        name = names.upstream(tool.name)
        function: Function = {"name": name, "parameters": _tool_parameters(tool, profile)}
        description = _description(tool) if name != tool.name else tool.description
        if description:
            function["description"] = description
        tools.append({"type": "function", "function": function})
    if not tools:
        return
    if route.facts.tool_calling is False:
        raise TargetUnfit(
            "invalid_request_error",
            f"{route.label} cannot call tools, and this request offers {len(tools)}: route requests with tools "
            "to a model that calls them (a [[routes]] entry, a fallback, or [models] tool_calling = true if the "
            "model facts are wrong)",
            status=400,
        )
    body["tools"] = tools
    offered = {t["function"]["name"] for t in tools}
    server_tools = {tool.name for tool in request.tools if not tool.is_client_tool}
    choice = _tool_choice(request.tool_choice, names, offered, server_tools, notes)
    if choice is not None:
        body["tool_choice"] = choice
    tool_choice = request.tool_choice
    if tool_choice and tool_choice.disable_parallel_tool_use and not profile.rejects_parallel_tool_calls(route.facts):
        body["parallel_tool_calls"] = False


def _description(tool: Tool) -> str:
    """A shortened tool keeps its full name in its description: the model may know it by that name."""
    original = f"(Full tool name: {tool.name})"
    return f"{tool.description}\n\n{original}" if tool.description else original


def _tool_choice(
    choice: ToolChoice | None, names: ToolNames, offered: set[str], server_tools: set[str], notes: list[str]
) -> UpstreamToolChoice | None:
    if choice is None:
        return None
    match choice.type:
        case "any":
            return "required"
        case "tool":
            if not choice.name:
                return None
            if choice.name in server_tools:
                # The server tool is not offered upstream; forcing some other tool would be wrong.
                notes.append(f"tool_choice named server tool {choice.name!r}, which is left out: sent auto")
                return "auto"
            name = names.upstream(choice.name)
            return {"type": "function", "function": {"name": name}} if name in offered else "required"
        case "auto" | "none":
            return choice.type
        case unreachable:
            assert_never(unreachable)


def _add_output_format(body: ChatRequest, request: MessagesRequest) -> None:
    output_format = request.output_config.format if request.output_config else None
    if output_format is None or output_format.type != "json_schema" or output_format.schema is None:
        return
    body["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": output_format.schema},
    }


def _effort(request: MessagesRequest) -> str | None:
    thinking = request.thinking
    if thinking is None or thinking.type == "disabled":
        return None
    if request.output_config and request.output_config.effort:
        return _EFFORTS.get(request.output_config.effort.lower(), "medium")
    if thinking.type == "enabled" and thinking.budget_tokens:
        budget = thinking.budget_tokens
        return "low" if budget <= 4096 else "medium" if budget <= 16384 else "high"
    return None


def _add_reasoning(body: ChatRequest, request: MessagesRequest, route: Route) -> None:
    profile = route.provider.profile
    if request.thinking is None or request.thinking.type == "disabled" or not profile.accepts_reasoning(route.facts):
        return
    effort = route.overrides.reasoning_effort or _effort(request)
    if profile.reasoning_style == "openrouter":
        if effort:
            body["reasoning"] = {"effort": effort}
        elif request.thinking.budget_tokens:
            body["reasoning"] = {"max_tokens": request.thinking.budget_tokens}
        else:
            body["reasoning"] = {"enabled": True}
    elif profile.reasoning_style == "effort" and effort:
        body["reasoning_effort"] = profile.effort_for(route.model, effort)
