"""Exact tokenizers for OpenAI models, loaded lazily, once per process, without network.

- o200k_base: gpt-4o, gpt-4.1, gpt-4.5, gpt-5, the o-series (o1, o3, o4-mini) and gpt-oss
  (whose o200k_harmony adds only special tokens);
- cl100k_base: gpt-4 (incl. gpt-4-turbo), gpt-3.5-turbo (Azure's gpt-35-turbo).

The vocabularies ship inside the `quicktok-v1` wheel (byte-identical ids to tiktoken), so nothing is
downloaded at run time; tiktoken itself would fetch its BPE files on first use. A tokenizer is loaded
on the first count that needs it (about 0.5 s for o200k_base); when it cannot be loaded, callers get
None, fall back to the estimate, and one warning is logged.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Protocol

logger = logging.getLogger(__name__)

_PREFIX = re.compile(r"^(?:ft:|azure/|openai/)+")
_O200K = re.compile(r"^(?:chatgpt-4o|gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o[134](?:$|-)|codex-)")
_CL100K = re.compile(r"^(?:gpt-4|gpt-3\.5|gpt-35)")


class _Backend(Protocol):
    def count(self, text: str) -> int: ...

    def encode_with_special(self, text: str) -> list[int]: ...


class Tokenizer:
    """Token counts for one encoding; text that looks like a special token counts as plain text."""

    def __init__(self, name: str, backend: _Backend) -> None:
        self.name = name
        self._backend = backend

    def count(self, text: str) -> int:
        return self._backend.count(text) if text else 0

    def count_with_special(self, text: str) -> int:
        """Count with special tokens (`<|endoftext|>`...) recognised as one token each."""
        return len(self._backend.encode_with_special(text))


def encoding_name_for(model: str) -> str | None:
    """The encoding of an upstream model, or None when its tokenizer is not known here."""
    name = _PREFIX.sub("", model.strip().lower()).rsplit("/", 1)[-1]
    if _O200K.match(name):
        return "o200k_base"
    if _CL100K.match(name):
        return "cl100k_base"
    return None


_lock = threading.Lock()
_loaded: dict[str, Tokenizer | None] = {}


def get_tokenizer(encoding: str) -> Tokenizer | None:
    """The tokenizer for `encoding`, loaded on first use; None (after one warning) if unavailable."""
    try:
        return _loaded[encoding]
    except KeyError:
        pass
    with _lock:
        if encoding not in _loaded:
            _loaded[encoding] = _load(encoding)
        return _loaded[encoding]


def _load(encoding: str) -> Tokenizer | None:
    try:
        import quicktok  # type: ignore[import-untyped]

        return Tokenizer(encoding, quicktok.get_encoding(encoding))
    except Exception as exc:  # an absent or broken package must not break count_tokens
        logger.warning(
            "token counting: cannot load the %s tokenizer (%s: %s); using the estimate instead. "
            "Install the `quicktok-v1` package for exact counts.",
            encoding,
            type(exc).__name__,
            exc,
        )
        return None


def model_tokenizer(model: str) -> Tokenizer | None:
    encoding = encoding_name_for(model)
    return get_tokenizer(encoding) if encoding else None
