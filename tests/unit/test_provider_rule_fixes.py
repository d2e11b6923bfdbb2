"""Translation fixes found by running the request corpus through the rule-enforcing fakes: each body
here broke a provider's published rule before the fix (the rule is named in the test)."""

from __future__ import annotations

from typing import Any

import msgspec

from provider_proxy.conversion.request import Translation, to_openai
from provider_proxy.errors import error_detail
from provider_proxy.models.anthropic import MessagesRequest
from tests.support.provider_rules import RULES, Sent
from tests.unit.golden import route_for

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def translate(kind: str, model: str, **fields: Any) -> Translation:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 1000, "messages": [{"role": "user", "content": "Hi"}]}
    request = msgspec.convert({**body, **fields}, MessagesRequest)
    return to_openai(request, route_for({"kind": kind, "model": model}, request.model))


def broken_rules(kind: str, body: Any) -> list[str]:
    return RULES[kind].violations(Sent("/v1/chat/completions", {}, {"authorization": "Bearer k"}, body))


def test_streaming_to_mistral_sends_no_stream_options_which_its_schema_forbids() -> None:
    body = translate("mistral", "mistral-large-latest", stream=True).body
    assert body["stream"] is True and "stream_options" not in body
    assert broken_rules("mistral", body) == []


def test_groq_qwen3_gets_the_one_reasoning_effort_it_takes() -> None:
    thinking = {"type": "enabled", "budget_tokens": 20000}
    qwen = translate("groq", "qwen/qwen3-32b", thinking=thinking).body
    assert qwen["reasoning_effort"] == "default"
    assert broken_rules("groq", qwen) == []
    gpt_oss = translate("groq", "openai/gpt-oss-120b", thinking=thinking).body
    assert gpt_oss["reasoning_effort"] == "high"


def test_xai_reasoning_models_get_no_stop_sequences_and_the_log_says_so() -> None:
    translation = translate("xai", "grok-4", stop_sequences=["END"])
    assert "stop" not in translation.body
    assert any("stop_sequences" in note for note in translation.notes)
    assert broken_rules("xai", translation.body) == []
    assert translate("xai", "grok-4-fast-non-reasoning", stop_sequences=["END"]).body["stop"] == ["END"]


def test_a_pdf_is_left_out_with_a_note_where_the_provider_takes_no_pdf_files() -> None:
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
    content = [pdf, {"type": "text", "text": "Summarise it."}]
    for kind, model in (("deepseek", "deepseek-chat"), ("mistral", "mistral-large-latest")):
        translation = translate(kind, model, messages=[{"role": "user", "content": content}])
        sent = translation.body["messages"][0]["content"]
        assert isinstance(sent, str) and "was not sent: this provider does not take PDF files" in sent
        assert any("PDF" in note for note in translation.notes)
        assert broken_rules(kind, translation.body) == []
    kept = translate("openai", "gpt-4.1", messages=[{"role": "user", "content": content}]).body
    assert kept["messages"][0]["content"][0]["type"] == "file"


def test_a_screenshot_from_a_tool_joins_the_tool_message_where_no_user_message_may_follow_one() -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": "Screenshot", "input": {}}
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "Taken"}, image]}
    messages = [
        {"role": "user", "content": "Look at the page"},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result, {"type": "text", "text": "What do you see?"}]},
    ]
    tools = [{"name": "Screenshot", "input_schema": {"type": "object"}}]
    body = translate("mistral", "pixtral-large-latest", messages=messages, tools=tools).body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool"]
    parts = body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "text", "image_url", "text"]
    assert broken_rules("mistral", body) == []


def test_a_validation_report_from_the_provider_names_the_refused_field() -> None:
    mistral = {
        "object": "error",
        "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "stream_options"], "msg": "Extra inputs"}]},
        "type": "invalid_request_error",
    }
    assert error_detail(msgspec.json.encode(mistral)) == "body.stream_options: Extra inputs"
    fastapi = {"detail": [{"loc": ["body", "n"], "msg": "bad"}, {"loc": [], "msg": "worse"}]}
    assert error_detail(msgspec.json.encode(fastapi)) == "body.n: bad; worse"


def test_a_prefill_is_marked_as_a_prefix_for_mistral_which_refuses_an_assistant_message_last() -> None:
    prefill = [{"role": "user", "content": "Write JSON"}, {"role": "assistant", "content": "{"}]
    body = translate("mistral", "mistral-large-latest", messages=prefill).body
    assert body["messages"][-1] == {"role": "assistant", "content": "{", "prefix": True}
    assert broken_rules("mistral", body) == []
    assert "prefix" not in translate("openai", "gpt-4.1", messages=prefill).body["messages"][-1]


def test_openrouter_and_xai_get_at_most_four_stop_sequences() -> None:
    stops = ["a", "b", "c", "d", "e", "f"]
    for kind, model in (("openrouter", "qwen/qwen3-coder"), ("xai", "grok-4-fast-non-reasoning")):
        translation = translate(kind, model, stop_sequences=stops)
        assert translation.body["stop"] == stops[:4]
        assert broken_rules(kind, translation.body) == []


def test_an_mcp_schema_with_defs_and_refs_reaches_gemini_inlined() -> None:
    node = {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}, "at": {"prefixItems": []}}}
    schema = {
        "type": "object",
        "properties": {
            "filter": {"$ref": "#/$defs/Filter", "description": "What to find"},
            "page": {"allOf": [{"$ref": "#/$defs/Page"}]},
            "mode": {"oneOf": [{"type": "string", "enum": ["fast"]}, {"type": "integer"}]},
            "tree": {"$ref": "#/$defs/Node"},
        },
        "$defs": {
            "Filter": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            "Page": {"type": "object", "properties": {"size": {"type": "integer"}}},
            "Node": node,
        },
    }
    tools = [{"name": "search", "input_schema": schema}]
    body = translate("gemini", "gemini-2.5-pro", tools=tools).body
    sent = body["tools"][0]["function"]["parameters"]
    assert broken_rules("gemini", body) == []
    assert sent["properties"]["filter"] == {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "description": "What to find",
    }
    assert sent["properties"]["page"] == {"type": "object", "properties": {"size": {"type": "integer"}}}
    assert [branch["type"] for branch in sent["properties"]["mode"]["anyOf"]] == ["string", "integer"]
    depth, tree = 0, sent["properties"]["tree"]
    while "properties" in tree:
        tree, depth = tree["properties"]["child"], depth + 1
    assert depth == 8 and tree == {"type": "object"}
    openai = translate("openai", "gpt-4.1", tools=tools).body["tools"][0]["function"]["parameters"]
    assert openai == schema
