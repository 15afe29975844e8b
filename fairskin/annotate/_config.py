"""Settings of a skin-type annotation and its folder file (``annotate.json``).

An annotation folder is a reader-study folder (``study.json``, ``images/``, ``private/``, the answer
database), so the reader study's invites, sign-in, CSRF, CSP, database and server serve it
unchanged; ``annotate.json`` adds what the annotation pages need: the scale, its reference swatches
and how many annotators should label each image. Kept free of heavy imports (no Flask, no
SQLAlchemy) so that registering the commands stays cheap.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fairskin.errors import InputError
from fairskin.skintone import FITZPATRICK, MONK, MONK_SWATCHES, get_tone_scale

__all__ = ["AnnotateConfig", "AnnotateAnalyzeConfig", "AnnotationFile", "ANNOTATE_FILE", "ANNOTATE_SCHEMA",
           "FITZPATRICK_DESCRIPTIONS", "read_annotation_file", "swatches", "write_annotation_file"]

ANNOTATE_SCHEMA = "fairskin.annotate/1"
ANNOTATE_FILE = "annotate.json"

#: Fitzpatrick's phototypes as the annotators are shown them (Fitzpatrick TB, Arch Dermatol 1988;
#: 124:869-871: reaction to first sun exposure, with the usual constitutive colour)
FITZPATRICK_DESCRIPTIONS: dict[int, str] = {
    1: "always burns, never tans; pale white skin",
    2: "usually burns, tans minimally; white skin",
    3: "sometimes burns mildly, tans gradually; light brown skin",
    4: "burns minimally, always tans well; moderate brown skin",
    5: "very rarely burns, tans very easily; dark brown skin",
    6: "never burns; deeply pigmented dark brown to black skin",
}


@dataclass(frozen=True)
class AnnotateConfig:
    """How ``fairskin annotate create`` draws and prepares the sample."""

    #: the scale the annotators answer on: fitzpatrick (I-VI) or monk (MST 1-10)
    scale: str = "fitzpatrick"
    #: images in the sample
    n: int = 200
    #: annotators wanted per image (0 = every annotator labels every image)
    per_image: int = 3
    seed: int = 0
    #: every image is centre-cropped to a square and resized to this side (pixels)
    image_size: int = 512
    jpeg_quality: int = 90
    #: grey level painted over the lesion when masks are given (so the healthy skin is judged)
    mask_grey: int = 128

    def check(self) -> None:
        get_tone_scale(self.scale)
        if self.n < 2:
            raise InputError(f"n: expected at least 2 images, got {self.n}")
        if self.per_image < 0:
            raise InputError(f"per_image: expected a number of annotators >= 0 (0 = all), got {self.per_image}")
        from fairskin.reader_study import StudyConfig  # the same image settings, checked the same way

        StudyConfig(image_size=self.image_size, jpeg_quality=self.jpeg_quality).check()
        if not 0 <= self.mask_grey <= 255:
            raise InputError(f"mask_grey: expected 0-255, got {self.mask_grey}")


@dataclass(frozen=True)
class AnnotateAnalyzeConfig:
    """The consensus and agreement analysis."""

    #: Dirichlet pseudo-count added to every cell of each annotator's confusion row (MAP
    #: Dawid-Skene; tuned on simulation seeds 0-9 by benchmarks/bench_annotate.py)
    smoothing: float = 1.0
    #: extra pseudo-count on each confusion row's diagonal (a prior that annotators tend to be right)
    diagonal: float = 10.0
    #: extra pseudo-count on the two cells next to the diagonal (ordinal scales: annotators confuse
    #: neighbouring types most; without it the consensus probabilities are far overconfident)
    neighbour: float = 2.5
    #: pseudo-count added to the class prior
    prior_smoothing: float = 1.0
    #: consensus with the class prior divided out (rare types not pulled towards common ones)
    flat_prior: bool = False
    max_iter: int = 200
    tol: float = 1e-6
    #: simulated studies of the same design whose refits set the temperature of the consensus
    #: probabilities (annotate._calibrate; 0: the plug-in posterior, overconfident at these sizes)
    calibration_boot: int = 20
    #: bootstrap replicates of the agreement intervals
    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0

    def check(self) -> None:
        if min(self.smoothing, self.diagonal, self.neighbour, self.prior_smoothing) < 0:
            raise InputError(f"smoothing=... / neighbour=...: expected pseudo-counts >= 0, got {self.smoothing}, {self.diagonal}, "
                             f"{self.neighbour}, {self.prior_smoothing}")
        if self.calibration_boot < 0:
            raise InputError(f"calibration_boot: expected 0 (off) or more simulated studies, got {self.calibration_boot}")
        if self.n_boot < 100:
            raise InputError(f"n_boot: expected at least 100 replicates, got {self.n_boot}")
        if not 0.5 < self.level < 1:
            raise InputError(f"level: expected a confidence level in (0.5, 1), got {self.level}")


@dataclass(frozen=True)
class AnnotationFile:
    """The parsed ``annotate.json``."""

    schema: str
    scale: str
    per_image: int
    masked: bool
    data: str
    labels: str | None

    @property
    def tone_scale(self):
        return get_tone_scale(self.scale)


def swatches(scale: str) -> list[dict]:
    """What the page shows for each answer: tone, label, text and (Monk) the reference colour."""
    ts = get_tone_scale(scale)
    if ts is FITZPATRICK:
        return [{"tone": t, "label": ts.label(t), "text": FITZPATRICK_DESCRIPTIONS[t], "hex": None} for t in ts.tones]
    if ts is MONK:
        return [{"tone": t, "label": ts.label(t), "text": "", "hex": MONK_SWATCHES.hex[t - 1]} for t in ts.tones]
    raise InputError(f"scale: no reference swatches for {scale!r}; expected fitzpatrick or monk")


def write_annotation_file(folder: Path, af: AnnotationFile) -> Path:
    path = Path(folder) / ANNOTATE_FILE
    path.write_text(json.dumps(asdict(af), indent=1) + "\n", encoding="utf-8")
    return path


def read_annotation_file(folder: str | Path) -> AnnotationFile:
    """Read and check ``FOLDER/annotate.json``."""
    path = Path(folder) / ANNOTATE_FILE
    if not path.is_file():
        raise InputError(f"ANNOTATION: {path} not found; make an annotation folder with `fairskin annotate create`")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"ANNOTATION: {path} is not valid JSON ({exc})") from None
    if not isinstance(d, dict) or d.get("schema") != ANNOTATE_SCHEMA:
        raise InputError(f"ANNOTATION: {path} has schema {d.get('schema') if isinstance(d, dict) else None!r}, "
                         f"expected {ANNOTATE_SCHEMA!r}")
    try:
        af = AnnotationFile(schema=d["schema"], scale=str(d["scale"]), per_image=int(d["per_image"]),
                            masked=bool(d.get("masked", False)), data=str(d.get("data", "")), labels=d.get("labels"))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"ANNOTATION: {path}: missing or malformed key ({exc})") from None
    get_tone_scale(af.scale)
    return af
