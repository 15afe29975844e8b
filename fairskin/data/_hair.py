"""Hair removal (DullRazor): find dark thin hair with a morphological black-hat, inpaint it.

DullRazor (Lee et al., Comput. Biol. Med. 1997) finds hair as the dark thin structures that a
morphological closing removes, and replaces those pixels from their surroundings. This is the
OpenCV form the skin-tone benchmarks use: the black-hat (closing minus image) of the grey image
with an elliptical element, a threshold on its (slightly blurred) response, and ``cv2.inpaint``
(Telea's fast marching method by default).

Every size is a share of the image's long side, so a result does not depend on resolution. The
element must be wider than a hair and narrower than a lesion: dark structures narrower than it
(hair, but also a lesion's dots and thin network lines) are what it finds, which is DullRazor's
known cost and why ``fairskin`` keeps it an option rather than a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

__all__ = ["HairRemovalConfig", "hair_mask", "remove_hair", "HAIR_REMOVAL_METHOD"]

#: how the step is named in manifests, model metadata and JSON records
HAIR_REMOVAL_METHOD = "dullrazor"


@dataclass(frozen=True)
class HairRemovalConfig:
    """Defaults of the DullRazor step (sizes: shares of the image's long side)."""

    #: black-hat element diameter: wider than a hair, narrower than a lesion (17 px at 560 px)
    kernel: float = 0.03
    #: grey levels (of 255) the black-hat response must exceed to count as hair
    threshold: float = 10.0
    #: grow the hair mask by this much (0: the 3 px blur of the response already takes the
    #: anti-aliased edge; growing it further inpaints more skin and moved ITA more on phantoms)
    grow: float = 0.0
    #: inpainting neighbourhood
    inpaint_radius: float = 0.012
    inpaint: Literal["telea", "ns"] = "telea"


def _odd(n: float) -> int:
    return max(3, int(round(n)) | 1)


def _check(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb: expected an H x W x 3 image, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"rgb: expected 8-bit sRGB (uint8), got {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def hair_mask(rgb: np.ndarray, *, config: HairRemovalConfig = HairRemovalConfig()) -> np.ndarray:
    """Where DullRazor finds hair in an 8-bit sRGB image (bool, H x W)."""
    rgb = _check(rgb)
    side = max(rgb.shape[:2])
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(config.kernel * side),) * 2)
    blackhat = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, element)
    blackhat = cv2.GaussianBlur(blackhat, (3, 3), 0)
    mask = (blackhat > config.threshold).astype(np.uint8)
    grow = int(round(config.grow * side))
    if grow > 0 and mask.any():
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    return mask.astype(bool)


def remove_hair(rgb: np.ndarray, *, config: HairRemovalConfig = HairRemovalConfig(),
                mask: np.ndarray | None = None) -> np.ndarray:
    """The image with its hair inpainted (uint8, same shape); pixels outside the hair mask are
    returned unchanged. ``mask``: use this hair mask instead of finding one."""
    rgb = _check(rgb)
    mask = hair_mask(rgb, config=config) if mask is None else np.asarray(mask, bool)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask: expected shape {rgb.shape[:2]}, got {mask.shape}")
    if not mask.any():
        return rgb.copy()
    flag = cv2.INPAINT_TELEA if config.inpaint == "telea" else cv2.INPAINT_NS
    radius = max(1.0, config.inpaint_radius * max(rgb.shape[:2]))
    out = cv2.inpaint(rgb, mask.astype(np.uint8), radius, flag)
    out[~mask] = rgb[~mask]
    return out
