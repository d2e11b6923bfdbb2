"""Time periods for reports: `--since 7d`, `--since 2026-11-01`, `--until 2026-11-08T12:00`.

Relative spans count back from now (m, h, d, w); dates and times without a zone are UTC, like the
day buckets of the reports.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


_EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()


class PeriodError(ValueError):
    """A --since/--until value that is neither a span (7d) nor a date (2026-11-01)."""


@dataclass(frozen=True, slots=True)
class Period:
    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive

    @property
    def start_ms(self) -> int:
        return round(self.start * 1000)

    @property
    def end_ms(self) -> int:
        return round(self.end * 1000)

    def describe(self) -> str:
        return f"{_iso(self.start)} to {_iso(self.end)}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def parse_moment(text: str, now: float) -> float:
    """Epoch seconds for a span back from `now` or an ISO date/time."""
    span = _SPAN.match(text)
    if span:
        back = now - float(span.group(1)) * _UNIT_SECONDS[span.group(2).lower()]
        if not back >= _EARLIEST:  # NaN too: a span of 400 digits is infinite
            raise PeriodError(f"{text!r} reaches back before the year 1")
        return back
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"{text!r} is not a span like 7d, 12h, 30m, 2w or a date like 2026-11-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_period(since: str = "7d", until: str | None = None, now: float | None = None) -> Period:
    now = time.time() if now is None else now
    start = parse_moment(since, now)
    end = parse_moment(until, now) if until else now
    if end <= start:
        raise PeriodError(f"the period is empty: --until ({until}) must come after --since ({since})")
    return Period(start, end)


def day_label(day_number: int) -> str:
    """The UTC date of a day number (days since the epoch)."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day_number)).date().isoformat()
