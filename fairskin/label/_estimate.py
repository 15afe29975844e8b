"""Per-image skin-tone estimate: healthy-skin mask -> robust L*, b* -> ITA -> skin type.

The statistic
-------------
ITA is computed once per image from the **medians of L\\* and b\\*** over the healthy-skin
pixels, not as the median of per-pixel ITA. Per-pixel ITA is unstable where b* is small
(``atan2`` turns a unit of noise in b* into tens of degrees on pale or grey pixels); medians
of the two channels tolerate up to half the pixels being residual hair, lesion border or
shadow; and one angle from robust L*, b* is how a colorimeter reading is turned into ITA in
the studies the scales come from. The spread (inter-quartile range of per-pixel ITA) is kept
as a measure of how uneven the skin and its lighting are, and feeds the confidence.

The medians are taken over the mask's core: the skin at least ``core_distance`` of the long
side from anything excluded. The edge of an exclusion is soft (a lesion's border, a
dermoscope's rim fading into skin): those pixels pass every colour test but sit a few L* units
darker, and on dark skin one L* unit is three degrees of ITA (``docs/label.md``, measured).

The confidence
--------------
The probability that the true ITA lies inside the interval of the estimated type, under a
normal error whose standard deviation combines a systematic term for photographs
(``ita_systematic_sd``), the per-pixel ITA spread shrunk by the number of independent skin
patches, and an inflation when little skin is visible. It is 0.5 at a cut-point and close to
1 in the middle of a wide interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from fairskin.data import ImageLoadError, load_mask, load_rgb, remove_hair
from fairskin.label._config import LabelConfig
from fairskin.skintone import ItaScale, get_scale, ita_degrees, srgb_to_lab

__all__ = ["ItaEstimate", "estimate_image", "estimate_rgb", "healthy_skin_mask", "SkinMask", "SkinPixels",
           "skin_pixels", "read_for_estimate"]

#: fewest healthy-skin pixels a skin tone is measured from
MIN_SKIN_PIXELS = 200

cv2.setNumThreads(1)


@dataclass
class ItaEstimate:
    ita: float = math.nan
    fst: int | None = None
    confidence: float = math.nan
    status: str = "ok"
    reason: str = ""
    L: float = math.nan
    a: float = math.nan
    b: float = math.nan
    ita_spread: float = math.nan
    skin_fraction: float = math.nan
    n_skin_pixels: int = 0
    scale: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SkinMask:
    skin: np.ndarray  # bool, healthy skin
    parts: dict[str, np.ndarray]  # what was excluded and why: frame, hair, glare, lesion, vignette, non_skin


def _disk(radius: float) -> np.ndarray:
    r = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    if radius < 0.5 or not mask.any():
        return mask
    return cv2.dilate(mask.view(np.uint8), _disk(radius)).astype(bool)


def _border_connected(mask: np.ndarray) -> np.ndarray:
    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge != 0]
    return np.isin(labels, edge)


def _otsu(values: np.ndarray, hi: float) -> float:
    if values.size < 16:
        return hi
    q = np.clip(values * (255.0 / hi), 0, 255).astype(np.uint8).reshape(-1, 1)
    t, _ = cv2.threshold(q, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(t) * hi / 255.0


def healthy_skin_mask(lab: np.ndarray, *, valid: np.ndarray | None = None, lesion: np.ndarray | None = None,
                      config: LabelConfig = LabelConfig(), min_chroma: float = 4.0) -> SkinMask:
    """Which pixels of a CIELAB image are healthy skin.

    Excluded, in this order: transparent pixels; the dark frame of dermoscopy images (dark
    regions connected to the border: black corners, the lens rim); pixels outside a broad
    skin-colour gamut (background, rulers, ink); hair (morphological black-hat of L*);
    glare; the lesion and anything else far in colour from the image's skin (the user's
    lesion mask when given, plus an automatic colour-distance segmentation); and outer rings
    darker than the centre (vignetting). ``min_chroma`` is the gamut's chroma floor (the Monk
    estimator lowers it: its darkest reference colour has chroma 3.8).
    """
    h, w = lab.shape[:2]
    side = max(h, w)
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    valid = np.ones((h, w), bool) if valid is None else valid.astype(bool)
    margin = config.exclusion_margin * side
    parts: dict[str, np.ndarray] = {}

    parts["frame"] = _dilate(_border_connected((L < 12.0) & valid), margin) & valid
    fov = valid & ~parts["frame"]

    # broad skin gamut: chroma >= min_chroma and hue angle between -15 and 105 degrees, as half-planes
    c15, s15 = np.float32(np.cos(np.radians(15))), np.float32(np.sin(np.radians(15)))
    hue_ok = (b * c15 + a * s15 > 0) & (a * c15 + b * s15 > 0)  # sin(h+15) > 0 and cos(h-15) > 0
    gamut = (a * a + b * b >= np.float32(min_chroma) ** 2) & hue_ok & (L > 8.0) & (L < 97.0)
    parts["non_skin"] = fov & ~gamut

    L_blur = cv2.GaussianBlur(L, (0, 0), 0.004 * side + 0.5)
    k = max(3, int(round(config.hair_kernel * side)) | 1)
    blackhat = cv2.morphologyEx(L_blur, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    parts["hair"] = _dilate(blackhat > config.hair_contrast, margin * 0.5) & fov

    cand = fov & gamut & ~parts["hair"]
    if lesion is not None:
        parts["lesion"] = _dilate(lesion.astype(bool), margin) & fov
        cand &= ~parts["lesion"]
    if cand.sum() < 16:
        empty = np.zeros((h, w), bool)
        parts.setdefault("lesion", empty)
        parts.update(glare=empty, vignette=empty)
        return SkinMask(skin=empty, parts=parts)

    smooth = cv2.GaussianBlur(lab, (0, 0), 0.006 * side + 0.5)
    skin = cand
    outlier = np.zeros((h, w), bool)
    glare = np.zeros((h, w), bool)
    sub = lab[::2, ::2]  # reference colours from a quarter of the pixels: same median, 4x cheaper
    for _ in range(2):
        m = skin[::2, ::2] if skin[::2, ::2].sum() >= 16 else cand[::2, ::2]
        ref = np.median(sub[m], axis=0) if m.sum() >= 4 else np.median(lab[cand], axis=0)
        glare = _dilate((L > ref[0] + config.glare_delta_l) & fov, margin * 0.5)
        diff = smooth - ref.astype(np.float32)
        dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        thr = max(config.outlier_delta_e, _otsu(dist[::2, ::2][cand[::2, ::2]], hi=60.0))
        outlier = _dilate((dist > thr) & fov, margin)
        skin = cand & ~glare & ~outlier
    parts["glare"] = glare & fov
    if lesion is not None:
        parts["lesion"] = parts["lesion"] | (outlier & ~parts["non_skin"])
    else:
        parts["lesion"] = outlier & ~parts["non_skin"]

    parts["vignette"] = _vignette(L, skin, fov, config)
    skin = skin & ~parts["vignette"]
    return SkinMask(skin=skin, parts=parts)


def _vignette(L: np.ndarray, skin: np.ndarray, fov: np.ndarray, config: LabelConfig) -> np.ndarray:
    """Outer rings whose skin is darker than the centre's: lens fall-off, not skin tone."""
    h, w = L.shape
    ys, xs = np.nonzero(fov)
    if ys.size == 0:
        return np.zeros_like(skin)
    cy, cx = ys.mean(), xs.mean()
    r_max = np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2).max() + 1e-6

    def rings_of(yy, xx):
        r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        return np.minimum((r * (20 / r_max)).astype(np.int32), 19)

    # ring medians from every other pixel; the full-resolution rings only if one is cut
    sy, sx = np.ogrid[:h:2, :w:2]
    sub_skin = skin[::2, ::2]
    Ls, rings = L[::2, ::2][sub_skin], rings_of(sy, sx)[sub_skin]
    if Ls.size < 32:
        return np.zeros_like(skin)
    inner = Ls[rings < 10]
    ref = np.median(inner) if inner.size >= 32 else np.median(Ls)
    cut = 20
    for k in range(10, 20):
        sel = Ls[rings == k]
        if sel.size >= 8 and np.median(sel) < ref - config.vignette_delta_l:
            cut = k
            break
    if cut == 20:
        return np.zeros_like(skin)
    yy, xx = np.ogrid[:h, :w]
    return (rings_of(yy, xx) >= cut) & fov


