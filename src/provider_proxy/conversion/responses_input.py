"""Anthropic message history -> Responses API `input` items (pure).

- user text, images and documents -> a `message` item with `input_text`, `input_image`, `input_file`
  parts; assistant text -> an assistant `message` item whose content is the text (consecutive text
  blocks joined); role-"system" messages stay system messages where they are.
- assistant `tool_use` -> a `function_call` item (the tool_use id is the `call_id`); user
  `tool_result` -> a `function_call_output` item with that `call_id` (text, or text and images as a
  list). A call whose result never came is answered with a note, as the Responses API wants an output
  for every call; a result naming no known call becomes user text.
- assistant `thinking` blocks that this proxy signed with a reasoning item's encrypted content ->
  that `reasoning` item again, in its place, so a reasoning model keeps its chain across turns.
  Thinking from anywhere else has nothing the provider could verify and is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from provider_proxy.conversion.messages import IMAGE_OMITTED, NO_RESULT
from provider_proxy.conversion.signatures import read_thinking_signature, split_thought_signature
from provider_proxy.conversion.tools import ToolNames
from provider_proxy.models.anthropic import (
    Base64Source,
    ContentBlock,
    ContentSource,
    DocumentBlock,
    ImageBlock,
    Message,
    SearchResultBlock,
    TextBlock,
    TextSource,
    ThinkingBlock,
    ToolReferenceBlock,
    ToolResultBlock,
    ToolResultPart,
    ToolUseBlock,
    URLSource,
)
from provider_proxy.models.openai_responses_request import (
    FunctionCall,
    InputItem,
    InputPart,
    InputText,
    ReasoningItem,
    SummaryText,
)


@dataclass(slots=True)
class InputOptions:
    names: ToolNames
    # Indexes of assistant messages whose reasoning may be replayed (None: all of them).
    keep_thinking: frozenset[int] | None = None
    # False for a model that cannot see images: each one becomes a note saying it was left out.
    images: bool = True
    notes: list[str] = field(default_factory=list)
    omitted_images: int = 0


def _text(text: str) -> InputText:
    return {"type": "input_text", "text": text}


def _image(block: ImageBlock) -> InputPart:
    source = block.source
    if isinstance(source, Base64Source):
        return {"type": "input_image", "image_url": f"data:{source.media_type};base64,{source.data}", "detail": "auto"}
    if isinstance(source, URLSource):
        return {"type": "input_image", "image_url": source.url, "detail": "auto"}
    return _text(f"[image from Anthropic file {source.file_id} is not available here]")


def _document(block: DocumentBlock) -> InputPart:
    """Text documents as text; a PDF as an `input_file` (base64 data, or its URL for the provider to
    fetch: the proxy never fetches it)."""
    source = block.source
    title = block.title or "document"
    filename = title if title.endswith(".pdf") else f"{title}.pdf"
    if isinstance(source, TextSource):
        return _text(f"<document title={title!r}>\n{source.data}\n</document>")
    if isinstance(source, ContentSource):
        content = source.content
        body = content if isinstance(content, str) else "\n".join(str(part.get("text", "")) for part in content)
        return _text(f"<document title={title!r}>\n{body}\n</document>")
    if isinstance(source, Base64Source):
        return {
            "type": "input_file",
            "filename": filename,
            "file_data": f"data:{source.media_type};base64,{source.data}",
        }
    if isinstance(source, URLSource):
        return {"type": "input_file", "file_url": source.url}
    return _text(f"[document from Anthropic file {source.file_id} is not available here]")


def _search_result(block: SearchResultBlock) -> InputText:
    body = "\n".join(part.text for part in block.content)
    return _text(f"<search_result source={block.source!r} title={block.title!r}>\n{body}\n</search_result>")


class _InputBuilder:
    def __init__(self, options: InputOptions) -> None:
        self.options = options
        self.out: list[InputItem] = []
        # Calls of the latest assistant turn still waiting for a result: (the id the client knows, the
        # call_id sent upstream), which differ when the client's history repeats an id in one turn.
        self.pending: list[tuple[str, str]] = []

    def add(self, index: int, message: Message) -> None:
        blocks: list[ContentBlock] = (
            [TextBlock(text=message.content)] if isinstance(message.content, str) else message.content
        )
        if message.role == "assistant":
            self.answer_pending({})
            self.assistant(index, blocks)
        elif message.role == "system":
            parts: list[InputPart] = [_text(b.text) for b in blocks if isinstance(b, TextBlock) and b.text]
            if parts:
                self.out.append({"type": "message", "role": "system", "content": parts})
        else:
            self.user(blocks)

    # -- assistant turns --

    def assistant(self, index: int, blocks: list[ContentBlock]) -> None:
        replay = self.options.keep_thinking is None or index in self.options.keep_thinking
        texts: list[str] = []
        used: set[str] = set()
        for block in blocks:
            if isinstance(block, TextBlock):
                if block.text:
                    texts.append(block.text)
                continue
            self.flush_text(texts)
            if isinstance(block, ToolUseBlock):
                self.out.append(self.function_call(block, used))
            elif isinstance(block, ThinkingBlock) and replay:
                item = _reasoning_item(block)
                if item is not None:
                    self.out.append(item)
        self.flush_text(texts)

    def flush_text(self, texts: list[str]) -> None:
        if texts:
            self.out.append({"type": "message", "role": "assistant", "content": "".join(texts)})
            texts.clear()

    def function_call(self, block: ToolUseBlock, used: set[str]) -> FunctionCall:
        key, _ = split_thought_signature(block.id)
        call_id, n = key, 1
        while call_id in used:
            n += 1
            call_id = f"{key}_{n}"
        used.add(call_id)
        self.pending.append((key, call_id))
        return {
            "type": "function_call",
            "call_id": call_id,
            "name": self.options.names.upstream(block.name),
            "arguments": orjson.dumps(block.input).decode("utf-8"),
        }

    # -- user turns --

    def user(self, blocks: list[ContentBlock]) -> None:
        parts: list[InputPart] = []
        results: dict[str, str | list[InputPart]] = {}
        for block in blocks:
            if not isinstance(block, ToolResultBlock):
                parts.extend(self.user_part(block))
                continue
            output = self.tool_output(block)
            key, _ = split_thought_signature(block.tool_use_id)
            slot = next((sent for known, sent in self.pending if known == key and sent not in results), None)
            if slot is not None:
                results[slot] = output
            else:
                text = (
                    output
                    if isinstance(output, str)
                    else "\n".join(p["text"] for p in output if p["type"] == "input_text")
                )
                parts.append(_text(f"[result of tool call {block.tool_use_id}]\n{text}"))
        self.answer_pending(results)
        if parts:
            self.out.append({"type": "message", "role": "user", "content": parts})

    def answer_pending(self, results: dict[str, str | list[InputPart]]) -> None:
        """One output per call of the last assistant turn, in the order the calls were made."""
        missing = [sent for _, sent in self.pending if sent not in results]
        if missing:
            self.options.notes.append(f"answered {len(missing)} tool call(s) that had no result")
        for _, sent in self.pending:
            self.out.append({"type": "function_call_output", "call_id": sent, "output": results.get(sent, NO_RESULT)})
        self.pending = []

    def user_part(self, block: ContentBlock) -> list[InputPart]:
        if isinstance(block, TextBlock):
            return [_text(block.text)] if block.text else []
        if isinstance(block, ImageBlock):
            return [self.image(block)]
        if isinstance(block, DocumentBlock):
            return [_document(block)]
        if isinstance(block, SearchResultBlock):
            return [_search_result(block)]
        # thinking or a tool_use in a user turn: nothing the upstream can use.
        return []

    def image(self, block: ImageBlock) -> InputPart:
        if not self.options.images:
            self.options.omitted_images += 1
            return _text(IMAGE_OMITTED)
        return _image(block)

    def tool_output(self, block: ToolResultBlock) -> str | list[InputPart]:
        """A tool result's text, or its text and images as a list of parts."""
        content = block.content
        parts: list[InputPart] = []
        if isinstance(content, str):
            parts.append(_text(content))
        elif content:
            parts.extend(self.result_part(part) for part in content)
        if block.is_error:
            first = parts[0] if parts else None
            if first is not None and first["type"] == "input_text":
                parts[0] = _text(f"Error: {first['text']}")
            else:
                parts.insert(0, _text("Error"))
        if all(part["type"] == "input_text" for part in parts):
            return "\n".join(part["text"] for part in parts if part["type"] == "input_text")
        return parts

    def result_part(self, part: ToolResultPart) -> InputPart:
        if isinstance(part, TextBlock):
            return _text(part.text)
        if isinstance(part, ImageBlock):
            return self.image(part)
        if isinstance(part, DocumentBlock):
            return _document(part)
        if isinstance(part, ToolReferenceBlock):
            # The name the model was offered (a long MCP name is shortened), so it can call it.
            return _text(f"Tool {self.options.names.upstream(part.tool_name)} is now available.")
        return _search_result(part)


def _reasoning_item(block: ThinkingBlock) -> ReasoningItem | None:
    payload = read_thinking_signature(block.signature)
    encrypted = payload.get("enc") if payload else None
    if not isinstance(encrypted, str) or not encrypted:
        return None
    summary: list[SummaryText] = [{"type": "summary_text", "text": block.thinking}] if block.thinking else []
    return {"type": "reasoning", "summary": summary, "encrypted_content": encrypted}


def convert_input(messages: Sequence[Message], options: InputOptions) -> list[InputItem]:
    builder = _InputBuilder(options)
    for index, message in enumerate(messages):
        builder.add(index, message)
    builder.answer_pending({})
    return builder.out
