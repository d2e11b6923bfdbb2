"""A bounded mixed load for the team tests: `total` requests from `clients` threads, ~70% streams.

Each client thread keeps one keep-alive connection to the balancer (httpx, no retries: a failure is
counted, not hidden). A request is *answered* when the client got all of it: a 200 with the whole
JSON message, or a 200 stream that reached `message_stop`. Every outcome keeps the `request-id`
header the proxy sent, which is how usage rows are matched to requests.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

STREAM_SHARE = 0.7


@dataclass
class Outcome:
    stream: bool
    status: int | None = None
    request_id: str | None = None
    # Why the request was not answered (a transport error, a cut stream, an error body).
    failure: str | None = None
    seconds: float = 0.0

    @property
    def answered(self) -> bool:
        return self.failure is None and self.status == 200


def prompt(rng: random.Random) -> tuple[bool, str]:
    """A request's kind and what tells the fake upstream how to answer it: streams of 2-8 pieces, one
    in five slow (~1 s); plain answers in up to 0.2 s."""
    if rng.random() < STREAM_SHARE:
        slow = rng.random() < 0.2
        return True, f"stream {rng.randint(2, 8)} {0.25 if slow else 0.02}"
    return False, f"plain {rng.choice((0.0, 0.05, 0.2))}"


def send(client: httpx.Client, url: str, key: str, stream: bool, text: str) -> Outcome:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 50,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }
    outcome = Outcome(stream)
    started = time.monotonic()
    try:
        with client.stream("POST", f"{url}/v1/messages", json=body, headers={"x-api-key": key}) as response:
            outcome.status, outcome.request_id = response.status_code, response.headers.get("request-id")
            content = response.read()
    except httpx.HTTPError as exc:
        outcome.failure = f"{type(exc).__name__}: {exc}"
    else:
        if outcome.status != 200:
            outcome.failure = f"{outcome.status}: {content[:300]!r}"
        elif stream and b"event: message_stop" not in content:
            outcome.failure = f"stream cut: {content[-300:]!r}"
        elif not stream and b'"type":"message"' not in content.replace(b" ", b""):
            outcome.failure = f"not a message: {content[:300]!r}"
    outcome.seconds = time.monotonic() - started
    return outcome


@dataclass
class Load:
    url: str
    key: str
    total: int
    clients: int = 12
    seed: int = 16
    # What each request asks for (stream or not, and the fake upstream's instructions).
    kind: Callable[[random.Random], tuple[bool, str]] = prompt
    # Seconds each client waits between two requests.
    pause: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    started: float = 0.0
    seconds: float = 0.0

    def start(self) -> Load:
        self.started = time.monotonic()
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def _take(self) -> bool:
        with self._lock:
            if self._next >= self.total:
                return False
            self._next += 1
            return True

    def _client(self, number: int) -> None:
        rng = random.Random(self.seed * 1000 + number)
        with httpx.Client(timeout=30) as client:
            while self._take():
                outcome = send(client, self.url, self.key, *self.kind(rng))
                with self._lock:
                    self.outcomes.append(outcome)
                time.sleep(self.pause)

    def wait_for(self, done: int, timeout: float = 60) -> None:
        """Block until `done` requests have finished."""
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < done:
            assert time.monotonic() < deadline, f"only {len(self.outcomes)} of {done} requests finished"
            time.sleep(0.01)

    def join(self, timeout: float = 90) -> list[Outcome]:
        for thread in self._threads:
            thread.join(timeout)
        self.seconds = time.monotonic() - self.started
        return self.outcomes

    def summary(self) -> str:
        """The figures the README reports: requests, streams, failures, time."""
        failures = Counter((o.failure or "")[:60] for o in self.outcomes if not o.answered)
        streams = sum(o.stream for o in self.outcomes)
        failed = sum(failures.values())
        return f"{len(self.outcomes)} requests ({streams} streams), {failed} not answered, in {self.seconds:.1f}s" + (
            f"; failures: {dict(failures)}" if failures else ""
        )
