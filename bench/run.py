"""The proxy benchmark: our proxy, the direct upstream and the installed peers, side by side in one run.

    .venv/bin/python -m bench.run                 # full run (minutes; soak 10 minutes)
    .venv/bin/python -m bench.run --quick         # CI smoke: a few seconds, no peers
    .venv/bin/python -m bench.run --soak 60 --out bench/last-run.md

Layout on a 2-core machine: the proxy under test is pinned to CPU 0; the fake upstream and this load
client share CPU 1. Every number for a proxy is shown next to the same measurement taken straight
against the upstream in the same run, as a difference (latency) or a ratio (throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bodies, servers
from bench.loadgen import Result, Target, load, paired, percentile, run

HEADERS = (("x-api-key", servers.CLIENT_KEY), ("anthropic-version", "2023-06-01"))
STREAM_CHUNKS = 100
STREAM_BODIES = ("small", "claude_code")  # the one-line request and the 55 KB Claude Code-sized one
STREAM_MODES = (("coalesced", 0.0), ("paced 1 ms", 1.0))  # upstream delay between chunks, ms
FLOOR = "floor"
UPSTREAM_CPU, PROXY_CPU = 1, 0


@dataclass
class Sizes:
    latency_n: int
    stream_n: int
    stream_c64_n: int
    throughput_s: float
    concurrency: int
    open_streams: int
    soak_s: float
    warmup: int

    @classmethod
    def for_mode(cls, quick: bool, soak: float | None) -> Sizes:
        if quick:
            return cls(40, 10, 64, 1.0, 16, 32, soak if soak is not None else 2.0, 5)
        return cls(3000, 200, 640, 8.0, 64, 256, soak if soak is not None else 600.0, 50)


@dataclass
class Report:
    sections: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def table(self, title: str, header: list[str], rows: list[list[str]]) -> None:
        lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        self.sections.append("\n".join(lines))
        print(self.sections[-1] + "\n", flush=True)

    def render(self, header: str) -> str:
        notes = "\n".join(f"- {n}" for n in self.notes)
        return header + "\n\n" + "\n\n".join(self.sections) + ("\n\n### Notes\n\n" + notes if notes else "") + "\n"


def ms(value: float) -> str:
    return f"{value * 1000:.3f}"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = Sizes.for_mode(args.quick, args.soak)
        self.report = Report()
        self.pin = (os.cpu_count() or 1) >= 2 and not args.no_pin
        self.upstream: servers.Server | None = None
        self.proxies: list[servers.Server] = []
        self.stream_modes = STREAM_MODES

    # -- set-up -------------------------------------------------------------------------------------
    def start_upstream_only(self) -> None:
        if self.pin:
            os.sched_setaffinity(0, {UPSTREAM_CPU})
        self.upstream = servers.start_upstream(UPSTREAM_CPU if self.pin else None)

    def start(self) -> None:
        self.start_upstream_only()
        assert self.upstream is not None
        proxy_cpu = PROXY_CPU if self.pin else None
        self.proxies.append(
            servers.start_ours(
                self.upstream.port, proxy_cpu, log_level=self.args.log_level, data_dir=self.args.data_dir
            )
        )
        if self.args.limited:
            # The same proxy again, with the load client's key counted and priced on every request: the
            # A/B of per-key limits in every table of the run, next to the floor.
            limited = servers.start_ours(
                self.upstream.port,
                proxy_cpu,
                log_level=self.args.log_level,
                extra_env=servers.limited_key_env("limited"),
            )
            limited.name = "ours+limited"
            self.proxies.append(limited)
            self.report.notes.append(
                "ours+limited: our proxy with the load client's key limited by rpm, tpm and a daily budget, set "
                "too high to refuse anything (bench.servers.limited_key_env), so every request is authenticated "
                "by name, admitted, counted and priced"
            )
        wanted = self.args.peers.split(",") if self.args.peers not in ("none", "") else []
        if self.args.peers == "auto":
            wanted = ["floor", "litellm", "ccr"]
        for peer in wanted:
            start = {"floor": servers.start_floor, "litellm": servers.start_litellm, "ccr": servers.start_ccr}[peer]
            started = start(self.upstream.port, proxy_cpu)
            if isinstance(started, tuple):
                self.report.notes.append(f"{peer} skipped: {started[1]}")
            else:
                self.proxies.append(started)
        self.check_answers()

    def stop(self) -> None:
        for server in [*self.proxies, *([self.upstream] if self.upstream else [])]:
            server.stop()

    def direct(self, body: bytes, name: str = "direct") -> Target:
        assert self.upstream is not None
        return Target(name, self.upstream.port, "/v1/chat/completions", body)

    def via(self, proxy: servers.Server, body: bytes) -> Target:
        return Target(proxy.name, proxy.port, proxy.path, body, HEADERS)

    def targets(self, kind: str, stream: bool) -> list[Target]:
        built = bodies.build(kind, stream)
        return [self.direct(built.openai)] + [self.via(p, built.anthropic) for p in self.proxies]

    def set_mode(self, chunks: int, delay_ms: float) -> None:
        assert self.upstream is not None
        body = json.dumps({"chunks": chunks, "delay_ms": delay_ms}).encode()
        result = run(
            load(Target("mode", self.upstream.port, "/_bench/mode", body), concurrency=1, requests=1, seconds=5)
        )
        if result.ok != 1:
            raise RuntimeError("could not set the upstream's mode")

    def check_answers(self) -> None:
        """Every proxy must answer a real Anthropic message, streamed and not, before it is measured."""
        self.set_mode(STREAM_CHUNKS, 0)
        for stream in (False, True):
            results = run(paired(self.targets("small", stream), requests=1, seconds=60, warmup=0))
            for name, result in results.items():
                if name == "direct" or (name == FLOOR and not stream):  # the floor passes answers through
                    continue
                # the floor writes only content_block_delta events for a stream
                want = (b"content_block_delta" if name == FLOOR else b"message_stop") if stream else b'"type":"message"'
                compact = result.last_body.replace(b" ", b"")
                if result.ok != 1 or want not in compact:
                    raise RuntimeError(f"{name} did not answer correctly (stream={stream}): {result.last_body[:300]!r}")

    # -- measurements -------------------------------------------------------------------------------
    @contextmanager
    def only(self, proxy: servers.Server) -> Iterator[None]:
        """Pause every other proxy (SIGSTOP) while `proxy` is measured: they share its core."""
        others = [p for p in self.proxies if p is not proxy]
        for other in others:
            other.pause(True)
        try:
            yield
        finally:
            for other in others:
                other.pause(False)

    def latency(self) -> None:
        rows = []
        for kind in ("small", "claude_code"):
            built = bodies.build(kind)
            ours_added = None
            for proxy in self.proxies:
                with self.only(proxy):
                    results = run(
                        paired(
                            [self.direct(built.openai), self.via(proxy, built.anthropic)],
                            requests=self.sizes.latency_n,
                            seconds=300,
                            warmup=self.sizes.warmup,
                        )
                    )
                base = [s.total for s in results["direct"].samples]
                total = [s.total for s in results[proxy.name].samples]
                b50, b99 = percentile(base, 0.5), percentile(base, 0.99)
                p50, p99 = percentile(total, 0.5), percentile(total, 0.99)
                ours_added = ours_added or (p50 - b50)
                rows.append(
                    [
                        kind,
                        proxy.name,
                        ms(p50),
                        ms(p99),
                        ms(b50),
                        ms(b99),
                        ms(p50 - b50),
                        ms(p99 - b99),
                        f"{p99 / p50:.2f}",
                        f"{(p50 - b50) / ours_added:.1f}x",
                        str(len(total)),
                        str(results[proxy.name].errors),
                    ]
                )
                self.report.data[f"latency.{kind}.{proxy.name}"] = {
                    "p50": p50,
                    "p99": p99,
                    "direct_p50": b50,
                    "direct_p99": b99,
                    "n": len(total),
                }
        self.report.table(
            "a. Non-streaming latency, concurrency 1 (ms; direct = same requests straight to the upstream, "
            "interleaved in the same loop)",
            [
                "body",
                "target",
                "p50",
                "p99",
                "direct p50",
                "direct p99",
                "added p50",
                "added p99",
                "p99/p50",
                "added p50 vs ours",
                "n",
                "errors",
            ],
            rows,
        )

    def streaming(self) -> None:
        rows = []
        measured: list[tuple[str, str, int, str, dict[str, float]]] = []
        per_stream = STREAM_CHUNKS + 3  # role chunk, content chunks, finish chunk, usage chunk
        for kind in STREAM_BODIES:
            stream_body = bodies.build(kind, True)
            for label, delay in self.stream_modes:
                self.set_mode(STREAM_CHUNKS, delay)
                n1 = self.sizes.stream_n if delay == 0 else max(self.sizes.stream_n // 4, 5)
                n64 = self.sizes.stream_c64_n if delay == 0 else max(self.sizes.stream_c64_n // 4, 64)
                for proxy in self.proxies:
                    direct, via = self.direct(stream_body.openai), self.via(proxy, stream_body.anthropic)
                    with self.only(proxy):
                        before = proxy.cpu_seconds()
                        one = run(paired([direct, via], requests=n1, seconds=300, warmup=3))
                        cpu1 = proxy.cpu_seconds() - before
                        base64 = run(load(direct, concurrency=64, requests=n64, seconds=120))
                        before = proxy.cpu_seconds()
                        many = run(load(via, concurrency=64, requests=n64, seconds=120))
                        cpu64 = proxy.cpu_seconds() - before
                    for conc, base, result, cpu in (
                        (1, one["direct"], one[proxy.name], cpu1),
                        (64, base64, many, cpu64),
                    ):
                        row, stats = self._stream_row(kind, label, conc, proxy.name, base, result, cpu, per_stream)
                        rows.append(row)
                        measured.append((kind, label, conc, proxy.name, stats))
        self.set_mode(STREAM_CHUNKS, 0)
        self.report.table(
            f"b. Streaming {STREAM_CHUNKS} content chunks (ms; CPU = proxy user+system time per upstream chunk, us; "
            "claude_code = the 55 KB request)",
            [
                "body",
                "upstream",
                "conc.",
                "target",
                "TTFB p50",
                "direct TTFB",
                "added TTFB",
                "total p50",
                "direct total",
                "added total",
                "total p99",
                "CPU/chunk us",
                "n",
                "errors",
            ],
            rows,
        )
        self.stream_vs_floor(measured)

    def stream_vs_floor(self, measured: list[tuple[str, str, int, str, dict[str, float]]]) -> None:
        """Each proxy's added total time as a multiple of the floor's: same body, upstream mode and
        concurrency, same run. Only when the floor is one of the proxies."""
        floor = {(kind, label, conc): stats for kind, label, conc, name, stats in measured if name == FLOOR}
        if not floor:
            return
        rows = []
        for kind, label, conc, name, stats in measured:
            if name == FLOOR:
                continue
            base = floor[kind, label, conc]
            added, floor_added = stats["total"] - stats["direct_total"], base["total"] - base["direct_total"]
            ratio = added / floor_added if floor_added > 0 and added > 0 else float("nan")
            cpu_ratio = (
                stats["cpu_us_per_chunk"] / base["cpu_us_per_chunk"] if base["cpu_us_per_chunk"] else float("nan")
            )
            self.report.data.setdefault("stream_vs_floor", []).append(
                {
                    "body": kind,
                    "upstream": label,
                    "concurrency": conc,
                    "target": name,
                    "added_total": added,
                    "floor_added_total": floor_added,
                    "ratio": ratio,
                    "cpu_ratio": cpu_ratio,
                }
            )
            rows.append(
                [
                    kind,
                    label,
                    str(conc),
                    name,
                    ms(added),
                    ms(floor_added),
                    f"{ratio:.2f}x" if ratio == ratio else "n/a (noise)",
                    f"{cpu_ratio:.2f}x",
                ]
            )
        self.report.table(
            "b2. Streaming vs the floor: added total time as a multiple of the floor's (same body, upstream "
            "and concurrency, this run; ms). Paced: the stream's pacing jitter outweighs the added time, read "
            "the CPU ratio",
            ["body", "upstream", "conc.", "target", "added total", "floor added total", "ratio", "CPU/chunk ratio"],
            rows,
        )

    def _stream_row(
        self, kind: str, label: str, conc: int, name: str, base: Result, result: Result, cpu: float, per_stream: int
    ) -> tuple[list[str], dict[str, float]]:
        # only complete 200 answers count; any other status is an error, not a fast sample
        base_ok = [s for s in base.samples if s.status == 200]
        result_ok = [s for s in result.samples if s.status == 200]
        bt = percentile([s.ttfb for s in base_ok], 0.5)
        bx = percentile([s.total for s in base_ok], 0.5)
        ttfb = percentile([s.ttfb for s in result_ok], 0.5)
        total = [s.total for s in result_ok]
        t50 = percentile(total, 0.5)
        per_chunk = cpu / (result.ok * per_stream) * 1e6 if result.ok else float("nan")
        stats = {"ttfb": ttfb, "total": t50, "direct_ttfb": bt, "direct_total": bx, "cpu_us_per_chunk": per_chunk}
        self.report.data[f"stream.{kind}.{label}.c{conc}.{name}"] = stats
        row = [
            kind,
            label,
            str(conc),
            name,
            ms(ttfb),
            ms(bt),
            ms(ttfb - bt),
            ms(t50),
            ms(bx),
            ms(t50 - bx),
            ms(percentile(total, 0.99)),
            f"{per_chunk:.1f}",
            str(len(total)),
            str(result.errors + len(result.samples) - len(result_ok)),
        ]
        return row, stats

    def throughput(self) -> None:
        rows = []
        for kind in ("small", "claude_code"):
            built = bodies.build(kind)
            ours_rate = None
            for proxy in self.proxies:
                measured = {}
                with self.only(proxy):
                    for target in (self.direct(built.openai), self.via(proxy, built.anthropic)):
                        measured[target.name] = run(
                            load(
                                target,
                                concurrency=self.sizes.concurrency,
                                requests=10**7,
                                seconds=self.sizes.throughput_s,
                                warmup=min(1.0, self.sizes.throughput_s / 2),
                            )
                        )
                result, base = measured[proxy.name], measured["direct"]
                ours_rate = ours_rate or result.rate()
                lat = [s.total for s in result.samples]
                rows.append(
                    [
                        kind,
                        proxy.name,
                        f"{result.rate():,.0f}",
                        f"{base.rate():,.0f}",
                        f"{result.rate() / base.rate():.3f}",
                        f"{result.rate() / ours_rate:.2f}",
                        ms(percentile(lat, 0.5)),
                        ms(percentile(lat, 0.99)),
                        str(result.errors),
                    ]
                )
                self.report.data[f"throughput.{kind}.{proxy.name}"] = {"rate": result.rate(), "direct": base.rate()}
        self.report.table(
            f"c. Throughput, concurrency {self.sizes.concurrency}, proxy pinned to one core (req/s)",
            ["body", "target", "req/s", "direct req/s", "ratio to direct", "vs ours", "p50 ms", "p99 ms", "errors"],
            rows,
        )

    def open_streams(self) -> None:
        """RSS with many streams open at once: each stream lasts ~2 s (100 chunks 20 ms apart)."""
        n = self.sizes.open_streams
        self.set_mode(STREAM_CHUNKS, 20.0)
        rows = []
        for proxy in self.proxies:
            target = self.via(proxy, bodies.build("small", True).anthropic)
            peak = [proxy.rss_mb()]

            async def sample_while(
                task: asyncio.Task[Result], peak: list[float] = peak, proxy: servers.Server = proxy
            ) -> Result:
                while not task.done():
                    peak.append(proxy.rss_mb())
                    await asyncio.sleep(0.1)
                return await task

            async def opened(target: Target = target, sample_while: Any = sample_while) -> Result:
                task = asyncio.create_task(load(target, concurrency=n, requests=n, seconds=60))
                return await sample_while(task)

            with self.only(proxy):
                result = run(opened())
            rows.append([proxy.name, f"{max(peak):.1f}", str(result.ok), str(result.errors)])
            self.report.data[f"memory.open_streams.{proxy.name}"] = max(peak)
        self.set_mode(STREAM_CHUNKS, 0)
        self.report.table(
            f"d2. RSS with {n} streams open at once (MB)", ["target", "peak RSS", "streams ok", "errors"], rows
        )

    def soak(self, idle: dict[str, float], after: dict[str, float]) -> None:
        ours = self.proxies[0]
        seconds = self.sizes.soak_s
        small = self.via(ours, bodies.build("small").anthropic)
        large = self.via(ours, bodies.build("claude_code").anthropic)
        stream = self.via(ours, bodies.build("small", True).anthropic)
        samples: list[tuple[float, float]] = []
        done = 0

        async def soaking() -> None:
            nonlocal done
            start = time.monotonic()
            interval = max(seconds / 20, 0.5)
            while (elapsed := time.monotonic() - start) < seconds:
                step = min(interval, seconds - elapsed)
                results = await asyncio.gather(
                    load(small, concurrency=8, requests=10**6, seconds=step),
                    load(large, concurrency=2, requests=10**6, seconds=step),
                    load(stream, concurrency=4, requests=10**6, seconds=step),
                )
                done += sum(r.ok for r in results)
                samples.append((time.monotonic() - start, ours.rss_mb()))

        run(soaking())
        rss = [r for _, r in samples]
        first_half = rss[: max(len(rss) // 2, 1)]
        second_half = rss[len(rss) // 2 :] or rss
        growth = max(second_half) - max(first_half)
        self.report.data["memory.ours"] = {"idle": idle["ours"], "after_load": after["ours"], "soak": rss}
        self.report.table(
            "d. Memory (MB RSS)",
            [
                "target",
                "idle",
                "after load",
                "soak start",
                "soak end",
                "soak max",
                "growth 2nd half vs 1st",
                "soak s",
                "soak requests",
            ],
            [
                [
                    "ours",
                    f"{idle['ours']:.1f}",
                    f"{after['ours']:.1f}",
                    f"{rss[0]:.1f}",
                    f"{rss[-1]:.1f}",
                    f"{max(rss):.1f}",
                    f"{growth:+.1f}",
                    f"{seconds:g}",
                    f"{done:,}",
                ]
            ]
            + [
                [p.name, f"{idle[p.name]:.1f}", f"{after[p.name]:.1f}", "-", "-", "-", "-", "-", "-"]
                for p in self.proxies[1:]
            ],
        )

    def workers(self) -> None:
        """`serve --workers N` scaling: unpinned, so N workers can use both cores (the load client shares them)."""
        assert self.upstream is not None
        body = bodies.build("small").anthropic
        rows = []
        base: tuple[float, float] | None = None
        for count in (1, 2):
            server = servers.start_ours(
                self.upstream.port, None, workers=count, log_level=self.args.log_level, data_dir=self.args.data_dir
            )
            try:
                time.sleep(1.0 if count > 1 else 0.2)
                cpu, wall = server.cpu_seconds(), time.monotonic()
                result = run(
                    load(
                        self.via(server, body),
                        concurrency=64,
                        requests=10**7,
                        seconds=self.sizes.throughput_s,
                        warmup=0.5,
                    )
                )
                cores = (server.cpu_seconds() - cpu) / (time.monotonic() - wall)
            finally:
                server.stop()
            base = base or (result.rate(), result.rate() / cores)
            per_core = result.rate() / cores
            rows.append(
                [
                    str(count),
                    f"{result.rate():,.0f}",
                    f"{result.rate() / base[0]:.2f}",
                    f"{cores:.2f}",
                    f"{per_core:,.0f}",
                    f"{per_core / base[1]:.2f}",
                    str(result.errors),
                ]
            )
        self.report.table(
            "e. `serve --workers N`, small body, concurrency 64, unpinned (req/s; the load client and the "
            "upstream share the machine's cores, so read req/s per busy proxy core)",
            ["workers", "req/s", "vs 1 worker", "proxy cores busy", "req/s per busy core", "vs 1 worker", "errors"],
            rows,
        )

    def execute(self) -> str:
        started = time.time()
        try:
            self.start()
            idle = {p.name: p.rss_mb() for p in self.proxies}
            self.latency()
            self.streaming()
            self.throughput()
            after = {p.name: p.rss_mb() for p in self.proxies}
            self.open_streams()
            self.soak(idle, after)
        finally:
            self.stop()
        if self.args.workers and self.pin:
            self.pin_all_cores()
            self.upstream = servers.start_upstream(None)
            try:
                self.workers()
            finally:
                self.upstream.stop()
        header = (
            f"## Benchmark run {time.strftime('%Y-%m-%d %H:%M:%S')} ({time.time() - started:.0f} s)\n\n"
            f"`{' '.join(['python -m bench.run', *sys.argv[1:]])}` on {platform.node()} ({os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}); proxy pinned to CPU {PROXY_CPU if self.pin else '-'}, upstream and "
            f"load client on CPU {UPSTREAM_CPU if self.pin else '-'}; proxies: "
            + ", ".join(p.name for p in self.proxies)
        )
        return self.report.render(header)

    def pin_all_cores(self) -> None:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI smoke: small counts, a few seconds, no peers")
    parser.add_argument("--peers", default=None, help="auto (default; quick: none), none, or e.g. litellm,ccr")
    parser.add_argument("--soak", type=float, default=None, help="soak seconds (default 600; quick 2)")
    parser.add_argument(
        "--workers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure serve --workers 1 vs 2 (default on for full runs)",
    )
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL for our proxy (default INFO, as shipped)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--limited", action="store_true", help="also our proxy with the load client's key limited, in every table"
    )
    parser.add_argument("--data-dir", type=Path, help="DATA_DIR for our proxy's usage store (default: a temporary one)")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    if args.peers is None:
        args.peers = "none" if args.quick else "auto"
    if args.workers is None:
        args.workers = not args.quick
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    bench = Bench(args)
    text = bench.execute()
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(bench.report.data, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
