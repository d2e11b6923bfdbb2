"""Logging set-up: package loggers, one line per request, secrets redacted everywhere.

Redaction is the root handler's formatter, so a secret never reaches a log line whatever logger or
library writes it, tracebacks included: configured keys are replaced by their first four characters
and `***`, and anything shaped like a bearer token or an API key is masked as well. The formatting
runs on the logging thread (`server`), off the request path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# The value after `api-key:` and the like is masked when it could be a key: it has a digit, or is
# long, or ends the text or field; a short word followed by more words is prose
# ("invalid x-api-key: this proxy requires ...").
_KEY_VALUE = r"(?:(?=[^\s\"',}]*\d)[^\s\"',}]{4,}|[^\s\"',}]{16,}|[^\s\"',}]{4,}+(?!\s+\w))"
_KEY_SHAPES = re.compile(
    r"(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{20,}|gsk_[A-Za-z0-9]{20,})"
    r"|((?:Bearer|bearer)\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|((?:api-key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)" + _KEY_VALUE,
    re.IGNORECASE,
)


def _mask_shape(found: re.Match[str]) -> str:
    if found.group(1):
        return found.group(1)[:4] + "***"
    prefix = found.group(2) or found.group(3) or ""
    return prefix + "***"


# Every shape `_KEY_SHAPES` masks contains one of these: a cheap test before the regex runs.
_TRIGGERS = ("sk-", "aiza", "gsk_", "bearer", "api-key", "authorization")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, secret[:4] + "***")
    lowered = text.lower()
    if any(trigger in lowered for trigger in _TRIGGERS):
        return _KEY_SHAPES.sub(_mask_shape, text)
    return text


def loggable(text: str, limit: int = 200) -> str:
    """A client's string as a log line may show it: control characters escaped (a line break would let
    it forge a log line) and cut to `limit` characters."""
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= limit else f"{text[:limit]}..."


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted line: the message, its arguments and any traceback or stack."""

    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    # The format uses none of these, and gathering them makes every record cost more.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Nor file and line: without a source file logging skips the stack walk (findCaller) per record.
    logging._srcfile = None
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # The proxy writes its own request line; uvicorn's access log would repeat it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