def _to_work_size(rgb: np.ndarray, side: int, valid=None, lesion=None):
    h, w = rgb.shape[:2]
    if max(h, w) == side:
        return rgb, valid, lesion
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    rgb = cv2.resize(rgb, size, interpolation=interp)
    if valid is not None:
        valid = cv2.resize(valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    if lesion is not None:
        lesion = cv2.resize(lesion.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return rgb, valid, lesion


def _confidence(ita: float, spread: float, n_skin: int, skin_fraction: float, scale: ItaScale, fst: int,
                config: LabelConfig) -> float:
    n_eff = max(1.0, n_skin / 1024.0)  # neighbouring pixels are far from independent: count 32x32 patches
    sd = math.sqrt(config.ita_systematic_sd ** 2 + (spread / 1.349) ** 2 / n_eff)
    sd /= math.sqrt(min(1.0, max(skin_fraction, 1e-3) / 0.25))
    lo, hi = scale.interval(fst)
    cdf = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    p_hi = 1.0 if math.isinf(hi) else cdf((hi - ita) / sd)
    p_lo = 0.0 if math.isinf(lo) else cdf((lo - ita) / sd)
    return max(0.0, p_hi - p_lo)


@dataclass
class SkinPixels:
    """The healthy skin an estimator reads its tone from."""

    lab: np.ndarray | None  # (n, 3) CIELAB of the mask's core; None when too little skin was found
    skin_fraction: float
    n_skin_pixels: int
    reason: str = ""  # why ``lab`` is None


def skin_pixels(rgb: np.ndarray, *, valid: np.ndarray | None = None, lesion_mask: np.ndarray | None = None,
                config: LabelConfig = LabelConfig(), min_chroma: float = 4.0) -> SkinPixels:
    """CIELAB of the healthy skin's core of an 8-bit sRGB array (H x W x 3), at the working size:
    the part every estimator shares (mask, minimum amount of skin, core)."""
    if rgb.dtype != np.uint8:
        rgb = np.clip(np.asarray(rgb, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if lesion_mask is not None and lesion_mask.shape[:2] != rgb.shape[:2]:
        # user masks are often saved at another resolution: resample to the image's
        lesion_mask = cv2.resize(lesion_mask.astype(np.uint8), (rgb.shape[1], rgb.shape[0]),
                                 interpolation=cv2.INTER_NEAREST)
    rgb, valid, lesion_mask = _to_work_size(rgb, config.work_side, valid, lesion_mask)
    if config.hair_removal:
        rgb = remove_hair(rgb)
    lab = srgb_to_lab(rgb)
    m = healthy_skin_mask(lab, valid=valid, lesion=lesion_mask, config=config, min_chroma=min_chroma)
    n_valid = int(valid.sum()) if valid is not None else valid_count(rgb)
    n_skin = int(m.skin.sum())
    frac = n_skin / max(n_valid, 1)
    if n_skin < MIN_SKIN_PIXELS and frac >= config.min_skin_fraction:  # enough of it, too few pixels
        return SkinPixels(None, frac, n_skin,
                          f"only {n_skin} healthy-skin pixels at the working size {rgb.shape[1]}x{rgb.shape[0]} "
                          f"(minimum {MIN_SKIN_PIXELS}): the image is too small or too narrow to measure")
    if n_skin < MIN_SKIN_PIXELS or frac < config.min_skin_fraction:
        excluded = {k: v.sum() / max(n_valid, 1) for k, v in m.parts.items()}
        top = max(excluded, key=excluded.get)
        return SkinPixels(None, frac, n_skin,
                          f"only {frac:.1%} of the image is healthy skin (minimum {config.min_skin_fraction:.0%}); "
                          f"most excluded as {top.replace('_', '-')} ({excluded[top]:.0%})")
    core = _skin_core(m.skin, config.core_distance * max(rgb.shape[:2]))
    return SkinPixels(lab[core], frac, n_skin)


def estimate_rgb(rgb: np.ndarray, *, valid: np.ndarray | None = None, lesion_mask: np.ndarray | None = None,
                 config: LabelConfig = LabelConfig(), scale: ItaScale | None = None) -> ItaEstimate:
    """Estimate ITA and skin type from an 8-bit sRGB array (H x W x 3, uint8)."""
    scale = scale or get_scale(config.scale)
    sp = skin_pixels(rgb, valid=valid, lesion_mask=lesion_mask, config=config)
    est = ItaEstimate(skin_fraction=sp.skin_fraction, n_skin_pixels=sp.n_skin_pixels, scale=scale.name)
    if sp.lab is None:
        est.status, est.reason = "no_skin", sp.reason
        return est
    px = sp.lab
    L, a, b = (float(v) for v in np.median(px, axis=0))
    ita = float(ita_degrees(L, b))
    q1, q3 = np.percentile(ita_degrees(px[:, 0], px[:, 2]), [25, 75])
    fst = int(scale.fst(ita))
    est.L, est.a, est.b, est.ita, est.fst = L, a, b, ita, fst
    est.ita_spread = float(q3 - q1)
    est.confidence = _confidence(ita, est.ita_spread, len(px), sp.skin_fraction, scale, fst, config)
    return est


def _skin_core(skin: np.ndarray, distance: float) -> np.ndarray:
    """The healthy skin at least ``distance`` pixels from any pixel that is not (the image's own
    edge does not count), or the farthest quarter of it when less lies that far."""
    if distance <= 0:
        return skin
    dist = cv2.distanceTransform(skin.view(np.uint8), cv2.DIST_L2, 3)
    return skin & (dist >= min(distance, float(np.quantile(dist[skin], 0.75))))


def valid_count(rgb: np.ndarray) -> int:
    return rgb.shape[0] * rgb.shape[1]


def read_for_estimate(path: str | Path, *, lesion_mask: str | Path | np.ndarray | None = None,
                      work_side: int | None = None):
    """``(image, mask, note)``: the image (:func:`fairskin.data.load_rgb`, raising
    :class:`ImageLoadError`), the lesion mask as a bool array or None, and why a mask file given
    was not used ("" when it was)."""
    img = load_rgb(path, max_side=work_side)
    if lesion_mask is None or isinstance(lesion_mask, np.ndarray):
        return img, lesion_mask, ""
    try:
        # a mask saved in the image's stored orientation would already be transposed with it
        return img, load_mask(lesion_mask, max_side=work_side), ""
    except ImageLoadError as exc:
        return img, None, f"lesion mask not used ({exc.status}: {exc.reason}); automatic segmentation used"


def estimate_image(path: str | Path, *, lesion_mask: str | Path | np.ndarray | None = None,
                   config: LabelConfig = LabelConfig(), scale: ItaScale | None = None) -> ItaEstimate:
    """Estimate ITA and skin type of one image file; failures become a status and reason."""
    try:
        img, mask, note = read_for_estimate(path, lesion_mask=lesion_mask, work_side=config.work_side)
    except ImageLoadError as exc:
        return ItaEstimate(status=exc.status, reason=exc.reason, scale=(scale or get_scale(config.scale)).name)
    est = estimate_rgb(img.rgb, valid=img.valid, lesion_mask=mask, config=config, scale=scale)
    if note:
        est.reason = (est.reason + "; " if est.reason else "") + note
    return est
