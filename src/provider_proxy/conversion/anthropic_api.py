"""The Anthropic Messages API as an upstream (`api = "anthropic"`: Anthropic itself, and the compatible
endpoints of DeepSeek, Moonshot, Z.ai, MiniMax, OpenRouter...). See `conversion.upstream_api`.

Nothing is translated: the client's own JSON goes upstream with the route's model, the route's
output limit and overrides, and without what the provider's profile says it rejects (top-level
`drop_fields`, `anthropic-beta` values outside `betas`). Thinking blocks that this proxy signed (for
another provider, earlier in the session) are left out: no Anthropic endpoint could verify them. The
answer comes back as the provider wrote it, with the model the client asked for; the stream is
relayed event by event (`conversion.anthropic_stream`). Errors are already in Anthropic's shape:
their type and status are kept and their message redacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final

import orjson

from provider_proxy.config.provider import Provider, Route
from provider_proxy.conversion.anthropic_stream import AnthropicRelay, anthropic_failure, usage_from
from provider_proxy.conversion.chat_api import provider_headers, status_error
from provider_proxy.conversion.stream_pipeline import closed_at_once
from provider_proxy.conversion.upstream_api import ClientRequest, Headers, Reply, as_utf8
from provider_proxy.errors import UpstreamError, context_length_error, not_an_answer, relayable_retry_after
from provider_proxy.providers.profiles import ProviderProfile
from provider_proxy.utils.sse import LineTooLong, SSEDecoder

ANTHROPIC_VERSION: Final = "2023-06-01"
_API_HEADERS: Final = (("anthropic-version", ANTHROPIC_VERSION),)
# The prefix of the thinking signatures this proxy issues (`conversion.signatures`), as it sits in JSON.
_OWN_SIGNATURE: Final = b'"ppx1.'
_SIGNATURE_PREFIX: Final = "ppx1."
_MIN_THINKING_BUDGET: Final = 1024


@dataclass(slots=True)
class AnthropicCall:
    """The client's request as one Anthropic-API target takes it."""

    body: bytes
    requested: str
    headers: Headers = ()
    notes: tuple[str, ...] = ()


def messages_url(provider: Provider) -> str:
    """`/v1/messages` under the base URL, which may or may not end in `/v1` (Anthropic's SDKs and Claude
    Code take it without: `https://api.deepseek.com/anthropic`)."""
    base = provider.base_url
    return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"


def relayed_betas(header: str, allowed: tuple[str, ...] | None, notes: list[str]) -> Headers:
    """The `anthropic-beta` header the provider may see: every value, none, or those its profile allows."""
    if not header:
        return ()
    if allowed is None:
        return (("anthropic-beta", header),)
    values = [value.strip() for value in header.split(",") if value.strip()]
    kept = [value for value in values if any(fnmatchcase(value, pattern) for pattern in allowed)]
    if len(kept) < len(values):
        notes.append(f"left out anthropic-beta {', '.join(v for v in values if v not in kept)}: not for this provider")
    return (("anthropic-beta", ",".join(kept)),) if kept else ()


def _without_own_thinking(messages: Any, notes: list[str]) -> Any:
    """The history without the thinking blocks this proxy signed; copies only what changes."""
    if not isinstance(messages, list):
        return messages
    kept_messages: list[Any] = []
    removed = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or message.get("role") != "assistant":
            kept_messages.append(message)
            continue
        blocks = [block for block in content if not _own_thinking(block)]
        removed += len(content) - len(blocks)
        if len(blocks) < len(content):
            message = {**message, "content": blocks or [{"type": "text", "text": "(no content)"}]}
        kept_messages.append(message)
    if removed:
        notes.append(f"left out {removed} thinking block(s) another provider wrote (their signatures are the proxy's)")
    return kept_messages


def _own_thinking(block: Any) -> bool:
    if not isinstance(block, dict) or block.get("type") != "thinking":
        return False
    signature = block.get("signature")
    return isinstance(signature, str) and signature.startswith(_SIGNATURE_PREFIX)


