"""Before/after for an optimization: two source trees of the proxy, measured in the same run.

    cp -r src /tmp/before && (restore the old files there)
    .venv/bin/python -m bench.ab --before /tmp/before --after src [--rounds 2]

Both proxies are pinned to the same core and measured in alternation (the other one paused), each
against the direct upstream, over several rounds; the table shows every round so noise is visible.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.run import PROXY_CPU, Bench, parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=Path("src"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", choices=("latency", "throughput", "streaming"), help="one section per round")
    parser.add_argument("--latency-n", type=int, default=400, help="requests per latency sample (tails: 2000+)")
    ab = parser.parse_args()
    args = parse(["--peers", "none", "--no-workers"])
    bench = Bench(args)
    bench.sizes.latency_n, bench.sizes.stream_n, bench.sizes.stream_c64_n = ab.latency_n, 60, 320
    bench.sizes.throughput_s = 4.0
    bench.start_upstream_only()
    assert bench.upstream is not None
    try:
        for name, source in (("before", ab.before), ("after", ab.after)):
            server = servers.start_ours(bench.upstream.port, PROXY_CPU, source=source.resolve())
            server.name = name
            bench.proxies.append(server)
        bench.check_answers()
        sections = {"latency": bench.latency, "throughput": bench.throughput, "streaming": bench.streaming}
        for _ in range(ab.rounds):
            for name, section in sections.items():
                if ab.only in (None, name):
                    section()
    finally:
        bench.stop()
    text = bench.report.render(f"## A/B: before = {ab.before}, after = {ab.after}")
    if ab.out:
        ab.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
