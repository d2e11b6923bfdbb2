"""A soak with faults: hundreds of concurrent mixed requests for minutes, against an upstream that fails
in every way it can, from clients that leave early. It checks that nothing is lost or leaks: every
request the proxy received has exactly one usage row after a clean stop, and the proxy's RSS and open
file descriptors stay flat.

    .venv/bin/python -m bench.soak_faults --seconds 600 --concurrency 300     # the documented run
    .venv/bin/python -m bench.soak_faults --seconds 5 --concurrency 40        # the CI smoke run

The upstream (in this process, aiohttp) picks a behaviour per request from a fixed mix: answers and
streams, 500s, 429s with retry-after, resets before and in the middle of a stream, a stall before the
first byte, invalid JSON, an error object inside a 200 stream, and slow streams. Clients (httpx) send
streaming and non-streaming requests; some disconnect in the middle of a stream, some give up on a
slow answer before it starts. The proxy runs as its own process (bench.servers.start_ours), stopped
with SIGTERM at the end so it flushes its usage queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from aiohttp import web

from bench import servers

# Upstream behaviours and their weights (per cent).
FAULTS: dict[str, int] = {
    "ok": 55,
    "status_500": 8,
    "status_429": 5,
    "reset_before": 4,
    "reset_mid_stream": 6,
    "stall": 4,
    "bad_json": 4,
    "error_in_stream": 6,
    "slow_stream": 8,
}
CHUNK = {"choices": [{"index": 0, "delta": {"content": "soak "}, "finish_reason": None}]}
FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
USAGE = {"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 10}}
ANSWER = {
    "id": "chatcmpl-soak",
    "object": "chat.completion",
    "created": 1,
    "model": "soak-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "soak"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 10},
}


def _data(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


class FaultyUpstream:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.served: Counter[str] = Counter()
        self.runner: web.AppRunner | None = None
        self.port = servers.free_port()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        fault = self.random.choices(list(FAULTS), weights=list(FAULTS.values()))[0]
        self.served[fault] += 1
        stream = bool(body.get("stream"))
        if fault == "status_500":
            return web.json_response({"error": {"message": "upstream broke"}}, status=500)
        if fault == "status_429":
            return web.json_response({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "0"})
        if fault == "reset_before":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if fault == "stall":
            await asyncio.sleep(2.0)
        if fault == "bad_json" and not stream:
            return web.Response(body=b'{"choices": [', content_type="application/json")
        if not stream:
            return web.json_response(ANSWER)
        return await self.stream(request, fault)

    async def stream(self, request: web.Request, fault: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        pause = 0.05 if fault == "slow_stream" else 0.0
        try:
            for index in range(20):
                if fault == "reset_mid_stream" and index == 10:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if fault == "error_in_stream" and index == 10:
                    await response.write(_data({"error": {"message": "overloaded", "type": "server_error"}}))
                    await response.write_eof()
                    return response
                if fault == "bad_json" and index == 10:
                    await response.write(b"data: {not json\n\n")
                await response.write(_data(CHUNK))
                if pause:
                    await asyncio.sleep(pause)
            await response.write(_data(FINISH) + _data(USAGE) + b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response


@dataclass
class Tally:
    sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


BODY: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


async def client(base: str, tally: Tally, until: float, seed: int) -> None:
    chooser = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.monotonic() < until:
            stream = chooser.random() < 0.7
            leave = chooser.random()
            tally.sent += 1
            try:
                if not stream:
                    timeout = 0.5 if leave < 0.05 else 30  # some give up before a slow answer starts
                    response = await http.post("/v1/messages", json=BODY, timeout=timeout)
                    tally.outcomes[f"answer {response.status_code}"] += 1
                    continue
                async with http.stream("POST", "/v1/messages", json={**BODY, "stream": True}) as response:
                    received = 0
                    async for piece in response.aiter_bytes():
                        received += len(piece)
                        if leave < 0.10 and received > 300:
                            tally.outcomes["stream left early"] += 1
                            break
                    else:
                        tally.outcomes[f"stream {response.status_code}"] += 1
            except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                tally.sent -= 1  # nothing reached the proxy
                tally.outcomes[f"not sent ({type(exc).__name__})"] += 1
            except httpx.TimeoutException as exc:
                tally.outcomes[f"gave up ({type(exc).__name__})"] += 1
            except httpx.HTTPError as exc:
                tally.outcomes[f"client error {type(exc).__name__}"] += 1


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


async def soak(seconds: float, concurrency: int, seed: int) -> dict[str, Any]:
    upstream = FaultyUpstream(seed)
    await upstream.start()
    data = Path(tempfile.mkdtemp()) / "data"
    extra = {"MAX_RETRIES": "1", "REQUEST_TIMEOUT": "10", "BIG_MODEL": "soak-model", "SMALL_MODEL": "soak-model"}
    proxy = servers.start_ours(upstream.port, None, data_dir=data, extra_env=extra)
    samples: list[tuple[float, float, int]] = []
    tally = Tally()
    try:
        base = f"http://127.0.0.1:{proxy.port}"
        start = time.monotonic()
        until = start + seconds
        clients = [asyncio.create_task(client(base, tally, until, seed + n)) for n in range(concurrency)]
        while not all(task.done() for task in clients):
            samples.append((time.monotonic() - start, proxy.rss_mb(), open_fds(proxy.pid)))
            await asyncio.wait(clients, timeout=max(seconds / 30, 0.5))
        await asyncio.gather(*clients)
        await asyncio.sleep(1.0)  # connections of clients that left are closed by now
        samples.append((time.monotonic() - start, proxy.rss_mb(), open_fds(proxy.pid)))
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)
        exit_code = proxy.process.wait(60)
        await upstream.stop()
    with sqlite3.connect(data / "usage.db") as db:
        rows, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM usage_records").fetchone()
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM usage_records GROUP BY status").fetchall())
    return {
        "seconds": seconds,
        "concurrency": concurrency,
        "sent": tally.sent,
        "rows": rows,
        "distinct_request_ids": distinct,
        "exit_code": exit_code,
        "client_outcomes": dict(tally.outcomes),
        "upstream_faults": dict(upstream.served),
        "row_statuses": statuses,
        "samples": samples,
    }


def summary(result: dict[str, Any]) -> list[str]:
    samples = result["samples"]
    warm = samples[len(samples) // 4 :] or samples  # after the first quarter: caches and pools are warm
    rss = [s[1] for s in warm]
    fds = [s[2] for s in warm]
    lines = [
        f"soak: {result['seconds']:.0f} s, {result['concurrency']} concurrent clients, {result['sent']:,} requests",
        f"usage rows: {result['rows']:,} ({result['distinct_request_ids']:,} distinct request ids); "
        f"lost: {result['sent'] - result['rows']:,}; proxy exit code {result['exit_code']}",
        f"RSS after warm-up: {min(rss):.1f}-{max(rss):.1f} MB (first {samples[0][1]:.1f}, last {samples[-1][1]:.1f}); "
        f"open fds after warm-up: {min(fds)}-{max(fds)} (last {samples[-1][2]})",
        f"client outcomes: {json.dumps(result['client_outcomes'], sort_keys=True)}",
        f"upstream faults: {json.dumps(result['upstream_faults'], sort_keys=True)}",
        f"row statuses: {json.dumps(result['row_statuses'], sort_keys=True)}",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the raw result here")
    args = parser.parse_args()
    result = asyncio.run(soak(args.seconds, args.concurrency, args.seed))
    for line in summary(result):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    lost = result["sent"] - result["rows"]
    sys.exit(0 if lost == 0 and result["rows"] == result["distinct_request_ids"] and result["exit_code"] == 0 else 1)


if __name__ == "__main__":
    main()
