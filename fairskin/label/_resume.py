"""What a resumed label run checks before it keeps a finished row, and what it carries over
from the data set's reader.

A row finished by an interrupted run is kept only while its source is the one it was computed
from: each row records its image's (and lesion mask's) size and modification time
(:func:`source_stamp`), and a resumed run redoes every row whose stamp no longer matches
(:func:`drop_changed`), so replacing an image between the two runs cannot leave its old label.

A reader's warning about a row that can still be labelled (a human type out of range, a
malformed diagnosis flag) is that row's reason in labels.csv (:func:`with_reader_warnings`),
so it reaches the terminal summary and the JSON as well.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from fairskin.data import fs_path

__all__ = ["STAMP_FIELD", "source_stamp", "drop_changed", "with_reader_warnings", "warned_rows"]

#: the column of ``<out>.partial`` holding each row's source stamp (not in labels.csv)
STAMP_FIELD = "source_stamp"


def _stat(path: str | os.PathLike | None) -> str:
    if path is None:
        return "-"
    try:
        st = os.stat(fs_path(path))
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def source_stamp(image: str | os.PathLike, mask: str | os.PathLike | None = None) -> str:
    """``size:mtime_ns`` of the image (and of its mask): changes whenever either file is replaced."""
    return f"{_stat(image)}|{_stat(mask)}"


def drop_changed(done: dict[str, dict], stamps: dict[str, str]) -> list[str]:
    """Remove from ``done`` (image -> finished row) each row whose recorded stamp differs from
    ``stamps`` (image -> the source's stamp now); the images removed, to be labelled again."""
    changed = [rel for rel, row in done.items() if rel in stamps and row.get(STAMP_FIELD) != stamps[rel]]
    for rel in changed:
        del done[rel]
    return changed


def with_reader_warnings(labels: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """labels with the manifest's reason put before the estimator's on rows both call ok."""
    given = manifest["reason"].fillna("").astype(str).to_numpy()
    own = labels["reason"].fillna("").astype(str).to_numpy()
    ok = (labels["status"].astype(str).to_numpy() == "ok") & (manifest["status"].astype(str).to_numpy() == "ok")
    merged = [(g + "; " + o if o and g else g or o) if k else o for g, o, k in zip(given, own, ok)]
    labels = labels.copy()
    labels["reason"] = merged
    return labels


def warned_rows(labels: pd.DataFrame, limit: int = 200) -> list[dict]:
    """Rows labelled with a warning (status ok, a reason), for the summary JSON."""
    w = labels[labels["status"].eq("ok") & labels["reason"].fillna("").ne("")]
    return [{"image": str(r.image), "reason": str(r.reason)} for r in w.head(limit).itertuples()]
