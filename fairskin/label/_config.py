"""Defaults of the label stage, in one place (the CLI reads them too)."""

from __future__ import annotations

from dataclasses import dataclass

from fairskin.skintone import DEFAULT_SCALE

__all__ = ["LabelConfig"]


@dataclass(frozen=True)
class LabelConfig:
    """How healthy skin is found and how ITA becomes a skin type.

    Sizes are fractions of the image's long side, so results do not depend on resolution:
    every image is resampled to ``work_side`` pixels on its long side before anything else.
    """

    scale: str = DEFAULT_SCALE
    work_side: int = 192
    #: images whose healthy skin covers less than this share of the valid pixels get no type
    min_skin_fraction: float = 0.04
    #: hair: black-hat kernel size and the L* contrast a hair must reach
    hair_kernel: float = 0.06
    hair_contrast: float = 4.0
    #: lesion / non-skin: colour distance (Delta E 1976) from the skin colour beyond which a
    #: pixel is not healthy skin, at least this and at least the Otsu split of the distances
    outlier_delta_e: float = 11.0
    #: grow excluded regions by this share of the long side (lesion borders, hair edges)
    exclusion_margin: float = 0.012
    #: glare: pixels brighter than the skin by this many L* units
    glare_delta_l: float = 14.0
    #: vignette: radial rings darker than the centre by more than this many L* units are dropped
    vignette_delta_l: float = 1.5
    #: ITA is read from the healthy skin at least this share of the long side away from anything
    #: excluded (the blurred edges of lesions, hair and a dermoscope's rim are not the skin's
    #: tone), or from the farthest quarter of the skin where less lies that far; 0: all of it
    core_distance: float = 0.02
    #: confidence model: systematic ITA uncertainty (degrees) of a photograph
    ita_systematic_sd: float = 2.0
    #: inpaint hair (DullRazor, :func:`fairskin.data.remove_hair`) before the mask is found; the
    #: mask's own hair exclusion stays on either way
    hair_removal: bool = False

    def fingerprint(self) -> str:
        import hashlib
        import json
        from dataclasses import asdict

        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]
