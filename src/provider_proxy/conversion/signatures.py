"""Opaque values the proxy hands to the client so it can restore provider state later.

Thinking signatures: recent Claude Code drops thinking blocks without a `signature`, so the proxy
signs every thinking block it emits. The signature carries what the provider needs back on the next
turn (OpenRouter's `reasoning_details`, a Responses API reasoning item's `encrypted_content`); the
thinking text itself comes back in the block.

Tool-call ids: Gemini 3 wants each tool call's `thought_signature` echoed with the call. The
signature rides in the tool_use id the client keeps in its history, and is split off again when the
id comes back.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

_THINKING_PREFIX = "ppx1."
_ID_MARK = "__ts_"
# Google documents this value for calls whose signature is unknown (history from another model).
SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thinking_signature(reasoning_details: list[Any] | None = None, encrypted_content: str | None = None) -> str:
    payload: dict[str, Any] = {}
    if reasoning_details:
        payload["rd"] = reasoning_details
    if encrypted_content:
        payload["enc"] = encrypted_content
    return _THINKING_PREFIX + _b64(orjson.dumps(payload))


def read_thinking_signature(signature: str | None) -> dict[str, Any] | None:
    """The payload of a signature this proxy issued; None for anyone else's (or a damaged one)."""
    if not signature or not signature.startswith(_THINKING_PREFIX):
        return None
    try:
        payload = orjson.loads(_unb64(signature[len(_THINKING_PREFIX) :]))
    except (binascii.Error, ValueError):
        return None
    # A client may send back anything in this shape: only a list of reasoning details is ours.
    if not isinstance(payload, dict) or not isinstance(payload.get("rd", []), list):
        return None
    return payload


def id_with_thought_signature(tool_call_id: str, thought_signature: str | None) -> str:
    if not thought_signature:
        return tool_call_id
    return f"{tool_call_id}{_ID_MARK}{_b64(thought_signature.encode('utf-8'))}"


def split_thought_signature(tool_use_id: str) -> tuple[str, str | None]:
    """(the provider's tool call id, its thought signature or None)."""
    base, mark, encoded = tool_use_id.partition(_ID_MARK)
    if not mark:
        return tool_use_id, None
    try:
        return base, _unb64(encoded).decode("utf-8")
    except (binascii.Error, ValueError):
        return tool_use_id, None


def google_thought_signature(extra_content: dict[str, Any] | None) -> str | None:
    if not extra_content:
        return None
    for vendor in ("google", "vertex"):
        section = extra_content.get(vendor)
        if isinstance(section, dict) and isinstance(section.get("thought_signature"), str):
            return str(section["thought_signature"])
    return None
