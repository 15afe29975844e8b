"""The one place prompts are built: from structured fields, never glued from strings elsewhere.

Descriptive lesion attributes (colour, border, size) in prompts improved synthesis in published
work on dermatology images, so they are optional fields here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fairskin.errors import InputError

__all__ = ["PromptFields", "build_prompt", "fst_token", "FST_TOKENS", "NEGATIVE_PROMPT", "PROMPT_WORDS",
           "NULL_FST"]

#: textual-inversion token of each Fitzpatrick type
FST_TOKENS: dict[int, str] = {k: f"<fst-{k}>" for k in range(1, 7)}
#: index of the FST embedding row used for "no skin type" (classifier-free guidance, dropout)
NULL_FST = 6
NEGATIVE_PROMPT = "blurry, low quality, text, watermark"
#: lesion attributes a prompt may carry, in the order they are written
ATTRIBUTES = ("colour", "border", "size")

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
    style: str = "dermoscopy"  # or "clinical"
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
