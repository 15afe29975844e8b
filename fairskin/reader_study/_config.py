"""Defaults of the reader study, in one place (the CLI reads them too), and the study file.

``study.json`` is what the server reads: the questions, the served image ids (sorted, so their
order says nothing) and the calibration images with their answers. It holds nothing about the
study images' origin; that is in ``private/answer_key.csv``, which the server never opens.

Kept free of heavy imports (no Flask, no SQLAlchemy) so that registering the commands stays cheap.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

from fairskin.errors import InputError

__all__ = ["StudyConfig", "ServeConfig", "AnalyzeConfig", "Questions", "StudyFile", "ORIGINS", "SCHEMA",
           "STUDY_FILE", "PRIVATE_DIR", "KEY_FILE", "IMAGES_DIR", "DEFAULT_DB_FILE", "read_study_file",
           "write_study_file", "default_db_url", "SERVED_SUFFIX", "SERVED_MIME"]

SCHEMA = "fairskin.reader_study/1"
#: the two answers to "real or synthetic?", in the order the page shows them
ORIGINS: tuple[str, ...] = ("real", "synthetic")

STUDY_FILE = "study.json"
IMAGES_DIR = "images"
#: how the served images are stored and sent: uncompressed PNG, the same length and layout for
#: every image (``_create.stored_png``); study folders made before this hold .jpg files
SERVED_SUFFIX, SERVED_MIME = ".png", "image/png"
PRIVATE_DIR = "private"
KEY_FILE = "answer_key.csv"
DEFAULT_DB_FILE = "answers.sqlite"

Origin = Literal["real", "synthetic"]


@dataclass(frozen=True)
class Questions:
    """What each reader is asked about every image (the page shows them in this order)."""

    #: realism rating: 1 = clearly synthetic ... 7 = indistinguishable from a real photograph
    realism_min: int = 1
    realism_max: int = 7
    realism_low_label: str = "clearly artificial"
    realism_high_label: str = "indistinguishable from a photograph"
    #: confidence in the real / synthetic call
    confidence_min: int = 1
    confidence_max: int = 5
    #: ask for a diagnosis (optional for the reader: "not sure" is always allowed)
    ask_diagnosis: bool = True
    #: diagnoses offered; empty = the diagnoses of the sampled images
    diagnoses: tuple[str, ...] = ()
    #: seconds per image after which the image is hidden and the answer flagged; 0 = no limit
    time_limit_s: float = 0.0
    #: a free-text comment field
    ask_comment: bool = True

    def check(self) -> None:
        if not self.realism_min < self.realism_max:
            raise InputError(f"questions: realism_min ({self.realism_min}) must be below realism_max ({self.realism_max})")
        if not self.confidence_min < self.confidence_max:
            raise InputError(f"questions: confidence_min ({self.confidence_min}) must be below confidence_max "
                             f"({self.confidence_max})")
        if self.time_limit_s < 0:
            raise InputError(f"time_limit: expected seconds >= 0 (0 = no limit), got {self.time_limit_s}")


@dataclass(frozen=True)
class StudyConfig:
    """How ``fairskin reader-study create`` draws and prepares the blinded sample."""

    #: images in the study (calibration images not counted)
    n: int = 200
    #: share of real images; the rest are synthetic
    real_share: float = 0.5
    seed: int = 0
    #: every image is centre-cropped to a square and resized to this side (pixels)
    image_size: int = 512
    #: JPEG quality every image passes through before it is served (one encoder, one setting, 4:2:0
    #: chroma: both origins carry the same compression artefacts); served uncompressed
    jpeg_quality: int = 90
    #: calibration images shown with their answers before the study (half real, half synthetic)
    n_calibration: int = 4
    #: restrict the sample to these diagnoses; empty = all
    diagnoses: tuple[str, ...] = ()
    questions: Questions = field(default_factory=Questions)

    def check(self) -> None:
        if self.n < 2:
            raise InputError(f"n: expected at least 2 images, got {self.n}")
        if not 0.0 < self.real_share < 1.0:
            raise InputError(f"real_share: expected a share strictly between 0 and 1, got {self.real_share}")
        if not 32 <= self.image_size <= 4096:
            raise InputError(f"size: expected 32-4096 pixels, got {self.image_size}")
        if not 30 <= self.jpeg_quality <= 100:
            raise InputError(f"quality: expected a JPEG quality 30-100, got {self.jpeg_quality}")
        if self.n_calibration < 0 or self.n_calibration % 2:
            raise InputError(f"calibration: expected an even number >= 0 (half real, half synthetic), "
                             f"got {self.n_calibration}")
        self.questions.check()


@dataclass(frozen=True)
class ServeConfig:
    """The web server."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: waitress worker threads (a dozen readers need few; the benchmark runs 20 at once)
    threads: int = 16
    #: days the reader's sign-in cookie lasts (resume after closing the browser)
    cookie_days: int = 30
    #: set the cookie's Secure flag (serve behind HTTPS); off for loopback
    secure_cookie: bool = False
    #: longest comment a reader may type
    max_comment: int = 2000

    @property
    def url(self) -> str:
        """The address readers open on this server (``invite --url``'s default)."""
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class AnalyzeConfig:
    """The analysis of the answers."""

    #: crossed bootstrap replicates (readers and images resampled together)
    n_boot: int = 2000
    level: float = 0.95
    seed: int = 0
    #: the chance level the pooled accuracy is tested against
    chance: float = 0.5
    #: cells with fewer images than this are marked unreliable in the report
    min_cell_images: int = 10


