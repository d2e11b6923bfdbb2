"""Anthropic conversation history -> OpenAI chat messages (pure).

Rules the providers enforce and this module keeps:
- every assistant `tool_calls` is answered by one `tool` message per call, right after it, in order;
- a `tool` message answers a call that exists (orphans become plain user text);
- text that shares a user turn with tool results follows the tool messages;
- images cannot ride in `tool` messages: they follow in a user message.

Prompt-caching breakpoints (`cache_control` on a text, image or tool_result block) are kept on the part
they mark for providers that honour them (`ProviderProfile.cache_control`): such a message keeps its
content as parts, and a marked tool result becomes one text part. Elsewhere they are dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from provider_proxy.conversion.signatures import (
    SKIP_THOUGHT_SIGNATURE,
    read_thinking_signature,
    split_thought_signature,
)
from provider_proxy.conversion.tools import ToolNames, alnum9_id
from provider_proxy.models.anthropic import (
    Base64Source,
    CacheControlled,
    ContentBlock,
    ContentSource,
    DocumentBlock,
    FileSource,
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
from provider_proxy.models.openai_request import (
    AssistantMessage,
    ChatMessage,
    ContentPart,
    ImagePart,
    TextPart,
    ToolCall,
)
from provider_proxy.providers.profiles import ProviderProfile

NO_RESULT = "(no result: the tool call was not completed)"


@dataclass(slots=True)
class HistoryOptions:
    profile: ProviderProfile
    names: ToolNames
    # Indexes of assistant messages whose thinking may be restored upstream (None: all of them).
    keep_thinking: frozenset[int] | None = None
    notes: list[str] = field(default_factory=list)
    # False for a model that cannot see images: each one becomes a note saying it was left out.
    images: bool = True
    # Images left out so far (for the request's log line).
    omitted_images: int = 0


def text_of(content: str | Sequence[TextBlock]) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(block.text for block in content)


def _text_part(text: str) -> TextPart:
    return {"type": "text", "text": text}


def _image_part(block: ImageBlock) -> ImagePart | TextPart:
    source = block.source
    if isinstance(source, Base64Source):
        return {"type": "image_url", "image_url": {"url": f"data:{source.media_type};base64,{source.data}"}}
    if isinstance(source, URLSource):
        return {"type": "image_url", "image_url": {"url": source.url}}
    return _text_part(f"[image from Anthropic file {source.file_id} is not available here]")


def _document_part(block: DocumentBlock, urls: bool, files: bool) -> ContentPart:
    """A document as the provider can take it; a PDF by URL is passed as a file URL only to providers
    that fetch one (the proxy never fetches it: clients could make it reach any address)."""
    source = block.source
    title = block.title or "document"
    if isinstance(source, TextSource):
        return _text_part(f"<document title={title!r}>\n{source.data}\n</document>")
    if isinstance(source, ContentSource):
        body = source.content if isinstance(source.content, str) else _flatten_raw(source.content)
        return _text_part(f"<document title={title!r}>\n{body}\n</document>")
    if isinstance(source, Base64Source):
        if not files:
            return _text_part(f"[document {title!r} {FILE_DOCUMENT_NOT_SENT}]")
        filename = title if title.endswith(".pdf") else f"{title}.pdf"
        data = f"data:{source.media_type};base64,{source.data}"
        return {"type": "file", "file": {"filename": filename, "file_data": data}}
    if isinstance(source, URLSource):
        if urls:
            filename = title if title.endswith(".pdf") else f"{title}.pdf"
            return {"type": "file", "file": {"filename": filename, "file_data": source.url}}
        return _text_part(f"[document {title!r} ({source.url}) {URL_DOCUMENT_NOT_SENT}]")
    assert isinstance(source, FileSource)
    return _text_part(f"[document from Anthropic file {source.file_id} is not available here]")


def _flatten_raw(parts: list[dict[str, Any]]) -> str:
    return "\n".join(str(part.get("text", "")) for part in parts if isinstance(part, dict))


def _search_result_text(block: SearchResultBlock) -> str:
    body = "\n".join(part.text for part in block.content)
    return f"<search_result source={block.source!r} title={block.title!r}>\n{body}\n</search_result>"


def _collapse(parts: list[ContentPart]) -> str | list[ContentPart]:
    """Plain string content when every part is text: the form every provider accepts."""
    texts = [part["text"] for part in parts if part["type"] == "text"]
    return "\n\n".join(texts) if len(texts) == len(parts) else parts


IMAGE_OMITTED = "[an image was here; it was left out because this model cannot see images]"
URL_DOCUMENT_NOT_SENT = "was not sent: this provider does not take documents by URL"
FILE_DOCUMENT_NOT_SENT = "was not sent: this provider does not take PDF files"
# What an empty user turn becomes, so that roles still alternate (the wording Claude Code uses itself).
EMPTY_USER_TURN = "(no content)"


def loaded_tool_names(messages: Sequence[Message]) -> set[str]:
    """Deferred tools become callable once the history references or uses them."""
    loaded: set[str] = set()
    for message in messages:
        if isinstance(message.content, str):
            continue
        for block in message.content:
            if isinstance(block, ToolUseBlock):
                loaded.add(block.name)
            elif isinstance(block, ToolResultBlock) and isinstance(block.content, list):
                loaded.update(p.tool_name for p in block.content if isinstance(p, ToolReferenceBlock))
    return loaded


class _HistoryBuilder:
    def __init__(self, options: HistoryOptions) -> None:
        self.options = options
        self.profile = options.profile
        self.out: list[ChatMessage] = []
        # Tool calls of the latest assistant message still waiting for a result, in order: the id the
        # results name (as sent upstream) and the id sent upstream, which differ when the client's
        # history repeats an id within one message.
        self.pending: list[tuple[str, str]] = []
        # System messages that arrived between a tool call and its result: they follow the results.
        self.deferred: list[ChatMessage] = []
        # Mid-conversation system text waiting for the next user message (`mid_system_as_user`).
        self.carried: list[ContentPart] = []
        # Cache breakpoints are kept (`cache_control`); tool results that carry one, by call id.
        self.cache = self.profile.cache_control
        self.cached_results: dict[str, dict[str, Any]] = {}
        # System messages in a row waiting to be folded into the turn before them, all at once.
        self.folds: list[TextPart] = []

    def tool_result_content(self, block: ToolResultBlock) -> tuple[str, list[ContentPart]]:
        """The text of a tool result, and the images it carries."""
        content = block.content
        texts: list[str] = []
        images: list[ContentPart] = []
        if isinstance(content, str):
            texts.append(content)
        elif content:
            for part in content:
                texts.append(self.result_part_text(part, images))
        text = "\n".join(texts)
        if block.is_error:
            text = f"Error: {text}" if text else "Error"
        return text, images

    def result_part_text(self, part: ToolResultPart, images: list[ContentPart]) -> str:
        if isinstance(part, TextBlock):
            return part.text
        if isinstance(part, ImageBlock):
            if not self.options.images:
                self.options.omitted_images += 1
                return IMAGE_OMITTED
            images.append(_image_part(part))
            return f"[image {len(images)} attached below]"
        if isinstance(part, DocumentBlock):
            converted = self.document(part)
            return converted["text"] if converted["type"] == "text" else "[document attached]"
        if isinstance(part, ToolReferenceBlock):
            # The name the model was offered (a long MCP name is shortened), so it can call it.
            return f"Tool {self.options.names.upstream(part.tool_name)} is now available."
        return _search_result_text(part)

    def document(self, block: DocumentBlock) -> ContentPart:
        urls, files = self.profile.document_urls, self.profile.document_files
        if isinstance(block.source, URLSource) and not urls:
            self.options.notes.append("a document given by URL was not sent: the provider takes no document URLs")
        if isinstance(block.source, Base64Source) and not files:
            self.options.notes.append("a PDF document was not sent: the provider takes no PDF files")
        return _document_part(block, urls, files)

    def call_id(self, tool_use_id: str) -> str:
        base, _ = split_thought_signature(tool_use_id)
        return alnum9_id(base) if self.profile.tool_call_id_style == "alnum9" else base

    def add(self, index: int, message: Message) -> None:
        blocks: list[ContentBlock] = (
            [TextBlock(text=message.content)] if isinstance(message.content, str) else message.content
        )
        if message.role != "system":
            self.fold_systems()
        if message.role == "assistant":
            self.answer_pending({})
            self.flush_carried()
            self.assistant(index, blocks)
        elif message.role == "system":
            self.system(blocks)
        else:
            self.user(blocks)

    def system(self, blocks: list[ContentBlock]) -> None:
        text = "\n\n".join(b.text for b in blocks if isinstance(b, TextBlock))
        if self.profile.mid_system_as_user and self.out:
            self.folds.append(_text_part(f"<system>\n{text}\n</system>"))
            return
        message: ChatMessage = {"role": "system", "content": text}
        (self.deferred if self.pending else self.out).append(message)

    def fold_systems(self) -> None:
        """System text joins the user turn before it, or else waits for the next user message (chat
        templates that refuse a second system message often refuse two user messages in a row too).
        All the system messages in a row at once: one by one, each copied the turn's text again."""
        if not self.folds:
            return
        parts, self.folds = self.folds, []
        last = self.out[-1]
        if last["role"] != "user" or self.pending:
            self.carried.extend(parts)
        elif isinstance(last["content"], str):
            last["content"] = "\n\n".join([last["content"], *(part["text"] for part in parts)])
        else:
            last["content"].extend(parts)

    def flush_carried(self) -> None:
        if self.carried:
            self.append_user([])

    def assistant(self, index: int, blocks: list[ContentBlock]) -> None:
        texts: list[str] = []
        reasoning: list[str] = []
        details: list[Any] = []
        calls: list[ToolCall] = []
        restore = self.options.keep_thinking is None or index in self.options.keep_thinking
        for block in blocks:
            if isinstance(block, TextBlock):
                texts.append(block.text)
            elif isinstance(block, ToolUseBlock):
                calls.append(self.tool_call(block))
            elif isinstance(block, ThinkingBlock) and restore:
                payload = read_thinking_signature(block.signature)
                if payload is not None:
                    reasoning.append(block.thinking)
                    details.extend(payload.get("rd", ()))
        message: AssistantMessage = {"role": "assistant", "content": "".join(texts) or None}
        if calls:
            message["tool_calls"] = calls
            named = [call["id"] for call in calls]
            for call, unique in zip(calls, self.unique_ids(named), strict=True):
                call["id"] = unique
            self.pending = [(key, call["id"]) for key, call in zip(named, calls, strict=True)]
        elif message["content"] is None:
            message["content"] = ""
        if self.profile.echo_reasoning_content and (reasoning or calls):
            # DeepSeek's thinking mode refuses a tool-calling turn that lacks its reasoning.
            message["reasoning_content"] = "\n".join(reasoning)
        if details and self.profile.reasoning_style == "openrouter":
            message["reasoning_details"] = details
        self.out.append(message)

    def unique_ids(self, ids: list[str]) -> list[str]:
        """Ids made unique within one message: a repeat gets a suffix (its result is matched in order)."""
        seen: set[str] = set()
        unique: list[str] = []
        # The last suffix each id was given: a repeat starts there, not from _2 again.
        suffixes: dict[str, int] = {}
        for call_id in ids:
            candidate, n = call_id, suffixes.get(call_id, 1)
            while candidate in seen:
                n += 1
                candidate = self.call_id(f"{call_id}_{n}")
            suffixes[call_id] = n
            seen.add(candidate)
            unique.append(candidate)
        return unique

    def tool_call(self, block: ToolUseBlock) -> ToolCall:
        _, signature = split_thought_signature(block.id)
        call: ToolCall = {
            "id": self.call_id(block.id),
            "type": "function",
            "function": {
                "name": self.options.names.upstream(block.name),
                "arguments": orjson.dumps(block.input).decode("utf-8"),
            },
        }
        if self.profile.thought_signatures:
            call["extra_content"] = {"google": {"thought_signature": signature or SKIP_THOUGHT_SIGNATURE}}
        return call

    def user(self, blocks: list[ContentBlock]) -> None:
        parts: list[ContentPart] = []
        tool_images: list[ContentPart] = []
        results: dict[str, str] = {}
        # The calls still waiting for a result, by the id the client knows, in the order they were made.
        waiting: dict[str, deque[str]] = {}
        for key, sent in self.pending:
            waiting.setdefault(key, deque()).append(sent)
        for block in blocks:
            if not isinstance(block, ToolResultBlock):
                parts.extend(self.user_part(block))
                continue
            text, images = self.tool_result_content(block)
            tool_images.extend(images)
            slots = waiting.get(self.call_id(block.tool_use_id))
            if slots:
                slot = slots.popleft()
                results[slot] = text
                if self.cache and block.cache_control is not None:
                    self.cached_results[slot] = block.cache_control
            else:
                parts.append(self.marked(_text_part(f"[result of tool call {block.tool_use_id}]\n{text}"), block))
        self.answer_pending(results)
        if tool_images:
            parts = [_text_part("Images returned by the tool calls above:"), *tool_images, *parts]
        if parts:
            self.append_user(parts)
        elif not self.out or self.out[-1]["role"] == "assistant":
            # An empty turn (a lone empty text block): an assistant message must not come first or
            # follow another one.
            self.append_user([_text_part(EMPTY_USER_TURN)])

    def answer_pending(self, results: dict[str, str]) -> None:
        """One tool message per call of the last assistant turn, in the order the calls were made."""
        missing = [call_id for _, call_id in self.pending if call_id not in results]
        if missing:
            self.options.notes.append(f"answered {len(missing)} tool call(s) that had no result")
        for _, call_id in self.pending:
            text = results.get(call_id, NO_RESULT)
            mark = self.cached_results.pop(call_id, None) if self.cached_results else None
            content: str | list[ContentPart] = text if mark is None else [{**_text_part(text), "cache_control": mark}]
            self.out.append({"role": "tool", "tool_call_id": call_id, "content": content})
        self.pending = []
        self.out.extend(self.deferred)
        self.deferred = []

    def append_user(self, parts: list[ContentPart]) -> None:
        if self.carried:
            parts, self.carried = [*self.carried, *parts], []
        last = self.out[-1] if self.out else None
        if self.profile.no_user_after_tool and last is not None and last["role"] == "tool":
            # The provider refuses a user message here: text and images join the last tool message.
            content = last["content"]
            before: list[ContentPart] = [_text_part(content)] if isinstance(content, str) else content
            last["content"] = self.collapsed([*before, *parts])
            return
        self.out.append({"role": "user", "content": self.collapsed(parts)})

    def collapsed(self, parts: list[ContentPart]) -> str | list[ContentPart]:
        """`_collapse`, except that parts carrying a cache breakpoint stay parts (a string loses it)."""
        if self.cache and any("cache_control" in part for part in parts):
            return parts
        return _collapse(parts)

    def marked(self, part: ContentPart, block: CacheControlled) -> ContentPart:
        """The part with the block's cache breakpoint, where breakpoints are kept."""
        if self.cache and block.cache_control is not None and part["type"] != "file":
            part["cache_control"] = block.cache_control
        return part

    def user_part(self, block: ContentBlock) -> list[ContentPart]:
        if isinstance(block, TextBlock):
            if not block.text:
                return []
            part = _text_part(block.text)
            return [self.marked(part, block) if self.cache else part]
        if isinstance(block, ImageBlock):
            if not self.options.images:
                self.options.omitted_images += 1
                return [_text_part(IMAGE_OMITTED)]
            image = _image_part(block)
            return [self.marked(image, block) if self.cache else image]
        if isinstance(block, DocumentBlock):
            return [self.document(block)]
        if isinstance(block, SearchResultBlock):
            return [_text_part(_search_result_text(block))]
        # thinking, redacted thinking or a tool_use in a user turn: nothing the upstream can use.
        return []


def convert_history(messages: Sequence[Message], options: HistoryOptions) -> list[ChatMessage]:
    builder = _HistoryBuilder(options)
    for index, message in enumerate(messages):
        builder.add(index, message)
    builder.fold_systems()
    builder.answer_pending({})
    builder.flush_carried()
    return builder.out
