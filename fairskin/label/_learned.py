"""The learned estimator: a Fitzpatrick type from the healthy skin's colour statistics, by an
ordinal model fitted to human types (``fairskin fit-estimator``), saved as JSON.

``fairskin label DATA --estimator model.json`` loads it (any ``*.json`` path given as the
estimator). The file is data only: feature names, standardisation, weights, thresholds, the
label settings the features were computed with, the abstention rule and the cross-validated
figures of the fit. Nothing in it is imported or executed; a file that is not this JSON schema
(a pickle, a Python file, a JSON with other keys) is refused with the reason.

Each photo gets ``p_fst1..p_fst6`` (the model's probability of each type), its type (the median
of that distribution), ``confidence`` (the probability of the type given) and a status:

* ``no_skin``: too little healthy skin to compute the features (as with ``ita``);
* ``unreliable``: the photo is over- or under-exposed (clipped or near-black pixels, skin L*
  outside what the fit saw) or the model's confidence is below ``abstain_below``, the threshold
  chosen at fitting time on out-of-fold predictions so that the chosen share of the training
  photos is kept. ``fst`` is then empty and ``reason`` says why, unless the estimator was built
  with ``abstain=False`` (``fairskin label --no-abstain``): then the type is given and the
  reason still says it is unreliable.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from fairskin.errors import InputError
from fairskin.label._backbone import BackboneSpec
from fairskin.label._config import LabelConfig
from fairskin.label._features import FEATURE_NAMES, image_features
from fairskin.label._ordinal import OrdinalModel
from fairskin.skintone import FITZPATRICK, FST_TYPES, ToneEstimate

__all__ = ["LearnedEstimator", "SCHEMA", "EXPOSURE_LIMITS", "exposure_problem", "load_learned_estimator"]

SCHEMA = "fairskin.learned-estimator/1"
P_COLUMNS = tuple(f"p_fst{k}" for k in FST_TYPES)
#: a photo is not read when more of its frame than this is clipped or near-black, or its skin's
#: median L* is outside this range (the skin's colour then says more about the exposure). The floor
#: sits below the darkest Monk swatch (MST 10, L* 15.5) so that the darkest skin is never taken
#: for under-exposure: abstaining there would starve exactly the types the tool exists to count.
EXPOSURE_LIMITS = {"frame_clipped": 0.25, "frame_dark": 0.5, "skin_L": (12.0, 92.0)}
_REQUIRED = {"schema", "features", "mean", "scale", "weights", "thresholds", "alpha", "abstain_below",
             "label_config", "fitted_on", "cross_validated"}


def exposure_problem(feats: dict[str, float]) -> str:
    """Why the photo's exposure makes its colour unreadable ("" when it does not)."""
    lim = EXPOSURE_LIMITS
    if feats.get("frame_clipped", 0.0) > lim["frame_clipped"]:
        return (f"clipped white: {feats['frame_clipped']:.0%} of the frame (a cut-out lesion, a figure or an "
                f"over-exposed photo; limit {lim['frame_clipped']:.0%})")
    if feats.get("frame_dark", 0.0) > lim["frame_dark"]:
        return (f"near-black: {feats['frame_dark']:.0%} of the frame (a cut-out on black or an under-exposed "
                f"photo; limit {lim['frame_dark']:.0%})")
    L = feats.get("L_q50", math.nan)
    lo, hi = lim["skin_L"]
    if math.isfinite(L) and not lo <= L <= hi:
        return f"{'under' if L < lo else 'over'}-exposed skin: median L* {L:.0f} (readable {lo:.0f}-{hi:.0f})"
    return ""


