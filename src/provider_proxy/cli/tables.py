"""A usage report as a rich table, JSON or CSV, for `provider-proxy usage`."""

from __future__ import annotations

import csv
import io

import orjson
from rich.table import Table

from provider_proxy.services.usage.report import UsageReport, UsageRow

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
    for row in [*report.rows, report.totals]:
        values = row.as_dict()
        writer.writerow({report.by: values.pop("group"), **{key: values[key] for key in _CSV_FIELDS[1:]}})
    return out.getvalue()


def as_table(report: UsageReport) -> Table:
    priced = report.totals.cost is not None
    table = Table(title=f"Usage by {report.by}, {report.period.describe()}", title_justify="left")
    table.add_column(report.by.replace("_", " "))
    for name in ("requests", "errors", "input", "output", "cache read", "avg latency"):
        table.add_column(name, justify="right")
    if priced:
        table.add_column("est. cost", justify="right")
    for row in report.rows:
        table.add_row(*_cells(row, priced))
    table.add_section()
    table.add_row(*_cells(report.totals, priced), style="bold")
    if report.unpriced:
        table.caption = "No price in the config file or the model facts for: " + ", ".join(report.unpriced)
    return table


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
