"""What a result shows in a notebook: one tidy table shape and one small HTML card.

Every result of the top-level API (``fairskin.audit``, ``fairskin.label``, ``fairskin.balance``)
has ``to_frame()`` in the tidy shape of :data:`TIDY_COLUMNS` (one row per model x group x metric,
its interval and its flags), a ``repr`` of one or two lines, and ``_repr_html_`` (a short card: a
few lines and the headline table), so that a notebook shows what was found without printing
the whole JSON (an audit's dict runs to tens of thousands of characters).
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable, Iterable, Mapping

import pandas as pd

__all__ = ["TIDY_COLUMNS", "tidy_frame", "html_card", "fmt_interval", "callable_module", "NotebookView"]

#: the columns of every result's ``to_frame()``; ``flags`` is a comma-separated string ("" = none)
TIDY_COLUMNS = ("model", "group", "metric", "value", "low", "high", "flags")


class NotebookView:
    """Mixin of a result class: ``repr``, ``to_frame()`` and ``_repr_html_`` come from the functions
    ``<prefix>_repr``, ``<prefix>_frame`` and ``<prefix>_html`` of the module named by
    ``_notebook = (module, prefix)``, imported on first use. A dataclass using it must say
    ``repr=False`` (a generated repr would replace this one)."""

    _notebook: tuple[str, str] = ("", "")

    def _view(self, what: str):
        import importlib

        module, prefix = self._notebook
        return getattr(importlib.import_module(module), f"{prefix}_{what}")

    def __repr__(self) -> str:
        return self._view("repr")(self)

    def to_frame(self, *args, **kwargs) -> pd.DataFrame:
        """Tidy: one row per model x group x metric, columns :data:`TIDY_COLUMNS`."""
        return self._view("frame")(self, *args, **kwargs)

    def _repr_html_(self) -> str:
        return self._view("html")(self)


def tidy_frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    """Rows (dicts with the :data:`TIDY_COLUMNS` keys; missing ones become None) as the tidy frame."""
    df = pd.DataFrame([{c: r.get(c) for c in TIDY_COLUMNS} for r in rows], columns=list(TIDY_COLUMNS))
    for c in ("value", "low", "high"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df["flags"] = df["flags"].map(lambda f: ",".join(f) if isinstance(f, (list, tuple)) else (f or ""))
    return df


def fmt_interval(value, low=None, high=None, digits: int = 2) -> str:
    """``0.82 [0.75, 0.88]``; ``n/a`` for a missing value; the bracket only where both ends exist."""
    if value is None or pd.isna(value):
        return "n/a"
    text = f"{value:.{digits}f}"
    if low is not None and high is not None and not (pd.isna(low) or pd.isna(high)):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def html_card(title: str, lines: Iterable[str], table: pd.DataFrame | None = None) -> str:
    """A small self-contained HTML block: a bold title, a few escaped lines, an optional table."""
    parts = [f'<div class="fairskin-result"><strong>{html.escape(title)}</strong><ul>']
    parts += [f"<li>{html.escape(line)}</li>" for line in lines]
    parts.append("</ul>")
    if table is not None and len(table):
        parts.append(table.to_html(index=False, na_rep="", border=0, escape=True))
    parts.append("</div>")
    return "".join(parts)


def callable_module(name: str, func: Callable) -> None:
    """Make the (already imported) module ``name`` callable as ``func``: ``fairskin.label(data)``
    runs ``label_dataset(data)`` while ``from fairskin.label import LabelConfig`` still works.
    (A module's class may be replaced by a subclass of ModuleType; Python 3.5+.)"""
    module = sys.modules[name]

    class CallableModule(type(module)):
        def __call__(self, *args, **kwargs):
            return func(*args, **kwargs)

    CallableModule.__call__.__doc__ = func.__doc__
    module.__class__ = CallableModule
