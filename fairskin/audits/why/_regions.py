"""Where an image is lesion, healthy skin, or neither: the parts the "why" audits measure.

The lesion is the data set's own mask where it has one (``--masks``), else the largest part of
the label stage's automatic segmentation (hair left out, holes filled); healthy skin is the label stage's mask
(:func:`fairskin.label.healthy_skin_mask`, the pixels whose colour gives the ITA); background is
everything else: the dermoscope's frame, non-skin background, rulers, hair, glare and the margin
the label stage leaves around each exclusion. The three partition the image.

The masks are found at the label stage's working size (``LabelConfig.work_side`` on the long
side, where its sizes are tuned) and brought back to the image's size; a given lesion mask is
kept at full resolution, so "inside the lesion" means exactly its pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from fairskin.label import LabelConfig, healthy_skin_mask, srgb_to_lab

__all__ = ["REGIONS", "Regions", "image_regions"]

#: the parts, in the order every table and JSON record lists them
REGIONS = ("lesion", "skin", "background")


@dataclass
class Regions:
    lesion: np.ndarray  # bool (H, W)
    skin: np.ndarray  # bool: healthy skin, never lesion
    background: np.ndarray  # bool: neither
    lesion_source: str  # "given" or "automatic"
    #: the label stage's exclusions at the image's size (frame, non_skin, hair, glare, lesion, vignette)
    parts: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"lesion": self.lesion, "skin": self.skin, "background": self.background}


def _resize(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)


def image_regions(rgb: np.ndarray, *, lesion: np.ndarray | None = None,
                  config: LabelConfig = LabelConfig()) -> Regions:
    """Lesion, healthy skin and background of an 8-bit sRGB image; ``lesion``: a bool mask of the
    image's shape (the data set's), else the automatic segmentation is used."""
    h, w = rgb.shape[:2]
    if lesion is not None:
        lesion = np.asarray(lesion, bool)
        if lesion.shape != (h, w):
            raise ValueError(f"lesion: mask shape {lesion.shape} does not match the image's {(h, w)}")
    s = config.work_side / max(h, w)
    work = (max(1, round(w * s)), max(1, round(h * s)))
    small = cv2.resize(rgb, work, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    m = healthy_skin_mask(srgb_to_lab(small), lesion=None if lesion is None else _resize(lesion, work), config=config)
    parts = {k: _resize(v, (w, h)) for k, v in m.parts.items()}
    les = lesion if lesion is not None else _main_lesion(parts.get("lesion"), parts.get("hair"), (h, w))
    skin = _resize(m.skin, (w, h)) & ~les
    return Regions(lesion=les, skin=skin, background=~(les | skin), lesion_source="given" if lesion is not None
                   else "automatic", parts=parts)


def _main_lesion(auto: np.ndarray | None, hair: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """The automatic segmentation's largest connected part, holes filled: the label stage marks every
    colour outlier (hair edges, stray spots) as "lesion", which is right for excluding them from
    the skin but not for saying where the lesion is."""
    if auto is None or not auto.any():
        return np.zeros(shape, bool)
    m = auto & ~hair if hair is not None else auto
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(shape, bool)
    biggest = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    filled = biggest.copy()
    contours, _ = cv2.findContours(biggest, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)
