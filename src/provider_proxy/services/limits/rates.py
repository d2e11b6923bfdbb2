"""Per-key rates and budgets, as plain arithmetic: no clock, no I/O.

Rates are counted with GCRA (the generic cell rate algorithm), which is a token bucket kept as one
number per key: the "theoretical arrival time" (TAT) at which the bucket would be full again. Its
distance from now, the debt, says everything: a key with `limit` requests per minute may take a request
while its debt after the request stays within one minute (a burst of `limit` at once, then `limit` per
minute), and its remaining requests are the unused part of that minute. Tokens are only known after the
answer, so they are added to the debt when the request ends, and a key may start a request while its
token debt is under a minute (it may overshoot with that one request, as Anthropic's own limits do).

Budgets are dollars spent per UTC day and per UTC month. The in-process counters (`LocalCounters`) and
the Redis ones (`services.limits.shared`) hold the same numbers and decide with these same functions.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, NamedTuple

from provider_proxy.config.keys import ClientKey

PERIOD: Final = 60.0
Refusal = Literal["requests", "tokens", "daily_budget", "monthly_budget"]


class Window(NamedTuple):
    """What a rate limit leaves: its limit, what is left now, seconds until it is whole again."""

    limit: int
    remaining: int
    reset: float


class Verdict(NamedTuple):
    refused: Refusal | None = None
    retry_after: float = 0.0
    requests: Window | None = None
    tokens: Window | None = None
    # For a budget refusal: what was spent in the period.
    spent: float = 0.0


ALLOWED: Final = Verdict()
_NOTHING_SPENT: Final = (0.0, 0.0)


def window(limit: int, debt: float) -> Window:
    interval = PERIOD / limit
    return Window(limit, max(0, math.floor((PERIOD - debt) / interval + 1e-9)), max(debt, 0.0))


def request_debt(tat: float, now: float, limit: int) -> float | None:
    """The debt after taking one request, or None when the key may not take one now."""
    debt = max(tat - now, 0.0) + PERIOD / limit
    return None if debt > PERIOD + 1e-9 else debt


def decide(
    key: ClientKey, request_tat: float, token_tat: float, spent: tuple[float, float], now: float
) -> tuple[Verdict, float | None]:
    """The verdict on one request, and the new request TAT (None: unchanged). A request let through
    gets `ALLOWED` (what is left is only told with a refusal, in its headers)."""
    day, month = spent
    if key.daily_budget is not None and day >= key.daily_budget:
        return Verdict("daily_budget", spent=day), None
    if key.monthly_budget is not None and month >= key.monthly_budget:
        return Verdict("monthly_budget", spent=month), None
    token_debt = max(token_tat - now, 0.0)
    if key.tpm is not None and token_debt >= PERIOD:
        return Verdict("tokens", retry_after=token_debt - PERIOD + 1, tokens=window(key.tpm, token_debt)), None
    if key.rpm is None:
        return ALLOWED, None
    debt = request_debt(request_tat, now, key.rpm)
    if debt is None:
        before = max(request_tat - now, 0.0)
        tokens = window(key.tpm, token_debt) if key.tpm is not None else None
        retry = before + PERIOD / key.rpm - PERIOD
        return Verdict("requests", retry_after=retry, requests=window(key.rpm, before), tokens=tokens), None
    return ALLOWED, now + debt


def token_tat_after(token_tat: float, now: float, tokens: int, limit: int) -> float:
    return max(token_tat, now) + tokens * PERIOD / limit


class _Day:
    """The labels of the UTC day and month of the last time asked about, and when that day ends: the
    labels are asked for on every request of a key with a budget, and change once a day."""

    start = end = 0.0
    day = month = ""

    @classmethod
    def labels(cls, now: float) -> tuple[str, str]:
        if not cls.start <= now < cls.end:
            struct = time.gmtime(now)
            cls.start = now - (struct.tm_hour * 3600 + struct.tm_min * 60 + struct.tm_sec) - now % 1
            cls.end = cls.start + 86400
            cls.day, cls.month = time.strftime("%Y-%m-%d", struct), time.strftime("%Y-%m", struct)
        return cls.day, cls.month


def day_label(now: float) -> str:
    return _Day.labels(now)[0]


def month_label(now: float) -> str:
    return _Day.labels(now)[1]


def period_start(refusal: Refusal, now: float) -> datetime:
    """When a budget's period began (UTC midnight, or the first of the month)."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today if refusal == "daily_budget" else today.replace(day=1)


def period_end(refusal: Refusal, now: float) -> datetime:
    """When a budget's period ends (UTC midnight, or the first of the next month)."""
    start = period_start(refusal, now)
    if refusal == "daily_budget":
        return datetime.fromtimestamp(start.timestamp() + 86400, UTC)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month)


def seconds_left(refusal: Refusal, now: float) -> int:
    """Seconds until a budget's period ends, for the expiry of its counter (plus a day of slack)."""
    return math.ceil(period_end(refusal, now).timestamp() - now) + 86400


@dataclass(slots=True)
class _KeyState:
    request_tat: float = 0.0
    token_tat: float = 0.0
    # Spend by period label ("2026-12-01", "2026-12"); older periods are dropped as new ones start.
    spent: dict[str, float] = field(default_factory=dict)


class LocalCounters:
    """Every key's counts in this process (one instance, one worker)."""

    def __init__(self) -> None:
        self._keys: dict[str, _KeyState] = {}

    def admit(self, key: ClientKey, now: float) -> Verdict:
        state = self._state(key.name)
        spent = _NOTHING_SPENT
        if key.daily_budget is not None or key.monthly_budget is not None:
            day, month = _Day.labels(now)
            spent = (state.spent.get(day, 0.0), state.spent.get(month, 0.0))
        verdict, request_tat = decide(key, state.request_tat, state.token_tat, spent, now)
        if request_tat is not None:
            state.request_tat = request_tat
        return verdict

    def settle(self, key: ClientKey, tokens: int, cost: float, now: float) -> None:
        if key.tpm is not None and tokens:
            state = self._state(key.name)
            state.token_tat = token_tat_after(state.token_tat, now, tokens, key.tpm)
        if cost:
            self.add_spend(key.name, cost, now)

    def _state(self, name: str) -> _KeyState:
        state = self._keys.get(name)
        if state is None:
            state = self._keys[name] = _KeyState()
        return state

    def seed(self, name: str, day: float, month: float, now: float) -> None:
        spent = self._state(name).spent
        spent.clear()
        spent[day_label(now)], spent[month_label(now)] = day, month

    def add_spend(self, name: str, cost: float, now: float) -> None:
        spent = self._state(name).spent
        day, month = _Day.labels(now)
        if day not in spent:
            for label in [label for label in spent if label != month]:
                del spent[label]
        spent[day] = spent.get(day, 0.0) + cost
        spent[month] = spent.get(month, 0.0) + cost
