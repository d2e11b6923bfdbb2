"""How much the fuzzing tries (FUZZ_EXAMPLES examples per test), and the count of what it tried."""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, Phase, settings

# Examples per fuzz test; the CI run keeps the default (a bounded run), a longer one sets more.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
CLIENT_KEY = "fuzz-client-key"
# Small enough that huge generated strings meet it now and then (and get their 413).
BODY_LIMIT = 512 * 1024
# Cases tried per kind, and the statuses they were answered with: printed in the terminal summary.
TRIED: Counter[str] = Counter()
ANSWERED: Counter[int] = Counter()


def tried(kind: str, status: int) -> None:
    TRIED[kind] += 1
    ANSWERED[status] += 1


def fuzz_settings() -> settings:
    """Derandomized (the same cases on every run, so CI cannot fail by chance) unless FUZZ_RANDOM=1;
    no deadline (a request over real HTTP on a shared machine varies); no shrinking unless FUZZ_SHRINK=1
    (over HTTP it can take many minutes; the failure names the whole request anyway)."""
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=os.environ.get("FUZZ_RANDOM") != "1",
        phases=[
            Phase.explicit,
            Phase.reuse,
            Phase.generate,
            *([Phase.shrink] if os.environ.get("FUZZ_SHRINK") == "1" else []),
        ],
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