def _fit_thinking(body: dict[str, Any], limit: int, notes: list[str]) -> None:
    """Anthropic wants `thinking.budget_tokens` below `max_tokens`: a budget the lowered limit no longer
    leaves room for is lowered with it (or thinking is turned off when under its minimum)."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or not isinstance(thinking.get("budget_tokens"), int):
        return
    if thinking["budget_tokens"] < limit:
        return
    if limit - 1 < _MIN_THINKING_BUDGET:
        del body["thinking"]
        notes.append(f"turned thinking off: max_tokens {limit} leaves no room for a thinking budget")
        return
    body["thinking"] = {**thinking, "budget_tokens": limit - 1}
    notes.append(f"lowered the thinking budget to {limit - 1} (max_tokens {limit})")


def _passed_on(data: dict[str, Any], raw: bytes, profile: ProviderProfile, notes: list[str]) -> dict[str, Any]:
    """A copy of the client's body without what the provider rejects (and the proxy's own thinking)."""
    body = dict(data)
    for name in profile.drop_fields:
        if body.pop(name, None) is not None:
            notes.append(f"left out {name}: the provider does not take it")
    if _OWN_SIGNATURE in raw and "messages" in body:
        body["messages"] = _without_own_thinking(body["messages"], notes)
    return body


def prepare_body(request: ClientRequest, route: Route) -> AnthropicCall:
    profile = route.provider.profile
    notes: list[str] = []
    body = _passed_on(request.json(), request.raw, profile, notes)
    body["model"] = route.model
    overrides = route.overrides
    limit = min(overrides.max_tokens or request.typed.max_tokens, route.max_output_tokens)
    if limit != request.typed.max_tokens:
        body["max_tokens"] = limit
        _fit_thinking(body, limit, notes)
    if overrides.temperature is not None:
        body["temperature"] = overrides.temperature
    headers = relayed_betas(request.betas, profile.betas, notes)
    return AnthropicCall(orjson.dumps(body), request.typed.model, headers, tuple(notes))


def count_tokens_call(data: dict[str, Any], raw: bytes, betas: str, route: Route) -> tuple[str, AnthropicCall]:
    """The URL and request that ask the provider to count a `count_tokens` body for the routed model."""
    profile = route.provider.profile
    notes: list[str] = []
    body = _passed_on(data, raw, profile, notes)
    body["model"] = route.model
    headers = relayed_betas(betas, profile.betas, notes)
    call = AnthropicCall(orjson.dumps(body), str(data.get("model", "")), headers, tuple(notes))
    return messages_url(route.provider) + "/count_tokens", call


def counted_tokens(raw: bytes) -> int | None:
    """`input_tokens` of a count_tokens answer, or None when the answer is not one."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    count = data.get("input_tokens") if isinstance(data, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None


def anthropic_error(status: int, raw: bytes, headers: dict[str, str], secrets: tuple[str, ...]) -> UpstreamError | None:
    """An error body in Anthropic's shape, with its type, the provider's status and its message
    (redacted); None when the body is not in that shape."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type") != "error":
        return None
    failure = anthropic_failure(data, secrets, status)
    if failure is None:
        return None
    retry_after = relayable_retry_after(headers.get("retry-after"))
    if retry_after:
        failure.headers = {"retry-after": retry_after}
    return failure


def _json_answer(raw: bytes) -> Any:
    """The answer's JSON (bytes that are not UTF-8 as replacement characters), or None."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        replaced = as_utf8(raw)
        return None if replaced is None else _json_answer(replaced)


class AnthropicMessagesApi:
    def url(self, provider: Provider, model: str) -> str:
        return messages_url(provider)

    def headers(self, provider: Provider) -> dict[str, str]:
        return provider_headers(provider, _API_HEADERS)

    def prepare(self, request: ClientRequest, route: Route) -> AnthropicCall:
        return prepare_body(request, route)

    def decode(self, raw: bytes, prepared: AnthropicCall, secrets: tuple[str, ...]) -> Reply:
        data = _json_answer(raw)
        if isinstance(data, dict) and data.get("type") == "error":
            failure = anthropic_failure(data, secrets, None)
            if failure is not None:
                raise failure
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise not_an_answer("an Anthropic message", raw, secrets)
        data["model"] = prepared.requested
        stop_reason = data.get("stop_reason")
        return Reply(
            orjson.dumps(data), usage_from(data.get("usage")), stop_reason if isinstance(stop_reason, str) else None
        )

    def relay(self, prepared: AnthropicCall, secrets: tuple[str, ...], label: str) -> AnthropicRelay:
        return AnthropicRelay(prepared.requested, secrets, label)

    def failure_at_start(self, raw: bytes, secrets: tuple[str, ...]) -> UpstreamError | None:
        """An `error` event before the answer began (an overloaded provider says so at once)."""
        if not raw:
            return closed_at_once()
        if b"error" not in raw:
            return None
        try:
            events = SSEDecoder().feed(raw)
        except LineTooLong:
            return None  # the relay reports it
        for sse in events:
            if sse.event == "error":
                try:
                    data = orjson.loads(sse.data)
                except orjson.JSONDecodeError:
                    data = {}
                return anthropic_failure(data, secrets, None) or UpstreamError(
                    "api_error", "Upstream provider failed at the start of the stream", status=502, retryable=True
                )
        return None

    def error(
        self, status: int, raw: bytes, headers: dict[str, str], secrets: tuple[str, ...], sent: int
    ) -> UpstreamError:
        too_long = context_length_error(raw.decode("utf-8", "replace"), sent // 4)
        if too_long is not None:
            return too_long
        if status >= 400:
            failure = anthropic_error(status, raw, headers, secrets)
            if failure is not None:
                return failure
        return status_error(status, raw, headers, secrets, sent)
