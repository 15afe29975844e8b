"""A threshold chosen on the audited rows (``--target-sensitivity``) is itself an estimate: each
bootstrap resample would have chosen its own. The resamples' threshold-based metrics take that
into account to first order: for resample ``b`` with its own threshold ``t_b``,
``metric_b(t_b) ~ metric_b(t) + [metric(t_b) - metric(t)]``, the bracket evaluated on the audited
rows (a sorted search per group, so it costs little beside the bootstrap itself).

How a model's threshold is decided at all is one :class:`ThresholdPolicy`, parsed once where the
caller gives it (:func:`parse_threshold`: the command line or the Python call) and carried to here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fairskin.audits.stats._registry import THRESHOLD_METRICS
from fairskin.errors import InputError

__all__ = ["DDI_THRESHOLDS", "THRESHOLD_METRICS", "ThresholdPolicy", "parse_threshold", "choose_threshold",
           "resampled_thresholds", "add_threshold_noise"]

#: DDI's operating thresholds for its released models (Daneshjou et al., Sci. Adv. 2022, code
#: ``ddi_model.py`` MODEL_THRESHOLDS: "determined by maximizing F1-score on the test split of the
#: train dataset for the given algorithm"). Use as ``threshold="ddi:DeepDerm"``.
DDI_THRESHOLDS: dict[str, float] = {"HAM10000": 0.733, "DeepDerm": 0.687, "GroupDRO": 0.980, "CORAL": 0.990,
                                    "CDANN": 0.980}

_EXPECTED = "expected a number in [0, 1], 'model' or 'ddi:NAME'"


@dataclass(frozen=True)
class ThresholdPolicy:
    """How each model's operating threshold is decided (``meta.threshold_policy`` is ``kind``).

    ``fixed``: ``value`` is the threshold; ``ddi``: ``value`` is DDI's published threshold of the
    model ``source`` names (``ddi:DeepDerm``); ``model``: the threshold saved with each model
    (``value`` is None); ``target_sensitivity``: ``value`` is the target, the threshold is chosen on
    the audited rows (:func:`choose_threshold`) and re-chosen in every resample."""

    kind: Literal["fixed", "model", "ddi", "target_sensitivity"]
    value: float | None = None
    #: what the caller gave, as they wrote it (``0.5``, ``model``, ``ddi:DeepDerm``)
    source: str = ""

    @property
    def resampled(self) -> bool:
        """Whether the threshold is an estimate from the audited rows (re-chosen in each resample)."""
        return self.kind == "target_sensitivity"

    def threshold(self, name: str, scores: np.ndarray, labels: np.ndarray, saved: float | None) -> float:
        """The threshold of model ``name`` with ``scores`` on rows with ``labels`` (``saved``: the
        threshold saved with the model, for kind ``model``)."""
        if self.kind == "target_sensitivity":
            return choose_threshold(scores, labels, float(self.value))
        if self.kind == "model":
            if saved is None:
                raise InputError(f"threshold='model': {name} has no threshold saved with it (metadata key 'threshold'); "
                                 "give a number instead")
            return float(saved)
        return float(self.value)


def parse_threshold(threshold: ThresholdPolicy | float | str, target_sensitivity: float | None = None
                    ) -> ThresholdPolicy:
    """The policy of ``threshold`` (a number in [0, 1], or its text, ``"model"``, ``"ddi:NAME"``, or a
    policy, returned as it is); ``target_sensitivity`` (in (0, 1]), when given, overrides it."""
    if target_sensitivity is not None:
        if isinstance(target_sensitivity, bool) or not isinstance(target_sensitivity, (int, float)) or \
                not 0 < target_sensitivity <= 1:
            raise InputError(f"target_sensitivity: expected a value in (0, 1], got {target_sensitivity!r}")
        return ThresholdPolicy("target_sensitivity", float(target_sensitivity), f"target sensitivity {target_sensitivity}")
    if isinstance(threshold, ThresholdPolicy):
        return threshold
    if isinstance(threshold, str):
        text = threshold.strip()
        if text.lower() == "model":
            return ThresholdPolicy("model", None, "model")
        if text.lower().startswith("ddi:"):
            return ThresholdPolicy("ddi", _ddi_threshold(text), text)
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"threshold: {_EXPECTED}, got {threshold!r}") from None
    elif isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise InputError(f"threshold: {_EXPECTED}, got {threshold!r}")
    else:
        value = float(threshold)
    if not 0 <= value <= 1:
        raise InputError(f"threshold: {_EXPECTED}, got {threshold!r}")
    return ThresholdPolicy("fixed", value, str(threshold))


def _ddi_threshold(spec: str) -> float:
    name = spec.split(":", 1)[1].strip()
    for k, v in DDI_THRESHOLDS.items():
        if k.lower() == name.lower():
            return v
    import difflib

    close = difflib.get_close_matches(name, list(DDI_THRESHOLDS), n=1, cutoff=0.5)
    hint = f" Did you mean 'ddi:{close[0]}'?" if close else ""
    raise InputError(f"threshold: {spec!r} names no DDI model; expected one of "
                     f"{', '.join('ddi:' + k for k in DDI_THRESHOLDS)}.{hint}")


def choose_threshold(scores: np.ndarray, labels: np.ndarray, target: float) -> float:
    """Largest threshold whose sensitivity on these rows is at least ``target`` (the rule
    :func:`resampled_thresholds` applies in each resample)."""
    pos = np.sort(scores[labels])[::-1]
    if len(pos) == 0:
        raise InputError("target_sensitivity: no malignant rows to choose a threshold on")
    k = max(1, math.ceil(target * len(pos) - 1e-9))
    return float(pos[k - 1])



def resampled_thresholds(eng, model: str, target: float) -> np.ndarray:
    """``(B,)``: the threshold each resample's rows would give (the largest whose sensitivity on
    them reaches ``target``; the rule of the audit's own choice)."""
    y = eng.y
    pos = np.flatnonzero(y)
    s = eng.scores[model][pos]
    order = np.argsort(-s, kind="mergesort")
    desc, cols = s[order], eng.column[pos[order]]
    out = np.empty(eng.cfg.n_boot)
    done = 0
    for block in eng.count_blocks(reuse=True):
        C = np.cumsum(block[:, cols], axis=1)
        need = np.maximum(1, np.ceil(target * C[:, -1] - 1e-9))
        at = np.argmax(C >= need[:, None], axis=1)
        out[done:done + len(at)] = desc[at]
        done += len(at)
    return out


