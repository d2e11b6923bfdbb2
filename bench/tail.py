"""When do the slow requests happen? Sequential small requests to our proxy alone, with timestamps.

    .venv/bin/python -m bench.tail [--requests 15000] [--floor] [NAME=VALUE ...]   # e.g. USAGE_TRACKING=false

Prints p50, p99, the share of requests slower than 2x p50, and when the first of them happened and
how slow they were: slow requests spread evenly point at the proxy's own periodic work (a collection,
a flush), slow requests in bursts of consecutive ones at the machine taking the core away.
`NAME=VALUE` arguments go into the proxy's environment, to switch features off one at a time;
`--floor` measures bench/floor.py instead, which has no features to switch off.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bodies, servers
from bench.loadgen import Target, connect
from bench.run import HEADERS, PROXY_CPU, UPSTREAM_CPU


async def measure(target: Target, requests: int) -> list[tuple[float, float]]:
    """(seconds since the start, latency in seconds) for each request after a warm-up."""
    conn = await connect(target)
    request = target.request()
    for _ in range(200):
        await conn.send(request)
    timeline = []
    start = time.perf_counter()
    for _ in range(requests):
        sample, _ = await conn.send(request)
        timeline.append((time.perf_counter() - start, sample.total))
    return timeline


def report(label: str, timeline: list[tuple[float, float]]) -> str:
    latencies = sorted(latency for _, latency in timeline)
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    slow = [(at, latency) for at, latency in timeline if latency > 2 * p50]
    return "\n".join(
        [
            f"{label}: p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms ({p99 / p50:.2f}x); "
            f"{len(slow)} requests over 2x p50 ({len(slow) / len(timeline):.2%})",
            "  the first of them at (ms): " + ", ".join(f"{at * 1e3:.0f}" for at, _ in slow[:30]),
            "  their latency (ms):        " + ", ".join(f"{latency * 1e3:.2f}" for _, latency in slow[:30]),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=15_000)
    parser.add_argument("--floor", action="store_true", help="measure the floor proxy instead of ours")
    parser.add_argument("env", nargs="*", help="NAME=VALUE for the proxy's environment")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    upstream = servers.start_upstream(UPSTREAM_CPU)
    started = (
        servers.start_floor(upstream.port, PROXY_CPU)
        if args.floor
        else servers.start_ours(upstream.port, PROXY_CPU, extra_env=extra)
    )
    if isinstance(started, tuple):
        upstream.stop()
        print(started[1], file=sys.stderr)
        return 1
    proxy = started
    try:
        os.sched_setaffinity(0, {UPSTREAM_CPU})
        target = Target(proxy.name, proxy.port, proxy.path, bodies.build("small").anthropic, HEADERS)
        try:
            import uvloop
        except ImportError:
            timeline = asyncio.run(measure(target, args.requests))
        else:
            timeline = uvloop.run(measure(target, args.requests))
    finally:
        proxy.stop()
        upstream.stop()
    print(report("floor" if args.floor else " ".join(args.env) or "ours as shipped", timeline))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
