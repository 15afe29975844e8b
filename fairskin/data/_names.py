"""File names as text, whatever bytes the file system holds.

POSIX file names are bytes; Python hands the ones that are not UTF-8 over with "surrogate
escapes" (``caf\\udce9.png``), which no UTF-8 writer (pandas' Arrow strings, CSV and JSON files,
the terminal) accepts. fairskin carries such a name as text with each undecodable byte written
``\\xNN`` (``caf\\xe9.png``), and :func:`fs_path` turns that text back into the file's real name
when the file is opened, so the row is labelled like any other and the name can be written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["text_name", "fs_path"]

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def text_name(name: str) -> str:
    """``name`` as writable text: bytes that are not UTF-8 become ``\\xNN`` (unchanged otherwise)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def fs_path(path: str | os.PathLike) -> Path:
    """The path on disk for a name :func:`text_name` wrote: the name as it is when such a file
    exists, else with its ``\\xNN`` escapes turned back into bytes."""
    path = Path(path)
    text = str(path)
    if "\\x" not in text or os.path.lexists(path):
        return path
    raw = _ESCAPE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)) if int(m.group(1), 16) >= 0x80
                      else chr(int(m.group(1), 16)), text)
    return Path(raw)
