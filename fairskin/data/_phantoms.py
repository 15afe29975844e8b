"""Phantom skin images with a known answer: the built-in demo data set.

Each phantom is rendered in CIELAB from a base skin colour of a chosen ITA, so its true ITA and
Fitzpatrick type are known exactly. On top: skin texture (zero-mean in L*, a*, b*, so the
median skin colour stays the base colour), a lesion whose look depends on the diagnosis
(benign: round, even, tan to brown; malignant: irregular border, several colours, larger),
hair, a dermoscopy frame (black corners and vignette) or a clinical background, glare
spots and sometimes a ruler. The ground truth is the ITA of the base colour.

``write_demo_dataset`` writes DDI's layout (``images/`` + ``ddi_metadata.csv`` with
``DDI_ID, DDI_file, skin_tone, malignant, disease``) plus ``fst_true`` and ``ita_true``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fairskin.skintone import DEFAULT_SCALE, get_scale, lab_to_srgb

__all__ = ["PhantomSpec", "PhantomLayers", "render_phantom", "render_phantom_layers", "sample_ita",
           "write_demo_dataset", "DEMO_DIAGNOSES", "DemoConfig"]

#: diagnosis -> malignant
DEMO_DIAGNOSES: dict[str, bool] = {
    "melanocytic-nevi": False,
    "seborrheic-keratosis": False,
    "dermatofibroma": False,
    "melanoma": True,
    "basal-cell-carcinoma": True,
    "squamous-cell-carcinoma-in-situ": True,
}

#: ITA range used for the open-ended types when sampling (degrees)
_ITA_FLOOR, _ITA_CEIL = -50.0, 70.0


@dataclass(frozen=True)
class PhantomSpec:
    ita: float
    diagnosis: str = "melanocytic-nevi"
    size: int = 256
    style: str = "dermoscopy"  # or "clinical"
    hair: int = 8  # number of hairs
    hair_width: float = 1.0  # multiplies each hair's drawn thickness (1 to 2.5 px per 256 px of side)
    hair_lightness: float | None = None  # L* of the hair; None: min(0.35 x the skin's L*, 22)
    glare: int = 2
    ruler: bool = False
    background: bool = False  # clinical photos: a non-skin region at one side
    seed: int = 0


@dataclass(frozen=True)
class DemoConfig:
    """Defaults of the demo data set; the bias mimics real dermatology data."""

    n: int = 600
    size: int = 256
    seed: int = 0
    scale: str = DEFAULT_SCALE
    #: share of each Fitzpatrick type I..VI (V-VI ~ 12%, as in the better real sets)
    fst_weights: tuple[float, ...] = (0.16, 0.30, 0.24, 0.18, 0.07, 0.05)
    #: share malignant per type: fewer malignant dark-skin images, as in real data
    malignant_rate: tuple[float, ...] = (0.40, 0.40, 0.40, 0.35, 0.15, 0.15)
    dermoscopy_share: float = 0.6
    fmt: str = "png"


def sample_ita(fst: int, rng: np.random.Generator, scale: str = DEFAULT_SCALE) -> float:
    """An ITA drawn uniformly inside the type's interval of ``scale``."""
    lo, hi = get_scale(scale).interval(fst)
    lo = max(lo, _ITA_FLOOR)
    hi = min(hi, _ITA_CEIL)
    return float(rng.uniform(lo, hi))


def _base_lab(ita: float, rng: np.random.Generator) -> tuple[float, float, float]:
    """A plausible skin colour with exactly this ITA (L* in 27-86)."""
    t = math.tan(math.radians(ita))
    b_lo, b_hi = 9.0, 21.0
    if t > 0:
        b_hi = min(b_hi, (86.0 - 50.0) / t)
    elif t < 0:
        b_hi = min(b_hi, (27.0 - 50.0) / t)
    b_lo = min(b_lo, b_hi * 0.8)
    b = float(rng.uniform(b_lo, b_hi))
    L = 50.0 + b * t
    a = float(rng.uniform(6.0, 13.0)) * (0.7 + 0.3 * min(1.0, b / 15))
    return L, a, b


def _smooth_noise(shape, rng, sigma, amp):
    n = rng.standard_normal(shape).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    n /= n.std() + 1e-6
    return n * amp


def _blob(shape, cy, cx, ry, rx, angle, irregular, rng):
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    ca, sa = math.cos(angle), math.sin(angle)
    u = (dx * ca + dy * sa) / rx
    v = (-dx * sa + dy * ca) / ry
    r = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    edge = np.ones_like(r)
    if irregular:
        for k in range(2, 7):
            edge += irregular * rng.uniform(0.2, 1.0) / k * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    return r / edge  # < 1 inside


@dataclass
class PhantomLayers:
    """One phantom with what it is made of: the image, the same image without hair (every other
    random draw identical, so the pair differs by the hair alone), the lesion and the hair."""

    rgb: np.ndarray  # uint8 (size, size, 3): what render_phantom returns
    rgb_hairless: np.ndarray  # uint8: the same phantom with its hair left out
    lesion: np.ndarray  # bool: pixels at least half lesion in the blend
    hair: np.ndarray  # bool: pixels a hair covers by at least a quarter


