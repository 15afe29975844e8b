"""Helpers shared by command modules."""

from __future__ import annotations

from rich.table import Table

__all__ = ["fmt_ci", "kv_table"]


def fmt_ci(value, ci, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    s = f"{value:.{digits}f}"
    if ci:
        s += f" ({ci[0]:.{digits}f}-{ci[1]:.{digits}f})"
    return s


def kv_table(title: str, rows: list[tuple[str, str]]) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows:
        t.add_row(k, v)
    return t