@dataclass(frozen=True)
class StudyFile:
    """The parsed ``study.json``: everything the server needs and nothing it must not know."""

    schema: str
    title: str
    items: tuple[str, ...]
    calibration: tuple[dict, ...]
    questions: Questions
    image_size: int
    seed: int
    created: str

    @property
    def diagnoses(self) -> tuple[str, ...]:
        return self.questions.diagnoses


def _questions_from(d: dict, where: str) -> Questions:
    known = {f.name for f in fields(Questions)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise InputError(f"{where}: unknown question setting(s) {unknown}; allowed: {sorted(known)}")
    d = dict(d)
    if "diagnoses" in d:
        d["diagnoses"] = tuple(str(x) for x in d["diagnoses"])
    q = Questions(**d)
    q.check()
    return q


def read_study_file(study: str | Path) -> StudyFile:
    """Read and check ``STUDY/study.json``."""
    path = Path(study) / STUDY_FILE
    if not path.is_file():
        raise InputError(f"STUDY: {path} not found; make a study with `fairskin reader-study create`")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"STUDY: {path} is not valid JSON ({exc})") from None
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        raise InputError(f"STUDY: {path} has schema {d.get('schema') if isinstance(d, dict) else None!r}, "
                         f"expected {SCHEMA!r}")
    for key in ("items", "calibration", "questions", "image_size"):
        if key not in d:
            raise InputError(f"STUDY: {path} lacks the key {key!r}")
    return StudyFile(schema=d["schema"], title=str(d.get("title", "Reader study")), items=tuple(d["items"]),
                     calibration=tuple(d["calibration"]), questions=_questions_from(d["questions"], str(path)),
                     image_size=int(d["image_size"]), seed=int(d.get("seed", 0)), created=str(d.get("created", "")))


def write_study_file(study: Path, sf: StudyFile) -> Path:
    d = asdict(sf)
    d["items"], d["calibration"] = list(sf.items), list(sf.calibration)
    d["questions"]["diagnoses"] = list(sf.questions.diagnoses)
    path = Path(study) / STUDY_FILE
    path.write_text(json.dumps(d, indent=1) + "\n", encoding="utf-8")
    return path


def default_db_url(study: str | Path) -> str:
    """SQLite in the study folder: ``sqlite:///STUDY/answers.sqlite``."""
    return f"sqlite:///{(Path(study) / DEFAULT_DB_FILE).resolve()}"
