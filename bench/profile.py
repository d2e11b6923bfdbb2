"""Where the proxy's time goes: py-spy samples our proxy while the load client drives one scenario.

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python -m bench.profile small|claude_code|stream|stream-paced [--seconds 8] [--out DIR]

Prints the functions with the most samples (self and inclusive) and writes the collapsed stacks
(`DIR/<scenario>.txt`, for flamegraph tools or speedscope) next to a flame graph SVG.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bodies, servers
from bench.loadgen import Target, load, run
from bench.run import HEADERS, PROXY_CPU, STREAM_CHUNKS, UPSTREAM_CPU

SCENARIOS = {
    "small": ("small", False, 0.0),
    "claude_code": ("claude_code", False, 0.0),
    "stream": ("small", True, 0.0),
    "stream-paced": ("small", True, 1.0),
}


def _function(frame: str) -> str:
    """`name (path/file.py:123)` -> `name (path/file.py)`: count per function, not per line."""
    head, _, line = frame.rpartition(":")
    return head + ")" if line.rstrip(")").isdigit() else frame


def summarize(collapsed: Path, top: int) -> str:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [_function(frame) for frame in stack.split(";")]
        main = any("Server.run (uvicorn" in frame for frame in frames)
        threads["event loop thread" if main else frames[min(len(frames) - 1, 2)]] += n
        if not main:
            continue
        total += n
        self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    everything = sum(threads.values())
    lines = ["samples by thread (other threads share the pinned core):"]
    lines += [f"{100 * n / everything:6.1f}  {name}" for name, n in threads.most_common(6)]
    lines += ["", f"event loop thread: {total} samples; % below are of those", "", "self %  function"]
    lines += [f"{100 * n / total:6.1f}  {name}" for name, n in self_time.most_common(top)]
    lines += ["", "incl %  function (provider_proxy, starlette, uvicorn, httptools)"]
    interesting = ("provider_proxy", "starlette", "uvicorn", "httptools", "logging")
    picked = [(name, n) for name, n in inclusive.most_common() if any(k in name for k in interesting)]
    lines += [f"{100 * n / total:6.1f}  {name}" for name, n in picked[:top]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--out", type=Path, default=Path("/tmp/provider-proxy-profile"))
    parser.add_argument("--limited", action="store_true", help="the load client's key limited (rpm, tpm, budget)")
    parser.add_argument("--source", type=Path, help="another checkout's src folder to profile (default: this one)")
    args = parser.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        print("py-spy is not installed: .venv/bin/pip install -r bench/requirements.txt", file=sys.stderr)
        return 2
    kind, stream, delay = SCENARIOS[args.scenario]
    args.out.mkdir(parents=True, exist_ok=True)
    upstream = servers.start_upstream(UPSTREAM_CPU, STREAM_CHUNKS, delay)
    extra_env = servers.limited_key_env() if args.limited else None
    proxy = servers.start_ours(
        upstream.port, PROXY_CPU, log_level=args.log_level, extra_env=extra_env, source=args.source
    )
    try:
        target = Target("ours", proxy.port, proxy.path, bodies.build(kind, stream).anthropic, HEADERS)
        run(load(target, concurrency=8, requests=200, seconds=5))  # warm up
        raw, svg = args.out / f"{args.scenario}.txt", args.out / f"{args.scenario}.svg"
        spy = [pyspy, "record", "-p", str(proxy.pid), "-r", str(args.rate), "-d", str(int(args.seconds) + 1)]
        recorder = subprocess.Popen([*spy, "-f", "raw", "-o", str(raw)], stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        result = run(load(target, concurrency=args.concurrency, requests=10**7, seconds=args.seconds))
        recorder.wait(args.seconds + 30)
        print(f"{args.scenario}: {result.rate():,.0f} req/s under py-spy, {result.errors} errors")
        print(summarize(raw, args.top))
        folded = subprocess.run([pyspy, "--version"], capture_output=True, text=True, check=False)
        print(f"\ncollapsed stacks: {raw} ({folded.stdout.strip()}); flame graph: py-spy record -f flamegraph -o {svg}")
    finally:
        proxy.stop()
        upstream.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
