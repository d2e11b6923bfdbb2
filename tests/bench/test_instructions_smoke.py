"""`bench.instructions` counts what the proxy executes per request under callgrind, and two runs of one
tree agree: the count is the measure for hot-path changes too small for CPU time on a shared machine."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.apt import require_package

ROOT = Path(__file__).resolve().parents[2]


def test_instruction_counts_per_request_repeat_within_a_few_per_cent() -> None:
    require_package("valgrind", lambda: shutil.which("callgrind_control"), "counting instructions per request")
    trees = "one=src,two=src,two+limited=src"
    command = [sys.executable, "-m", "bench.instructions", trees, "--requests", "100", "--concurrency", "4"]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr[-2000:]
    counts = {
        name: int(count.replace(",", ""))
        for name, count in re.findall(r"^\| small \| (\S+) \| ([\d,]+) \|", completed.stdout, re.MULTILINE)
    }
    assert counts.keys() == {"one", "two", "two+limited"}, completed.stdout
    assert 100_000 < counts["one"] < 5_000_000
    assert abs(counts["two"] / counts["one"] - 1) < 0.03
    # A limited key is authenticated, admitted and counted: more work, and it shows.
    assert counts["two+limited"] > counts["two"] * 1.005
