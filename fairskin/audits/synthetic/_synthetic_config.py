"""Defaults of the synthetic-image audit, in one place (the CLI reads them too).

Kept free of heavy imports so that registering the ``audit-synthetic`` command stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fairskin.skintone import DEFAULT_SCALE

__all__ = ["SyntheticAuditConfig"]

ExtractorName = Literal["inception", "classifier", "hf", "colour-texture"]


@dataclass(frozen=True)
class SyntheticAuditConfig:
    """Defaults of the synthetic-image audit (the CLI reads them too)."""

    extractor: ExtractorName = "inception"
    batch_size: int = 32
    #: ITA scale for the requested type's interval and for the measured type
    scale: str = DEFAULT_SCALE
    #: inpaint hair (DullRazor) before the ITA of each image is measured
    hair_removal: bool = False
    #: degrees outside the requested interval still counted as "within tolerance"
    ita_tolerance: float = 5.0
    #: FID only when both sets have at least max(feature dim + 1, this) images; else KID only
    fid_min_images: int = 500
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    #: k of the k-NN balls: precision/recall (torch-fidelity's default 3), density/coverage (5)
    prc_k: int = 3
    dc_k: int = 5
    #: random pairs per cell for diversity, images per cell loaded for LPIPS, their side
    diversity_pairs: int = 200
    lpips_images: int = 40
    lpips_side: int = 128
    #: mode collapse when synthetic diversity < this x real diversity of the cell
    mode_collapse_ratio: float = 0.5
    #: the flag needs at least this many images on each side (diversity of 2-3 images is noise)
    mode_collapse_min_n: int = 5
    #: memorised when nearest-real distance < this x median real-to-nearest-real distance
    memorisation_threshold: float = 0.25
    thumbnail_side: int = 32
    embedding: Literal["pca", "tsne"] = "pca"
    #: cells with fewer images than this are marked unreliable in the report
    min_reliable_n: int = 30
    seed: int = 0
