"""Reading metadata CSVs whatever their encoding, with every problem reported."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from fairskin.errors import InputError

__all__ = ["read_metadata_csv", "require_columns"]


def read_metadata_csv(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV as strings. Returns the frame and warnings.

    Lines that are not valid UTF-8 are decoded as Windows-1252 (which never fails) and named
    in a warning, so one stray byte does not lose the file or a row.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"metadata file not found: {path}")
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    warnings: list[str] = []
    lines = raw.splitlines(keepends=True)
    decoded = []
    bad = []
    for i, line in enumerate(lines, start=1):
        try:
            decoded.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            decoded.append(line.decode("cp1252", errors="replace"))
            bad.append(i)
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        warnings.append(f"{path.name}: {len(bad)} line(s) are not UTF-8 (lines {shown}); read as Windows-1252")
    text = "".join(decoded)
    if not text.strip():
        raise InputError(f"{path}: the file is empty; expected a CSV with a header row")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        sep = dialect.delimiter
    except csv.Error:
        sep = ","
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, on_bad_lines="warn")
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df, warnings


def require_columns(df: pd.DataFrame, required: list[str], *, path: str | Path, fmt: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: not a {fmt} metadata file: missing column(s) {missing}; "
            f"expected {required}, found {list(df.columns)}"
        )
