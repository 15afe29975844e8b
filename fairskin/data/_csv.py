"""Reading CSV files whatever their encoding, delimiter or damage, with every problem reported.

One reader for every CSV fairskin reads: data set metadata, ``labels.csv``, predictions,
manifests and fairskin's own run logs. It returns text cells (no type guessing) or raises
:class:`~fairskin.errors.InputError` naming the file; it never fails with another exception.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pandas as pd

from fairskin.errors import InputError
from fairskin.outputs import csv_restore

__all__ = ["read_csv_table", "read_metadata_csv", "require_columns"]

_DELIMITERS = (",", ";", "\t")
#: a cell longer than this is refused (csv's own default, 128 KiB, is lower than a long prompt can be)
MAX_FIELD = 16 << 20


def _decode(raw: bytes, name: str) -> tuple[str, list[str]]:
    """Text of the file: UTF-16/UTF-8 byte-order marks honoured; lines that are not UTF-8 are read
    as Windows-1252 (which never fails) and named in a warning, so one stray byte loses nothing."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), []
        except UnicodeDecodeError:
            raise InputError(f"{name}: starts like UTF-16 text but is not; save it as UTF-8 CSV") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    decoded, bad = [], []
    for i, line in enumerate(raw.splitlines(keepends=True), start=1):
        try:
            decoded.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            decoded.append(line.decode("cp1252", errors="replace"))
            bad.append(i)
    shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
    return "".join(decoded), [f"{name}: {len(bad)} line(s) are not UTF-8 (lines {shown}); read as Windows-1252"]


def _delimiter(text: str) -> str:
    """The delimiter that splits the header line into the most fields (',' on a tie)."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    best, most = ",", 1
    for d in _DELIMITERS:
        try:
            n = len(next(csv.reader([first], delimiter=d), []))
        except csv.Error:
            continue
        if n > most:
            best, most = d, n
    return best


def read_csv_table(path: str | Path, *, arg: str = "metadata") -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV file as text cells. Returns the frame and warnings.

    Handles a UTF-8 or UTF-16 byte-order mark, lines in Windows-1252, ``,`` / ``;`` / tab
    delimiters (chosen from the header line), quoted fields and short rows (padded with empty
    cells). Rows with more cells than the header are skipped, named with their line number in a
    warning and listed in ``df.attrs["skipped_rows"]`` (``{line, image, status, reason}``), so a
    caller can count them; ``df.attrs["lines"]`` is the file line each kept row starts on (for
    messages about a row); empty lines are ignored. Header names are stripped; empty ones become
    ``Unnamed: N``; a name repeated is refused. Cells fairskin wrote spreadsheet-safe are restored.

    Raises :class:`InputError` (naming ``arg`` and the file) when the file is missing, a folder,
    empty, not CSV text at all, or its header names a column twice.
    """
    path = Path(path)
    name = f"{arg}: {path}" if arg else str(path)
    if path.is_dir():
        raise InputError(f"{name} is a folder; expected a CSV file")
    if not path.is_file():
        raise InputError(f"{arg}: file not found: {path}" if arg else f"file not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    text, warnings = _decode(raw, f"{arg}: {path.name}" if arg else path.name)
    if "\x00" in text:
        raise InputError(f"{name}: holds NUL bytes, so it is not a CSV text file (a spreadsheet or binary file?); "
                         "export it as CSV")
    if not text.strip():
        raise InputError(f"{name}: the file is empty; expected a CSV with a header row")
    sep = _delimiter(text)
    limit = csv.field_size_limit()
    rows, lines = [], []  # each row and the file line it starts on
    try:
        csv.field_size_limit(min(MAX_FIELD, sys.maxsize))
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        start = 1
        for r in reader:
            if r and r != [""]:
                rows.append(r)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{name}: not a readable CSV file ({exc})") from None
    finally:
        csv.field_size_limit(limit)
    if not rows or not any(c.strip() for c in rows[0]):
        raise InputError(f"{name}: the first line is not a header row; expected a CSV with column names")
    header, body = rows[0], rows[1:]
    columns, seen = [], set()
    for i, c in enumerate(header):
        c = csv_restore(c.strip()) or f"Unnamed: {i}"
        if c in seen:
            raise InputError(f"{name}: the header names column {c!r} more than once (columns {columns.index(c) + 1} "
                             f"and {i + 1}); which one holds the data cannot be known: rename or remove one")
        seen.add(c)
        columns.append(c)
    short = f"{arg}: {path.name}" if arg else path.name
    n = len(columns)
    good, kept_lines, skipped = [], [], []
    for line, r in zip(lines[1:], body):
        if len(r) > n:
            skipped.append({"line": line, "image": r[0].strip() if r else "", "status": "bad_row",
                            "reason": f"line {line} has {len(r)} cells, more than the header's {n}; row skipped"})
            continue
        good.append([csv_restore(c) for c in r] + [""] * (n - len(r)))
        kept_lines.append(line)
    if skipped:
        shown = ", ".join(str(b["line"]) for b in skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        warnings.append(f"{short}: {len(skipped)} row(s) have more cells than the header's {n} and were skipped "
                        f"(lines {shown})")
    df = pd.DataFrame(good, columns=columns, dtype=object) if good else pd.DataFrame(columns=columns, dtype=object)
    df.attrs["skipped_rows"] = skipped
    df.attrs["lines"] = kept_lines
    return df, warnings


def read_metadata_csv(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """A data set's metadata CSV (:func:`read_csv_table` naming the file only)."""
    return read_csv_table(path, arg="")


def require_columns(df: pd.DataFrame, required: list[str], *, path: str | Path, fmt: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: not a {fmt} metadata file: missing column(s) {missing}; "
            f"expected {required}, found {list(df.columns)}"
        )
