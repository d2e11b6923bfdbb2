"""Exact tokenizers for OpenAI models, loaded lazily, once per owner, without network.

Which model uses which encoding is a model fact (`providers.model_facts`):
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
import threading
from typing import Protocol

from provider_proxy.providers.model_facts import Encoding

logger = logging.getLogger(__name__)


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


class Tokenizers:
    """The encodings loaded so far, at most one of each (two exist): loaded on first use, kept for the
    life of the owner, and None (after one warning) when one cannot be loaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[Encoding, Tokenizer | None] = {}

    def get(self, encoding: Encoding) -> Tokenizer | None:
        try:
            return self._loaded[encoding]
        except KeyError:
            pass
        with self._lock:
            if encoding not in self._loaded:
                self._loaded[encoding] = _load(encoding)
            return self._loaded[encoding]


def _load(encoding: Encoding) -> Tokenizer | None:
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
