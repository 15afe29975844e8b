"""Memorisation: is a synthetic image a copy of a real training image?

For every synthetic image, its nearest real training image in a space where copies stay close
(by default 32x32 RGB thumbnails: re-encoding, resizing and mild colour shifts move an image
little there, while two different lesions are far apart). The distance is divided by the
median distance between a real image and its nearest *other* real image, so the threshold is
relative to how close distinct images of this data set are to each other: a ratio of 0.25
means four times closer than distinct real images typically are. Using the median (not each
real image's own neighbour) keeps duplicates inside the real set from hiding copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairskin.errors import InputError

__all__ = ["NearestReal", "nearest_real"]


@dataclass
class NearestReal:
    index: np.ndarray  # (n_synthetic,) index of the nearest real row
    distance: np.ndarray  # (n_synthetic,) Euclidean distance to it (RMS per dimension)
    ratio: np.ndarray  # distance / reference
    reference: float  # median nearest-other-real distance (RMS per dimension)
    flagged: np.ndarray  # bool, ratio < threshold
    threshold: float


def _nn(q, ref, *, exclude_self: bool, block: int = 1024):
    import torch

    r = torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32))
    idx = []
    for s in range(0, len(q), block):
        d = torch.cdist(torch.from_numpy(np.ascontiguousarray(q[s:s + block], dtype=np.float32)), r)
        if exclude_self:
            rows = torch.arange(d.shape[0])
            d[rows, rows + s] = float("inf")
        idx.append(d.argmin(dim=1))
    idx = torch.cat(idx).numpy()
    # cdist's matrix-product form loses precision for near-identical rows (a copy would sit at
    # ~3e-4 instead of 0): the distance to the chosen neighbour is recomputed directly
    dist = np.linalg.norm(np.asarray(q, np.float64) - np.asarray(ref, np.float64)[idx], axis=1)
    return idx, dist


def nearest_real(synthetic: np.ndarray, real: np.ndarray, *, threshold: float = 0.25) -> NearestReal:
    """Nearest real row of every synthetic row, and which are closer than ``threshold`` times
    the median nearest-neighbour distance among the real rows."""
    synthetic = np.asarray(synthetic, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    if synthetic.ndim != 2 or real.ndim != 2 or synthetic.shape[1] != real.shape[1]:
        raise InputError(f"features: synthetic {synthetic.shape} and real {real.shape} must be 2-D with equal width")
    if len(real) < 2:
        raise InputError(f"real: memorisation needs at least 2 real training images, got {len(real)}")
    if not threshold > 0:
        raise InputError(f"threshold: must be positive, got {threshold}")
    scale = np.sqrt(synthetic.shape[1])
    _, rr = _nn(real, real, exclude_self=True)
    reference = float(np.median(rr)) / scale
    if len(synthetic) == 0:
        e = np.empty(0)
        return NearestReal(e.astype(int), e, e, reference, e.astype(bool), threshold)
    idx, d = _nn(synthetic, real, exclude_self=False)
    d = d / scale
    ratio = d / reference if reference > 0 else np.where(d > 0, np.inf, 0.0)
    return NearestReal(idx, d, ratio, reference, ratio < threshold, threshold)
