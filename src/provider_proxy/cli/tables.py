"""A usage report as a rich table, JSON or CSV, for `provider-proxy usage`."""

from __future__ import annotations

import csv
import io

import orjson
from rich.console import Console
from rich.table import Table

from provider_proxy.services.usage.report import REJECTED, UsageReport, UsageRow

_NAME_MIN_WIDTH = 16  # the narrowest the name column gets (it folds); number columns never shrink
_CSV_FIELDS = (
    "group",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "avg_latency_ms",
    "cost",
)


def as_json(report: UsageReport) -> str:
    return orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode()


def as_csv(report: UsageReport) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=(report.by, *_CSV_FIELDS[1:]), lineterminator="\n")
    writer.writeheader()
    for row in [*report.rows, *_rejected(report), report.totals]:
        values = row.as_dict()
        writer.writerow({report.by: values.pop("group"), **{key: values[key] for key in _CSV_FIELDS[1:]}})
    return out.getvalue()


def as_table(report: UsageReport) -> Table:
    """Nothing in it is ever cut: a long name folds onto more lines (two models that differ only at
    the end must not print the same), and a number column is as wide as its widest number."""
    priced = report.totals.cost is not None
    rows = [_cells(row, priced) for row in report.rows]
    rejected = [_cells(row, priced) for row in _rejected(report)]
    total = _cells(report.totals, priced)
    widths = [max(len(cells[i]) for cells in [*rows, *rejected, total]) for i in range(len(total))]
    table = Table(title=f"Usage by {report.by}, {report.period.describe()}", title_justify="left")
    table.add_column(report.by.replace("_", " "), overflow="fold")
    headers = ["requests", "errors", "input", "output", "cache read", "avg latency", "est. cost"][: len(total) - 1]
    for name, width in zip(headers, widths[1:], strict=True):
        # A fixed width: Rich narrows only the name column to fit (headers wrap at the space).
        table.add_column(name, justify="right", width=max(width, *map(len, name.split())))
    for cells in rows:
        table.add_row(*cells)
    table.add_section()
    for cells in rejected:
        table.add_row(*cells, style="dim")
    table.add_row(*total, style="bold")
    notes = []
    if rejected:
        notes.append(f"{REJECTED}: refused before naming a model (wrong PROXY_API_KEY, invalid request)")
    if report.totals.interrupted:
        notes.append(
            f"{report.totals.interrupted:,} of the errors are interrupted streams: cut off when their proxy process "
            "died; recorded with what was known when they started (their output tokens are unknown)"
        )
    if report.unpriced:
        notes.append("No price in the config file or the model facts for: " + ", ".join(report.unpriced))
    table.caption = "\n".join(notes) or None
    return table


def _rejected(report: UsageReport) -> list[UsageRow]:
    """The rejected requests as a row of their own, when there were any."""
    return [report.rejected] if report.rejected.requests else []


def show(table: Table, console: Console) -> None:
    """Print the table whole: when the terminal (or the 80 columns of a pipe) is narrower than the
    table can be, print it wider rather than cut its columns off."""
    # The name column at its narrowest, the others at their fixed widths, one space either side of
    # each and a rule between them.
    needed = sum(column.width or _NAME_MIN_WIDTH for column in table.columns) + 3 * len(table.columns) + 1
    if needed > console.width:
        console.width = needed
    console.print(table)


def _cells(row: UsageRow, priced: bool) -> list[str]:
    cells = [
        row.group,
        f"{row.requests:,}",
        f"{row.errors:,}",
        f"{row.input_tokens:,}",
        f"{row.output_tokens:,}",
        f"{row.cache_read_tokens:,}",
        f"{row.avg_latency_ms / 1000:.2f} s",
    ]
    if priced:
        cells.append("-" if row.cost is None else f"${row.cost:,.2f}")
    return cells
