"""Before/after for an optimization: two source trees of the proxy, measured in the same run.

    cp -r src /tmp/before && (restore the old files there)
    .venv/bin/python -m bench.ab --before /tmp/before --after src [--rounds 2] [--floor]

Both proxies are pinned to the same core and measured in alternation (the other one paused), each
against the direct upstream, over several rounds; the table shows every round so noise is visible.
`--floor` adds bench/floor.py to the same loops: every section then shows the floor's figures, the
streaming section each proxy's added total as a multiple of the floor's, and the end of the run a
summary of those ratios over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.run import FLOOR, PROXY_CPU, STREAM_MODES, Bench, parse


def floor_summary(bench: Bench) -> None:
    """The streaming ratios to the floor over all rounds: median, lowest and highest per figure."""
    rounds: dict[tuple[str, str, int, str], list[dict[str, float]]] = {}
    for entry in bench.report.data.get("stream_vs_floor", []):
        key = (entry["body"], entry["upstream"], entry["concurrency"], entry["target"])
        rounds.setdefault(key, []).append(entry)
    rows = []
    for (kind, label, conc, name), entries in rounds.items():
        ratios = [e["ratio"] for e in entries if e["ratio"] == e["ratio"]]  # not NaN: both added > 0
        added = statistics.median(e["added_total"] for e in entries)
        floor_added = statistics.median(e["floor_added_total"] for e in entries)
        cpu = statistics.median(e["cpu_ratio"] for e in entries)
        rows.append(
            [
                kind,
                label,
                str(conc),
                name,
                f"{added * 1000:.3f}",
                f"{floor_added * 1000:.3f}",
                f"{statistics.median(ratios):.2f}x" if ratios else "n/a",
                f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "n/a",
                " ".join(f"{r:.2f}" for r in ratios),
                f"{cpu:.2f}x",
            ]
        )
    if rows:
        bench.report.table(
            f"Streaming vs the floor over {max(len(e) for e in rounds.values())} rounds (medians; ms)",
            [
                "body",
                "upstream",
                "conc.",
                "target",
                "added total",
                "floor added total",
                "ratio",
                "range",
                "per round",
                "CPU/chunk ratio",
            ],
            rows,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=Path("src"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", choices=("latency", "throughput", "streaming"), help="one section per round")
    parser.add_argument("--latency-n", type=int, default=400, help="requests per latency sample (tails: 2000+)")
    parser.add_argument("--stream-n", type=int, default=60, help="streams per concurrency-1 sample (paced: 1/4)")
    # at 320 streams (5 waves of 64) our proxy's c=64 p50 came out 0.8x to 3.2x the floor's,
    # with a few streams held back for 300-900 ms; 2,560 reach the steady state (p50 = 64 services)
    parser.add_argument("--stream-c64-n", type=int, default=2560, help="streams per concurrency-64 sample (paced: 1/4)")
    parser.add_argument("--floor", action="store_true", help="measure bench/floor.py in the same loops")
    parser.add_argument("--coalesced-only", action="store_true", help="stream only coalesced (skip paced 1 ms)")
    parser.add_argument(
        "--limited",
        action="store_true",
        help="add 'limited': the after tree with the load client's key limited (rpm, tpm, budget; counted)",
    )
    ab = parser.parse_args()
    args = parse(["--peers", "none", "--no-workers"])
    bench = Bench(args)
    bench.sizes.latency_n, bench.sizes.stream_n, bench.sizes.stream_c64_n = ab.latency_n, ab.stream_n, ab.stream_c64_n
    bench.sizes.throughput_s = 4.0
    if ab.coalesced_only:
        bench.stream_modes = tuple(mode for mode in STREAM_MODES if mode[1] == 0)
    bench.start_upstream_only()
    assert bench.upstream is not None
    try:
        variants = [("before", ab.before, None), ("after", ab.after, None)]
        if ab.limited:
            variants.append(("limited", ab.after, servers.limited_key_env()))
        for name, source, env in variants:
            server = servers.start_ours(bench.upstream.port, PROXY_CPU, source=source.resolve(), extra_env=env)
            server.name = name
            bench.proxies.append(server)
        if ab.floor:
            floor = servers.start_floor(bench.upstream.port, PROXY_CPU)
            if isinstance(floor, tuple):
                raise RuntimeError(floor[1])
            assert floor.name == FLOOR
            bench.proxies.append(floor)
        bench.check_answers()
        sections = {"latency": bench.latency, "throughput": bench.throughput, "streaming": bench.streaming}
        for _ in range(ab.rounds):
            for name, section in sections.items():
                if ab.only in (None, name):
                    section()
        floor_summary(bench)
    finally:
        bench.stop()
    text = bench.report.render(
        f"## A/B: before = {ab.before}, after = {ab.after}" + (", with the floor" if ab.floor else "")
    )
    if ab.out:
        ab.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
