"""The one place prompts are built: from structured fields, never glued from strings elsewhere.

Descriptive lesion attributes (colour, border, size) in prompts improved synthesis in published
work on dermatology images, so they are optional fields here.

The imaging style (``dermoscopy`` or ``clinical``) comes from a manifest's ``style`` column when it
has one: training prompts name each image's own, and a generated image takes the style of a real
image of its (skin type, diagnosis) cell (``StyleMix``), so a synthetic set keeps the real data's
mix of styles. (On the built-in tiny model, naming the style did not close the gap in measured tone
between the two styles: see ``docs/generation-measurements.md``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fairskin.errors import InputError
from fairskin.settings import seed_stream
from fairskin.skintone import FST_TYPES

__all__ = ["PromptFields", "build_prompt", "fst_token", "FST_TOKENS", "NEGATIVE_PROMPT", "PROMPT_WORDS",
           "NULL_FST", "STYLES", "StyleMix", "image_styles", "style_of"]

#: textual-inversion token of each Fitzpatrick type
FST_TOKENS: dict[int, str] = {k: f"<fst-{k}>" for k in FST_TYPES}
#: index of the FST embedding row used for "no skin type" (classifier-free guidance, dropout)
NULL_FST = 6
NEGATIVE_PROMPT = "blurry, low quality, text, watermark"
#: lesion attributes a prompt may carry, in the order they are written
ATTRIBUTES = ("colour", "border", "size")
#: imaging styles a prompt names ("a dermoscopy photo of ..."); the first is the default
STYLES = ("dermoscopy", "clinical")

#: words the built-in tiny tokenizer knows as whole tokens (others fall back to characters)
PROMPT_WORDS = (
    "a", "an", "photo", "dermoscopy", "clinical", "image", "of", "on", "skin", "with", "lesion", "type",
    "fitzpatrick", "melanocytic", "nevi", "nevus", "seborrheic", "keratosis", "dermatofibroma", "melanoma",
    "basal", "cell", "carcinoma", "squamous", "in", "situ", "benign", "malignant", "brown", "dark", "light",
    "black", "blue", "grey", "red", "pink", "tan", "border", "irregular", "regular", "round", "small",
    "large", "size", "colour", "blurry", "low", "quality", "text", "watermark", "unknown", "and",
)


def fst_token(fst: int) -> str:
    if fst not in FST_TOKENS:
        raise InputError(f"Fitzpatrick type must be 1-6, got {fst!r}")
    return FST_TOKENS[fst]


@dataclass(frozen=True)
class PromptFields:
    """What a prompt says: diagnosis, skin type and optional lesion attributes."""

    diagnosis: str | None = None
    fst: int | None = None
    style: str = STYLES[0]  # or "clinical"
    attributes: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # e.g. (("colour", "dark brown"),)


def build_prompt(fields: PromptFields) -> str:
    """``a dermoscopy photo of melanoma with irregular border on <fst-5> skin``."""
    diagnosis = (fields.diagnosis or "").replace("-", " ").replace("_", " ").strip() or "a skin lesion"
    parts = [f"a {fields.style} photo of {diagnosis}"]
    attrs = dict(fields.attributes)
    bad = sorted(set(attrs) - set(ATTRIBUTES))
    if bad:
        raise InputError(f"prompt attributes {bad} are not known; allowed: {', '.join(ATTRIBUTES)}")
    described = [f"{attrs[a]} {a}" if a != "size" else f"{attrs[a]} size" for a in ATTRIBUTES if a in attrs]
    if described:
        parts.append("with " + " and ".join(described))
    parts.append(f"on {fst_token(fields.fst)} skin" if fields.fst is not None else "on skin")
    return " ".join(parts)


def style_of(value) -> str:
    """One manifest cell's imaging style: dermoscopy or clinical (any case); empty is dermoscopy."""
    v = "" if value is None or value != value else str(value).strip().lower()
    if v and v not in STYLES:
        raise InputError(f"column 'style': {value!r} is not an imaging style; use {' or '.join(STYLES)}, or leave the "
                         f"cell empty ({STYLES[0]})")
    return v or STYLES[0]


def image_styles(frame) -> np.ndarray:
    """Each row's imaging style (``style_of`` its ``style`` cell); dermoscopy for every row when the
    manifest has no such column."""
    if "style" not in frame:
        return np.full(len(frame), STYLES[0], dtype=object)
    return np.array([style_of(v) for v in frame["style"]], dtype=object)


class StyleMix:
    """The real images' styles by (skin type, diagnosis) cell. A generated image takes the style of a
    real image of its cell drawn by its seed (of its skin type where the cell has none, of the whole
    set where the type has none), so synthetic images keep the data's mix of photo styles."""

    def __init__(self, frame):
        styles = image_styles(frame)
        fst = frame["fst"].to_numpy(dtype=float)
        dx = frame["diagnosis"].astype(str).to_numpy()
        self._all = list(styles)
        self._by_type: dict[int, list[str]] = {}
        self._by_cell: dict[tuple[int, str], list[str]] = {}
        for f, d, st in zip(fst, dx, styles):
            if f == f:
                self._by_type.setdefault(int(f), []).append(st)
                self._by_cell.setdefault((int(f), d), []).append(st)

    def draw(self, fst: int, diagnosis: str, seed: int) -> str:
        pool = self._by_cell.get((int(fst), str(diagnosis))) or self._by_type.get(int(fst)) or self._all or [STYLES[0]]
        return pool[int(np.random.default_rng(seed_stream(int(seed), 0x571E)).integers(len(pool)))]
