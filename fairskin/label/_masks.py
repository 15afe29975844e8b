"""Lesion masks in a directory, found by the image's file stem (the layouts of ISIC and HAM10000's
segmentation sets): ``<stem>_mask.png``, ``<stem>_segmentation.png`` or ``<stem>.png``, white =
lesion. ``fairskin label --masks`` and ``fairskin audit --masks`` read them the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fairskin.errors import InputError
from fairskin.label._estimate import load_mask

__all__ = ["LesionMasks", "MASK_SUFFIXES"]

MASK_SUFFIXES = ("_mask", "_segmentation", "_Segmentation", "")


class LesionMasks:
    """The mask files below ``directory``, indexed by stem (the first found wins)."""

    def __init__(self, directory: str | Path | None, *, arg: str = "--masks"):
        self.directory = None if directory is None else Path(directory)
        self.index: dict[str, str] = {}
        if self.directory is None:
            return
        if not self.directory.is_dir():
            raise InputError(f"{arg}: directory not found: {self.directory}")
        for p in sorted(self.directory.rglob("*")):
            if p.is_file():
                self.index.setdefault(p.stem, str(p))

    def path_for(self, image: str) -> str | None:
        """The mask file of ``image`` (a path or name), or None."""
        stem = Path(image).stem
        for suf in MASK_SUFFIXES:
            if stem + suf in self.index:
                return self.index[stem + suf]
        return None

    def load(self, image: str) -> np.ndarray | None:
        """The mask of ``image`` as a bool array, None when it has none; an unreadable file raises
        :class:`OSError` or :class:`ValueError` (the caller reports the row)."""
        path = self.path_for(image)
        return None if path is None else load_mask(path)