@dataclass(frozen=True)
class LearnedEstimator:
    """A fitted ordinal model over :data:`fairskin.label._features.FEATURE_NAMES` (docs/label.md)."""

    name: ClassVar[str] = "learned"
    tone_scale: ClassVar = FITZPATRICK
    columns: ClassVar[tuple[str, ...]] = ("fst", "confidence", "status", "reason", "scale", *P_COLUMNS,
                                          "ita", "L", "b", "skin_fraction")
    model: OrdinalModel
    features: tuple[str, ...]
    config: LabelConfig = LabelConfig()
    abstain_below: float = 0.0
    abstain: bool = True
    info: dict = field(default_factory=dict, compare=False)  # fitted_on, cross_validated
    backbone: BackboneSpec | None = None  # optional image backbone (label/_backbone.py)

    @property
    def work_side(self) -> int:
        return self.config.work_side

    @property
    def scale_name(self) -> str:
        return f"learned-{self.digest()}"

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def settings(self) -> dict:
        return {"model": self.digest(), "abstain": self.abstain}

    def describe(self) -> dict:
        return {"name": self.scale_name, "categories": list(FITZPATRICK.labels), "abstain_below": self.abstain_below,
                "abstain": self.abstain, **{k: self.info.get(k) for k in ("fitted_on", "cross_validated")}}

    # --- estimating ---------------------------------------------------------------------------
    def vector(self, feats: dict[str, float]) -> np.ndarray:
        return np.array([feats[f] for f in self.features], float)

    def from_features(self, feats: dict[str, float], no_skin_reason: str = "") -> ToneEstimate:
        """The estimate for one photo's features (what :meth:`estimate_rgb` does after the mask)."""
        values = {c: math.nan for c in P_COLUMNS}
        values.update(ita=feats.get("ita_of_medians", math.nan), L=feats.get("L_q50", math.nan),
                      b=feats.get("b_q50", math.nan), skin_fraction=feats.get("skin_fraction", math.nan))
        x = self.vector(feats)
        if not np.isfinite(x).all():
            return ToneEstimate(FITZPATRICK, status="no_skin", reason=no_skin_reason or "no healthy skin found",
                                scale=self.scale_name, values=values)
        p = self.model.proba(x[None, :])[0]
        fst = int(OrdinalModel.predict_from(p[None, :])[0])
        conf = float(p[fst - 1])
        values.update({c: float(v) for c, v in zip(P_COLUMNS, p)})
        why = exposure_problem(feats)
        if not why and conf < self.abstain_below:
            why = f"low confidence: {conf:.2f} below {self.abstain_below:.2f}, the threshold calibrated on human types"
        if why and self.abstain:
            return ToneEstimate(FITZPATRICK, confidence=conf, status="unreliable", reason=why, scale=self.scale_name,
                                values=values)
        reason = f"unreliable ({why}); type given on request (--no-abstain)" if why else ""
        return ToneEstimate(FITZPATRICK, tone=fst, confidence=conf, reason=reason, scale=self.scale_name,
                            values=values)

    def estimate_rgb(self, rgb: np.ndarray, *, valid: np.ndarray | None = None,
                     lesion_mask: np.ndarray | None = None) -> ToneEstimate:
        feats, reason = image_features(rgb, valid=valid, lesion_mask=lesion_mask, config=self.config)
        if self.backbone is not None:
            feats.update(self.backbone.features(rgb))
        return self.from_features(feats, reason)

    # --- saving -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        m = self.model
        out = {"schema": SCHEMA, "features": list(self.features), "mean": m.mean.tolist(), "scale": m.scale.tolist(),
               "weights": m.weights.tolist(), "thresholds": m.thresholds.tolist(), "alpha": m.alpha,
               "abstain_below": self.abstain_below, "label_config": asdict(self.config),
               "fitted_on": self.info.get("fitted_on"), "cross_validated": self.info.get("cross_validated")}
        return {**out, "backbone": self.backbone.to_dict()} if self.backbone is not None else out

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False), encoding="utf-8")

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "the model", abstain: bool = True,
                  backbone_weights: str | Path | None = None) -> "LearnedEstimator":
        """The estimator in a model JSON; one with a backbone needs its weights file (``backbone_weights``,
        else the path the JSON records) and refuses a file whose SHA-256 differs."""
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise InputError(f"{source}: not a learned skin-type estimator (expected a JSON object with "
                             f"schema {SCHEMA!r}, written by fairskin fit-estimator)")
        missing, extra = _REQUIRED - set(d), set(d) - _REQUIRED - {"backbone"}
        if missing or extra:
            raise InputError(f"{source}: learned-estimator JSON has missing keys {sorted(missing)} / unknown keys "
                             f"{sorted(extra)}; only the schema's data keys are accepted")
        backbone = BackboneSpec.from_dict(d["backbone"], source=source, weights=backbone_weights) \
            if d.get("backbone") is not None else None
        if backbone is None and backbone_weights is not None:
            raise InputError(f"backbone_weights: {source} was fitted without an image backbone")
        feats, known = d["features"], (*FEATURE_NAMES, *(backbone.feature_names if backbone else ()))
        if not isinstance(feats, list) or not feats or any(f not in known for f in feats):
            raise InputError(f"{source}: 'features' must name features of fairskin's set ({', '.join(known)})")
        arrays = {}
        for key, n in (("mean", len(feats)), ("scale", len(feats)), ("weights", len(feats)), ("thresholds", 5)):
            v = d[key]
            if not (isinstance(v, list) and len(v) == n and all(_is_number(x) for x in v)):
                raise InputError(f"{source}: {key!r} must be a list of {n} finite numbers")
            arrays[key] = np.asarray(v, float)
        if np.any(np.diff(arrays["thresholds"]) <= 0) or np.any(arrays["scale"] <= 0):
            raise InputError(f"{source}: thresholds must increase and scales be positive")
        for key in ("alpha", "abstain_below"):
            if not _is_number(d[key]):
                raise InputError(f"{source}: {key!r} must be a number")
        cfg = d["label_config"]
        names = {f.name for f in fields(LabelConfig)}
        if not isinstance(cfg, dict) or set(cfg) - names:
            raise InputError(f"{source}: 'label_config' must hold LabelConfig fields ({', '.join(sorted(names))})")
        model = OrdinalModel(arrays["mean"], arrays["scale"], arrays["weights"], arrays["thresholds"], float(d["alpha"]))
        return cls(model=model, features=tuple(feats), config=LabelConfig(**cfg), abstain_below=float(d["abstain_below"]),
                   abstain=abstain, info={"fitted_on": d["fitted_on"], "cross_validated": d["cross_validated"]},
                   backbone=backbone)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def load_learned_estimator(path: str | Path, *, abstain: bool = True, backbone_weights: str | Path | None = None,
                           **_options) -> LearnedEstimator:
    """The estimator saved at ``path`` (JSON; ``backbone_weights``: the local weights file of its
    image backbone, when it has one and the recorded path is not the one to use). Options a caller passes to every estimator
    (``config``, ``scale``) are ignored: the model's features were computed with its own label
    settings, which the file holds."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"estimator: cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"estimator: {path} is not JSON ({exc}); a learned estimator is a JSON file written by "
                         "fairskin fit-estimator; pickles and other files that carry code are refused") from None
    return LearnedEstimator.from_dict(data, source=f"estimator={path}", abstain=abstain,
                                      backbone_weights=backbone_weights)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")
