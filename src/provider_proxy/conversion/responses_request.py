"""Anthropic Messages request -> OpenAI Responses API request (pure), for providers with
`api = "responses"`.

- `system` -> `instructions`; the history -> `input` items (`conversion.responses_input`).
- `max_tokens` -> `max_output_tokens`; `temperature`, `top_p` pass (not to OpenAI's reasoning
  models, which refuse them); `top_k` has no equivalent and is left out.
- `stop_sequences`: the Responses API has no `stop`; they are left out with a note.
- tools -> flat function tools (`strict: false`: Claude Code's schemas are not written for strict
  mode); `tool_choice` auto/any/tool/none -> auto/required/{function}/none;
  `disable_parallel_tool_use` -> `parallel_tool_calls: false`.
- thinking -> `reasoning: {effort, summary: "auto"}`. Nothing is stored at the provider
  (`store: false`); for a reasoning model the answer's reasoning comes back encrypted
  (`include: ["reasoning.encrypted_content"]`) and rides in the thinking block's signature, so the
  next turn replays it.
- `metadata.user_id` -> `safety_identifier` where OpenAI's rules apply, else `user` (hashed when long).
- `output_config.format` (JSON schema) -> `text.format`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from provider_proxy.config.provider import Route
from provider_proxy.conversion.messages import loaded_tool_names
from provider_proxy.conversion.request import (
    _description,
    _effort,
    _system_text,
    _thinking_kept,
    _tool_parameters,
    _user_field,
)
from provider_proxy.conversion.responses_input import InputOptions, convert_input
from provider_proxy.conversion.tools import ToolNames
from provider_proxy.errors import TargetUnfit
from provider_proxy.models.anthropic import MessagesRequest, Tool, ToolChoice
from provider_proxy.models.openai_responses_request import FunctionTool, Reasoning, ResponsesRequest, WebSearchTool
from provider_proxy.models.openai_responses_request import ToolChoice as UpstreamToolChoice

ENCRYPTED_REASONING = "reasoning.encrypted_content"
SEARCH_SOURCES = "web_search_call.action.sources"


@dataclass(frozen=True, slots=True)
class ResponsesTranslation:
    """The upstream request and what the answer's translation needs to map back."""

    body: ResponsesRequest
    names: ToolNames
    notes: tuple[str, ...]


def to_responses(request: MessagesRequest, route: Route) -> ResponsesTranslation:
    profile, facts = route.provider.profile, route.facts
    notes: list[str] = []
    names = ToolNames(tool.name for tool in request.tools or ())
    options = InputOptions(
        names=names,
        keep_thinking=_thinking_kept(request.messages, request.context_management),
        images=facts.vision is not False,
        notes=notes,
    )
    body: ResponsesRequest = {"model": route.model, "input": convert_input(request.messages, options), "store": False}
    if options.omitted_images:
        notes.append(f"left out {options.omitted_images} image(s): {route.label} cannot see images")
    system = _system_text(request.system)
    if system:
        body["instructions"] = system
    overrides = route.overrides
    body["max_output_tokens"] = min(overrides.max_tokens or request.max_tokens, route.max_output_tokens)
    restricted = profile.restricts_sampling(facts)
    temperature = request.temperature if overrides.temperature is None else overrides.temperature
    if temperature is not None and not restricted:
        body["temperature"] = temperature
    if request.top_p is not None and not restricted:
        body["top_p"] = request.top_p
    if request.stop_sequences:
        notes.append("dropped stop_sequences: the Responses API has no `stop`")
    if request.metadata and request.metadata.user_id and profile.supports_user:
        user = _user_field(request.metadata.user_id)
        if profile.openai_rules(facts):
            body["safety_identifier"] = user
        else:
            body["user"] = user
    _add_tools(body, request, route, names, notes)
    _add_reasoning(body, request, route)
    output_format = request.output_config.format if request.output_config else None
    if output_format is not None and output_format.type == "json_schema" and output_format.schema is not None:
        body["text"] = {
            "format": {"type": "json_schema", "name": "output", "schema": output_format.schema, "strict": False}
        }
    if request.stream:
        body["stream"] = True
    return ResponsesTranslation(body, names, tuple(notes))


