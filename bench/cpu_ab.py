"""CPU time per request of two or more source trees of the proxy, alternated on the same pinned core.

    PYTHONPATH=src .venv/bin/python -m bench.cpu_ab before=/tmp/before/src,after=src --rounds 4

Requests per second on a machine shared with other work move by 10-20% from one run to the next;
the proxy's own CPU time per request (utime + stime from /proc over a fixed number of requests at
concurrency 64) moves much less, so a cost of 1-2% on the hot path shows in the per-round ratios.
Each round measures every tree once per body (the order rotates), the others paused.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bodies, servers
from bench.loadgen import Target, load, run
from bench.run import HEADERS, PROXY_CPU

BODIES = ("small", "small-stream", "claude_code", "claude_code-stream")


def measure(proxy: servers.Server, body: bytes, requests: int) -> tuple[float, float]:
    """(CPU microseconds per request, requests per second) over `requests` after a warm-up."""
    target = Target(proxy.name, proxy.port, proxy.path, body, HEADERS)
    run(load(target, concurrency=64, requests=requests // 5, seconds=30))
    cpu = proxy.cpu_seconds()
    result = run(load(target, concurrency=64, requests=requests, seconds=120))
    return (proxy.cpu_seconds() - cpu) / max(result.ok, 1) * 1e6, result.rate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "trees",
        help="name=path,name=path (the first is the reference); a name ending in +limited, +rpm or +keyed "
        "runs that tree with the load client's key named and limited so (bench.servers.limited_key_env)",
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--bodies", default="small,small-stream", help=f"comma-separated, of {', '.join(BODIES)}")
    parser.add_argument("--requests", type=int, default=15_000)
    args = parser.parse_args(argv)
    trees = dict(item.split("=", 1) for item in args.trees.split(","))
    upstream = servers.start_upstream(1)
    proxies = {
        name: servers.start_ours(
            upstream.port,
            PROXY_CPU,
            source=Path(path),
            extra_env=servers.tree_env(name),
        )
        for name, path in trees.items()
    }
    names = list(proxies)
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for number in range(args.rounds):
            for kind in args.bodies.split(","):
                built = bodies.build(kind.removesuffix("-stream"), kind.endswith("-stream"))
                for name in names[number % len(names) :] + names[: number % len(names)]:
                    for other in proxies.values():
                        other.pause(other is not proxies[name])
                    cpu, rate = measure(proxies[name], built.anthropic, args.requests)
                    results.setdefault((kind, name), []).append(cpu)
                    print(f"round {number} {kind} {name}: {cpu:.1f} us/request, {rate:,.0f} req/s", flush=True)
    finally:
        for proxy in proxies.values():
            proxy.pause(False)
            proxy.stop()
        upstream.stop()
    reference = names[0]
    print(f"\n| body | tree | median us/request | per-round ratio to {reference} |\n|---|---|---|---|")
    for (kind, name), values in results.items():
        ratios = [value / base for value, base in zip(values, results[(kind, reference)], strict=True)]
        listed = ", ".join(f"{ratio:.3f}" for ratio in ratios)
        print(
            f"| {kind} | {name} | {statistics.median(values):.1f} | {listed} (median {statistics.median(ratios):.3f}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
