"""Instructions per request of one or more source trees of the proxy, counted by valgrind's callgrind.

    PYTHONPATH=src .venv/bin/python -m bench.instructions before=/tmp/before/src,now=src,now+limited=src

CPU time per request (`bench.cpu_ab`) moves by 3-5% from round to round on a machine shared with other
work, so a change of 1-2% takes many rounds to show. The number of instructions the proxy executes per
request does not depend on what else the machine runs: two runs of one tree agree within ~0.2%, so one
run per tree tells a cost of a few hundred instructions (a function call or two) from none. It is not
time (a cache miss costs no instructions, an instruction may cost several cycles), so read it next to
`bench.cpu_ab` for changes that move memory rather than code.

Each tree's proxy runs under callgrind (~50x slower) with the same settings as in the other benches; the
load client warms it up, the counters are zeroed, `--requests` requests are sent at `--concurrency`, the
counters are dumped and the proxy stopped. A name ending in +limited, +rpm or +keyed makes the load
client's key a named key limited so (bench.servers.limited_key_env). Needs valgrind (`apt install
valgrind`).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bodies, servers
from bench.cpu_ab import BODIES
from bench.loadgen import Target, load, run
from bench.run import HEADERS, PROXY_CPU

_TRIGGER = "bench-measured"


def measure(source: Path, extra_env: dict[str, str] | None, body: bytes, requests: int, concurrency: int) -> float:
    """Instructions the proxy executed per answered request (every thread of it)."""
    upstream = servers.start_upstream(1 - PROXY_CPU)
    out = Path(tempfile.mkdtemp()) / "callgrind.out"
    wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", "--dump-instr=no"]
    proxy = servers.start_ours(
        upstream.port, PROXY_CPU, source=source, extra_env=extra_env, wrapper=wrapper, startup=300.0
    )
    try:
        target = Target(proxy.name, proxy.port, proxy.path, body, HEADERS)
        run(load(target, concurrency=concurrency, requests=max(requests // 5, 100), seconds=600))
        subprocess.run(["callgrind_control", "--zero", str(proxy.pid)], check=True, capture_output=True)
        result = run(load(target, concurrency=concurrency, requests=requests, seconds=1200))
        subprocess.run(["callgrind_control", f"--dump={_TRIGGER}", str(proxy.pid)], check=True, capture_output=True)
        if result.ok < requests:
            raise RuntimeError(f"{requests - result.ok} of {requests} requests failed; see {proxy.log}")
        return _dumped(out.parent) / result.ok
    finally:
        proxy.stop()
        upstream.stop()
        shutil.rmtree(out.parent, ignore_errors=True)


def _dumped(folder: Path) -> int:
    """The instruction total of the dump made on our trigger (callgrind writes it within a moment)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in folder.glob("callgrind.out.*"):
            text = path.read_text(errors="replace")
            found = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
            if _TRIGGER in text[:4000] and found:
                return int(found.group(1))
        time.sleep(0.2)
    raise RuntimeError(f"callgrind wrote no dump under {folder}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", help="name=path,name=path (the first is the reference)")
    parser.add_argument("--bodies", default="small", help=f"comma-separated, of {', '.join(BODIES)}")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed: apt install valgrind", file=sys.stderr)
        return 2
    trees = dict(item.split("=", 1) for item in args.trees.split(","))
    reference = next(iter(trees))
    results: dict[tuple[str, str], float] = {}
    for kind in args.bodies.split(","):
        built = bodies.build(kind.removesuffix("-stream"), kind.endswith("-stream"))
        for name, path in trees.items():
            results[(kind, name)] = measure(
                Path(path), servers.tree_env(name), built.anthropic, args.requests, args.concurrency
            )
            print(f"{kind} {name}: {results[(kind, name)]:,.0f} instructions/request", flush=True)
    print(f"\n| body | tree | instructions/request | ratio to {reference} |\n|---|---|---|---|")
    for (kind, name), value in results.items():
        print(f"| {kind} | {name} | {value:,.0f} | {value / results[(kind, reference)]:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
