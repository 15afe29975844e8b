"""Lesion masks in a directory, found by the image's relative path, else its file stem (the layouts
of ISIC and HAM10000's segmentation sets): ``<stem>_mask.png``, ``<stem>_segmentation.png`` or
``<stem>.png``, white = lesion. ``fairskin label --masks`` and ``fairskin audit --masks`` read them
the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fairskin.errors import InputError
from fairskin.data import load_mask

__all__ = ["LesionMasks", "MASK_SUFFIXES"]

MASK_SUFFIXES = ("_mask", "_segmentation", "_Segmentation", "")


class LesionMasks:
    """The mask files below ``directory``, indexed by their path relative to it (without suffix)
    and by their bare stem."""

    def __init__(self, directory: str | Path | None, *, arg: str = "masks"):
        self.directory = None if directory is None else Path(directory)
        self.index: dict[str, list[str]] = {}
        if self.directory is None:
            return
        if not self.directory.is_dir():
            raise InputError(f"{arg}: directory not found: {self.directory}")
        for p in sorted(self.directory.rglob("*")):
            if p.is_file():
                rel = p.relative_to(self.directory).with_suffix("").as_posix()
                for key in dict.fromkeys((rel, p.stem)):
                    self.index.setdefault(key, []).append(str(p))

    def path_for(self, image: str) -> str | None:
        """The mask file of ``image`` (a relative path or name): the one at the image's relative
        path (``sub/x_mask.png`` for ``sub/x.jpg``), else the one mask whose name matches the
        image's; None when there is none, or several in different folders (neither is guessed)."""
        rel = Path(image).with_suffix("").as_posix()
        stem = Path(image).stem
        for key in dict.fromkeys((rel, stem)):
            for suf in MASK_SUFFIXES:
                if len(self.index.get(key + suf, ())) == 1:
                    return self.index[key + suf][0]
        return None

    def load(self, image: str) -> np.ndarray | None:
        """The mask of ``image`` as a bool array, None when it has none; an unreadable file raises
        :class:`fairskin.data.ImageLoadError` (the caller reports the row)."""
        path = self.path_for(image)
        return None if path is None else load_mask(path)
