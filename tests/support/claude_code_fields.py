"""What the proxy knows of Claude Code's request shape: every field is translated or knowingly dropped."""

from __future__ import annotations

TRANSLATED_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "metadata",
        "max_tokens",
        "thinking",
        "output_config",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "context_management",
    }
)
# Known and deliberately not sent upstream: no OpenAI-compatible equivalent.
DROPPED_FIELDS = frozenset({"container", "mcp_servers", "service_tier", "speed", "diagnostics"})
ACCOUNTED_FIELDS = TRANSLATED_FIELDS | DROPPED_FIELDS
# Tool fields: translated (name, description, input_schema), used (defer_loading, type; max_uses and the
# domain lists of the web search server tool) or dropped.
TOOL_FIELDS = frozenset(
    {
        "name",
        "description",
        "input_schema",
        "type",
        "defer_loading",
        "cache_control",
        "strict",
        "eager_input_streaming",
        "max_uses",
        "allowed_domains",
        "blocked_domains",
    }
)
THINKING_FIELDS = frozenset({"type", "budget_tokens", "display"})
OUTPUT_CONFIG_FIELDS = frozenset({"effort", "format"})
