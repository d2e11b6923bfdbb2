"""The benchmark's quick mode runs end to end, so bench/ never rots (127.0.0.1 only, a few seconds)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_measures_the_proxy_against_the_direct_upstream(tmp_path: Path) -> None:
    out, data = tmp_path / "report.md", tmp_path / "data"
    quick = ["--quick", "--peers", "none", "--soak", "1", "--no-pin"]
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", *quick, "--data-dir", str(data), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = out.read_text()
    for section in ("Non-streaming latency", "Streaming", "Throughput", "Memory"):
        assert section in report
    rows = [line for line in report.splitlines() if line.startswith("| ") and "| ours |" in line]
    assert len(rows) >= 8
    assert all(line.rstrip(" |").endswith("| 0") or "RSS" in line or line.count("|") < 6 for line in rows[:4])
    # The proxy's usage records went to the data directory the test chose, not to the user's store.
    with sqlite3.connect(data / "usage.db") as db:
        assert db.execute("SELECT COUNT(*) FROM usage_records").fetchone()[0] > 100