def render_phantom(spec: PhantomSpec) -> np.ndarray:
    """Render one phantom as 8-bit sRGB (size x size x 3)."""
    return _render(spec, paint_hair=True)[0]


def render_phantom_layers(spec: PhantomSpec) -> PhantomLayers:
    """Render a phantom with and without its hair, and its lesion and hair masks (known answers
    for hair removal and for edits that must leave the lesion alone)."""
    rgb, lesion, hair = _render(spec, paint_hair=True)
    hairless = _render(spec, paint_hair=False)[0] if spec.hair else rgb.copy()
    return PhantomLayers(rgb=rgb, rgb_hairless=hairless, lesion=lesion, hair=hair)


def _render(spec: PhantomSpec, *, paint_hair: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb, lesion mask, hair mask); the hair is drawn either way, so both renders take the same
    random numbers."""
    rng = np.random.default_rng(spec.seed)
    s = spec.size
    shape = (s, s)
    L0, a0, b0 = _base_lab(spec.ita, rng)
    lab = np.empty((s, s, 3), np.float32)
    # skin texture: zero-mean at several scales
    lab[..., 0] = L0 + _smooth_noise(shape, rng, s * 0.08, 1.2) + _smooth_noise(shape, rng, s * 0.01, 0.8)
    lab[..., 1] = a0 + _smooth_noise(shape, rng, s * 0.05, 1.3)
    lab[..., 2] = b0 + _smooth_noise(shape, rng, s * 0.06, 0.8)
    lab[..., 0] += rng.standard_normal(shape).astype(np.float32) * 0.6
    # pin the median of each channel to the base colour: the truth is then exact for any
    # estimator based on medians, and unbiased for means
    for c, v in enumerate((L0, a0, b0)):
        lab[..., c] += v - np.median(lab[..., c])

    # lesion
    malignant = DEMO_DIAGNOSES.get(spec.diagnosis, False)
    cy, cx = s * rng.uniform(0.42, 0.58), s * rng.uniform(0.42, 0.58)
    if malignant:
        rad = s * rng.uniform(0.15, 0.24)
        r = _blob(shape, cy, cx, rad * rng.uniform(0.7, 1.0), rad, rng.uniform(0, math.pi), 0.45, rng)
    else:
        rad = s * rng.uniform(0.09, 0.17)
        r = _blob(shape, cy, cx, rad * rng.uniform(0.85, 1.0), rad, rng.uniform(0, math.pi), 0.06, rng)
    inside = np.clip((1.0 - r) / 0.08, 0, 1) if not malignant else np.clip((1.0 - r) / 0.03, 0, 1)
    les = _lesion_colour(spec.diagnosis, L0, a0, b0, shape, rng, s)
    lab = lab * (1 - inside[..., None]) + les * inside[..., None]

    # hair: dark quadratic curves
    hair_layer = np.zeros(shape, np.uint8)
    for _ in range(spec.hair):
        p0 = rng.uniform(-0.1, 1.1, 2) * s
        p2 = rng.uniform(-0.1, 1.1, 2) * s
        p1 = (p0 + p2) / 2 + rng.normal(0, s * 0.15, 2)
        t = np.linspace(0, 1, 60)[:, None]
        pts = ((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2).astype(np.int32)
        width = s / 256 * rng.uniform(1, 2.5) * spec.hair_width
        cv2.polylines(hair_layer, [pts], False, 255, thickness=max(1, int(round(width))), lineType=cv2.LINE_AA)
    if spec.hair and paint_hair:
        ha = hair_layer.astype(np.float32)[..., None] / 255.0
        hair_l = min(L0 * 0.35, 22.0) if spec.hair_lightness is None else spec.hair_lightness
        hair_col = np.array([hair_l, 2.0, 4.0], np.float32)
        lab = lab * (1 - ha) + hair_col * ha

    # glare: small bright, low-chroma spots
    for _ in range(spec.glare):
        g = _blob(shape, rng.uniform(0.1, 0.9) * s, rng.uniform(0.1, 0.9) * s, s * rng.uniform(0.008, 0.02),
                  s * rng.uniform(0.01, 0.035), rng.uniform(0, math.pi), 0.0, rng)
        ga = np.clip((1 - g) / 0.4, 0, 1)[..., None]
        lab = lab * (1 - ga) + np.array([97.0, 0.0, 2.0], np.float32) * ga

    if spec.background and spec.style == "clinical":
        side = rng.integers(4)
        depth = rng.uniform(0.12, 0.3)
        yy, xx = np.mgrid[:s, :s] / s
        coord = [yy, 1 - yy, xx, 1 - xx][side]
        bg = coord < depth + 0.03 * np.sin(8 * (xx + yy))
        bg_col = rng.choice(np.array([[45, -5, -30], [60, -25, 5], [80, 0, -2], [25, 5, -10]], np.float32))
        lab[bg] = bg_col + rng.standard_normal((int(bg.sum()), 3)).astype(np.float32)

    if spec.ruler:
        w = int(s * 0.07)
        lab[-w:, :] = np.array([92.0, 0.0, 3.0], np.float32)
        for x in range(0, s, max(3, s // 40)):
            lab[-w:-w // 2 if (x // max(3, s // 40)) % 5 else -2, x:x + max(1, s // 256)] = np.array([10.0, 0, 0], np.float32)

    rgb = lab_to_srgb(lab)
    if spec.style == "dermoscopy":
        yy, xx = np.mgrid[:s, :s].astype(np.float32)
        R = s * rng.uniform(0.5, 0.6)
        rr = np.sqrt((yy - s / 2 + rng.normal(0, s * 0.02)) ** 2 + (xx - s / 2 + rng.normal(0, s * 0.02)) ** 2) / R
        fall = 1.0 - rng.uniform(0.25, 0.5) * np.clip((rr - 0.72) / 0.28, 0, 1) ** 2
        rgb = rgb * fall[..., None]
        rgb[rr > 1.0] = rng.uniform(0.0, 0.03)
    out = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
    hair = (hair_layer >= 64) if paint_hair else np.zeros(shape, bool)
    return out, inside >= 0.5, hair


def _lesion_colour(diagnosis, L0, a0, b0, shape, rng, s):
    les = np.empty(shape + (3,), np.float32)
    dark = max(L0 * 0.55, 14.0)
    if diagnosis == "melanoma":
        base = np.array([max(L0 - rng.uniform(25, 35), 12.0), a0 + 4, b0 + 2], np.float32)
        les[:] = base
        # blue-grey and red-pink zones
        z = _smooth_noise(shape, rng, s * 0.05, 1.0)
        les[z > 0.6] = np.array([max(L0 - 20, 15), 0.0, -8.0], np.float32)
        les[z < -0.8] = np.array([max(L0 - 10, 20), a0 + 15, b0 * 0.5], np.float32)
        les[..., 0] += _smooth_noise(shape, rng, s * 0.02, 4.0)
    elif diagnosis == "basal-cell-carcinoma":
        les[:] = np.array([L0 - rng.uniform(6, 12), a0 + 12, b0 - 4], np.float32)
        les[..., 1] += _smooth_noise(shape, rng, s * 0.02, 3.0)
    elif diagnosis.startswith("squamous"):
        les[:] = np.array([L0 - rng.uniform(8, 15), a0 + 10, b0 + 3], np.float32)
        les[..., 0] += _smooth_noise(shape, rng, s * 0.01, 5.0)
    elif diagnosis == "seborrheic-keratosis":
        les[:] = np.array([max(L0 - rng.uniform(15, 25), dark), a0 + 2, b0 + 6], np.float32)
        les[..., 0] += _smooth_noise(shape, rng, s * 0.008, 3.5)
    elif diagnosis == "dermatofibroma":
        les[:] = np.array([L0 - rng.uniform(10, 16), a0 + 6, b0 + 4], np.float32)
    else:  # melanocytic nevus
        les[:] = np.array([max(L0 - rng.uniform(15, 28), dark), a0 + 3, b0 + 6], np.float32)
        les[..., 0] += _smooth_noise(shape, rng, s * 0.03, 1.0)
    return les


def write_demo_dataset(out_dir: str | Path, config: DemoConfig = DemoConfig(), *, overwrite: bool = False) -> Path:
    """Write ``config.n`` phantoms in DDI's layout and return the metadata path."""
    from fairskin.errors import InputError
    from PIL import Image

    out = Path(out_dir)
    meta = out / "ddi_metadata.csv"
    if meta.exists() and not overwrite:
        raise InputError(f"{meta} already exists; choose another directory or pass overwrite=True")
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    weights = np.asarray(config.fst_weights, float)
    weights /= weights.sum()
    benign = [d for d, m in DEMO_DIAGNOSES.items() if not m]
    malig = [d for d, m in DEMO_DIAGNOSES.items() if m]
    rows = []
    for i in range(config.n):
        fst = int(rng.choice(6, p=weights)) + 1
        ita = sample_ita(fst, rng, config.scale)
        is_malig = bool(rng.random() < config.malignant_rate[fst - 1])
        dx = str(rng.choice(malig if is_malig else benign))
        derm = bool(rng.random() < config.dermoscopy_share)
        spec = PhantomSpec(
            ita=ita, diagnosis=dx, size=config.size, style="dermoscopy" if derm else "clinical",
            hair=int(rng.integers(0, 25)) if rng.random() < 0.7 else 0,
            glare=int(rng.integers(0, 4)), ruler=bool(rng.random() < 0.15),
            background=bool(not derm and rng.random() < 0.4), seed=int(rng.integers(2**31)),
        )
        name = f"{i + 1:06d}.{config.fmt}"
        Image.fromarray(render_phantom(spec)).save(out / "images" / name)
        rows.append({
            "DDI_ID": i + 1, "DDI_file": name, "skin_tone": {1: 12, 2: 12, 3: 34, 4: 34, 5: 56, 6: 56}[fst],
            "malignant": is_malig, "disease": dx, "fst_true": fst, "ita_true": round(ita, 4),
            "style": spec.style, "hair": spec.hair, "ruler": spec.ruler, "seed": spec.seed,
        })
    with open(meta, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return meta
