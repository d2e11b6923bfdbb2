"""A request that cannot fit the routed model's window is answered as Anthropic answers it, before
the provider is called.

Claude Code compacts when a 400 says `prompt is too long: N tokens > M maximum` and reads the
numbers to cut just enough; a provider's own wording makes it guess. So for a target whose window is
known, the input is counted (with the model's tokenizer, or the calibrated estimate) and:

- input over the input window: that error, with the count and the window;
- input that fits, but not with the output asked for (providers count both into one window): the
  output is lowered to the room left, or, when under `MIN_OUTPUT` would remain, that error again
  with the room for input as the maximum.

Counting costs time on large bodies, so it happens only when the body is near the window: a token is
at least `BYTES_PER_TOKEN` bytes of the upstream JSON (text runs 3-4, images far more), so a body
under that many bytes per token of the window cannot be over it. Far below the window this is a
length and two comparisons.
"""

from __future__ import annotations

import logging
from typing import Final

import orjson

from provider_proxy.config.provider import Route
from provider_proxy.conversion.request import Translation
from provider_proxy.errors import prompt_too_long
from provider_proxy.services.token_counting import TokenCounter

logger = logging.getLogger(__name__)

BYTES_PER_TOKEN: Final = 2
# The least output worth asking for; less room than this means the prompt must shrink.
MIN_OUTPUT: Final = 1024


def fit_window(body: bytes, translation: Translation, target: Route, tokens: TokenCounter) -> bytes:
    """The upstream body, with its output limit lowered when that makes it fit; raises the Anthropic
    `prompt is too long` error when nothing would."""
    facts = target.facts
    window, input_window = facts.context_window, facts.input_window
    if window is None or input_window is None:
        return body
    request = translation.body
    completion = "max_completion_tokens" in request
    output = request.get("max_completion_tokens", 0) if completion else request.get("max_tokens", 0)
    ceiling = len(body) // BYTES_PER_TOKEN
    if ceiling <= input_window and ceiling + output <= window:
        return body
    count = tokens.count_upstream(request, facts.tokenizer)
    if count > input_window:
        raise prompt_too_long(count, input_window)
    room = window - count
    if output <= room:
        return body
    if room < min(MIN_OUTPUT, output):
        raise prompt_too_long(count, window - min(MIN_OUTPUT, output))
    logger.info("%s: %d input tokens leave %d of the %d output tokens asked for", target.label, count, room, output)
    if completion:
        request["max_completion_tokens"] = room
    else:
        request["max_tokens"] = room
    return orjson.dumps(request)