def _rates(pos: np.ndarray, neg: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """Threshold metrics of rows with sorted malignant scores ``pos`` and benign ``neg`` at each ``t``."""
    P, N = len(pos), len(neg)
    tp = P - np.searchsorted(pos, t, side="left")  # scores >= t
    fp = N - np.searchsorted(neg, t, side="left")
    fn, tn = P - tp, N - fp
    c = {"tp": tp.astype(float), "fp": fp.astype(float), "tn": tn.astype(float), "fn": fn.astype(float)}
    return {name: m.from_counts(c) for name, m in THRESHOLD_METRICS.items()}


def add_threshold_noise(eng, model: str, target: float) -> None:
    """Shift every group's resampled threshold metrics by what its own threshold would change."""
    if not math.isfinite(target):
        return
    t = eng.thresholds[model]
    tb = resampled_thresholds(eng, model, target)
    s = eng.scores[model]
    for key, idx in eng.rows.items():
        yy = eng.y[idx]
        pos, neg = np.sort(s[idx][yy]), np.sort(s[idx][~yy])
        at_t, at_b = _rates(pos, neg, np.array([t])), _rates(pos, neg, tb)
        for m in THRESHOLD_METRICS:
            shift = np.nan_to_num(at_b[m] - at_t[m][0])
            eng.samples[model][key][m] = eng.samples[model][key][m] + shift