def _add_tools(
    body: ResponsesRequest, request: MessagesRequest, route: Route, names: ToolNames, notes: list[str]
) -> None:
    if not request.tools:
        return
    profile = route.provider.profile
    loaded = loaded_tool_names(request.messages) if any(t.defer_loading for t in request.tools) else set()
    tools: list[FunctionTool | WebSearchTool] = []
    native: set[str] = set()
    for tool in request.tools:
        if not tool.is_client_tool:
            hosted = _hosted_search(tool, profile.native_web_search, body, notes)
            if hosted is None:
                notes.append(f"left out server tool {tool.name!r} ({tool.type}): no upstream equivalent")
            else:
                tools.append(hosted)
                native.add(tool.name)
            continue
        if tool.defer_loading and tool.name not in loaded:
            continue
        name = names.upstream(tool.name)
        function: FunctionTool = {
            "type": "function",
            "name": name,
            "parameters": _tool_parameters(tool, profile),
            "strict": False,
        }
        description = _description(tool) if name != tool.name else tool.description
        if description:
            function["description"] = description
        tools.append(function)
    if not tools:
        return
    if route.facts.tool_calling is False and not native:
        raise TargetUnfit(
            "invalid_request_error",
            f"{route.label} cannot call tools, and this request offers {len(tools)}: route requests with tools "
            "to a model that calls them (a [[routes]] entry, a fallback, or [models] tool_calling = true if the "
            "model facts are wrong)",
            status=400,
        )
    body["tools"] = tools
    offered = {tool["name"] for tool in tools if tool["type"] == "function"}
    server_tools = {tool.name for tool in request.tools if not tool.is_client_tool}
    choice = _tool_choice(request.tool_choice, names, offered, server_tools, notes)
    if choice is not None:
        body["tool_choice"] = choice
    tool_choice = request.tool_choice
    if tool_choice and tool_choice.disable_parallel_tool_use and not profile.rejects_parallel_tool_calls(route.facts):
        body["parallel_tool_calls"] = False


def _hosted_search(tool: Tool, native: bool, body: ResponsesRequest, notes: list[str]) -> WebSearchTool | None:
    """The provider's own web search for Anthropic's web search server tool, where it has one; its
    sources are asked for (they become the `web_search_result`s the client sees)."""
    if not native or not (tool.type or "").startswith("web_search_"):
        return None
    hosted: WebSearchTool = {"type": "web_search"}
    if tool.blocked_domains:
        notes.append("web search: the provider's search takes no blocked_domains; they are left out")
    if tool.allowed_domains:
        hosted["filters"] = {"allowed_domains": list(tool.allowed_domains)}
    body["include"] = [*body.get("include", []), SEARCH_SOURCES]
    return hosted


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
                notes.append(f"tool_choice named server tool {choice.name!r}, which cannot be forced: sent auto")
                return "auto"
            name = names.upstream(choice.name)
            return {"type": "function", "name": name} if name in offered else "required"
        case "auto" | "none":
            return choice.type
        case unreachable:
            assert_never(unreachable)


def _add_reasoning(body: ResponsesRequest, request: MessagesRequest, route: Route) -> None:
    """A model that thinks gets its reasoning back encrypted (to replay it on the next turn; models
    that do not think refuse the `include`); the effort and a summary (shown as the thinking text)
    are asked for when the client asked for thinking and the model takes a reasoning control."""
    facts = route.facts
    asked = request.thinking is not None and request.thinking.type != "disabled"
    thinks = facts.thinking if facts.thinking is not None else facts.reasoning
    if thinks is False or (thinks is None and not asked):
        return
    body["include"] = [*body.get("include", []), ENCRYPTED_REASONING]
    if not asked or facts.reasoning is False:
        return
    reasoning: Reasoning = {"summary": "auto"}
    effort = route.overrides.reasoning_effort or _effort(request)
    if effort:
        reasoning["effort"] = effort
    body["reasoning"] = reasoning
