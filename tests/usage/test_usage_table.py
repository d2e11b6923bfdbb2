"""The usage table never cuts what it shows: two models whose names differ only at the end print
differently, and numbers print whole, on a narrow terminal and in a pipe's 80 columns."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from provider_proxy.cli import tables
from provider_proxy.services.usage.period import parse_period
from provider_proxy.services.usage.report import UsageReport, UsageRow

TURBO = "openrouter/qwen/qwen3-coder-480b-a35b-instruct-turbo"
FAST = "openrouter/qwen/qwen3-coder-480b-a35b-instruct-fast"


def _report() -> UsageReport:
    rows = [UsageRow(name, 1_200, 3, 123_456_789, 2_345_678, 0, 1_234_567.0, 12.5) for name in (TURBO, FAST)]
    return UsageReport(parse_period("7d", None), "model", UsageRow("total", 2_400, cost=25.0), rows)


def _first_column(text: str) -> list[str]:
    """The name of each body row, put back together from the lines it folded onto."""
    names: list[str] = []
    for line in text.splitlines():
        cells = line.split("│")
        if len(cells) < 3:
            continue
        if cells[2].strip():
            names.append(cells[1].strip())
        elif names:
            names[-1] += cells[1].strip()
    return names


@pytest.mark.parametrize("width", [40, 80, 200])
def test_the_table_shows_every_name_and_number_whole(width: int) -> None:
    console = Console(width=width, file=io.StringIO(), record=True)
    tables.show(tables.as_table(_report()), console)
    text = console.export_text()
    assert _first_column(text) == [TURBO, FAST, "total"]
    assert "…" not in text
    assert text.count("123,456,789") == 2 and text.count("$12.50") == 2 and "$25.00" in text
