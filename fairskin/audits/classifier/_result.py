"""The result of an audit and its JSON (``docs/audit-json.md``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fairskin.audits.stats import ThresholdPolicy
from fairskin.errors import InputError
from fairskin.notebook import NotebookView
from fairskin.outputs import atomic_write, document_header, to_jsonable, utc_timestamp

__all__ = ["SCHEMA", "AuditConfig", "DEFAULTS", "MODEL_SETTINGS", "AuditResult"]

SCHEMA = "fairskin.audit/2"

@dataclass(frozen=True)
class AuditConfig:
    """Every setting of ``fairskin audit`` (the CLI reads its option defaults from here), merged by
    :func:`fairskin.settings.merge_settings`: these defaults < a settings file < the caller's
    arguments (:func:`fairskin.audits.classifier._settings.resolve_config`). One flat dataclass, as
    every stage's config, so a settings file's ``[audit]`` keys are its field names."""

    #: a number in [0, 1], ``"model"``, ``"ddi:NAME"`` or a :class:`ThresholdPolicy`; the audit
    #: parses it once into the policy (``resolve_config``), which is what flows on
    threshold: float | str | ThresholdPolicy = 0.5
    #: choose each model's threshold on the audited rows to reach this sensitivity (overrides ``threshold``)
    target_sensitivity: float | None = None
    n_boot: int = 1000
    seed: int = 0
    ci_level: float = 0.95
    min_group_n: int = 30
    min_group_positives: int = 5
    #: benign images a group needs (specificity, AUROC and calibration need both classes)
    min_group_negatives: int = 5
    min_cell_n: int = 10
    ece_bins: int = 10
    ratio_bounds: tuple[float, float] = (0.8, 1.25)
    #: relative AUROC gain required on the darkest group, and largest drop allowed on I-III
    #: (the defaults of :func:`._compare.default_criteria`)
    min_gain: float = 0.10
    max_drop: float = 0.02
    #: the tone scale rows are grouped on (fitzpatrick; monk for Monk Skin Tone labels): read from
    #: the data (a predictions column ``mst``, a labels.csv from ``fairskin label --estimator monk``)
    tone_scale: str = "fitzpatrick"
    #: how the malignant count of a skin type arose, which the bootstrap then holds or redraws:
    #: "fixed" (chosen by design, e.g. so many malignant per type: rows resampled within type x label)
    #: or "cohort" (labels came with the rows, so each type's share malignant is random: rows
    #: resampled within type; the default: right for a cohort and conservative for a fixed design,
    #: where "fixed" under-covers a cohort's prevalence-dependent statistics; docs/audit-json.md)
    label_sampling: str = "cohort"
    #: the level the gaps are computed over: auto (exact types when every row has one), type or group
    group_level: str = "auto"
    #: the group ratios are taken against (None: the lightest with ``min_group_n`` images, else the largest)
    reference_group: str | None = None
    # --- what the rows are (audit() of model files and predictions CSVs) ---
    #: auto (human types where people gave one, else the labels.csv's estimates), human or estimated
    fst_source: str = "auto"
    #: the diagnosis counted as positive (None: the data set's malignant flag)
    positive_class: str | None = None
    #: what a predictions CSV's scores are: probabilities or logits
    scores: str = "probabilities"
    #: the data set's format (None: detected)
    data_format: str | None = None
    # --- running a model file (fairskin.audits.models) ---
    arch: str | None = None
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    #: what the model returns: logits or probabilities (None: its metadata, else logits)
    model_output: str | None = None
    resize: int | None = None
    crop: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    batch_size: int = 32
    num_workers: int = 0
    device: str = "auto"
    # --- why a model does worse on some skin (model files only) ---
    #: an attribution method of ``fairskin.audits.why.SALIENCY_METHODS`` (e.g. "gradcam")
    saliency: str | None = None
    saliency_layer: str | None = None
    counterfactual_tone: bool = False

    @property
    def policy(self) -> ThresholdPolicy:
        """The threshold policy (``threshold`` once ``resolve_config`` has parsed it)."""
        if not isinstance(self.threshold, ThresholdPolicy):
            raise TypeError("AuditConfig.threshold is not parsed yet; use resolve_config")
        return self.threshold


#: the settings that run a model file or read a data set: ``audit_predictions`` (a table of
#: scores) refuses them by name
MODEL_SETTINGS = ("fst_source", "positive_class", "data_format", "arch", "num_classes", "class_names",
                  "model_output", "resize", "crop", "mean", "std", "batch_size", "num_workers", "device", "saliency",
                  "saliency_layer", "counterfactual_tone")

DEFAULTS = AuditConfig()


@dataclass(repr=False)
class AuditResult(NotebookView):
    """An audit of one or more models. ``to_dict()`` is the JSON of ``docs/audit-json.md``; the
    ``repr``, ``to_frame()`` and ``_repr_html_`` are ``fairskin.audits.classifier._notebook``'s."""

    _notebook = ("fairskin.audits.classifier._notebook", "audit")

    meta: dict[str, Any]
    data: dict[str, Any]
    models: list[dict[str, Any]]
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    #: the cleaned predictions of each model (what ``compare_audits`` resamples)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    config: AuditConfig = field(default=DEFAULTS, repr=False)
    #: optional top-level sections written after ``comparisons`` (``saliency``, ``counterfactual``:
    #: one entry per model; see docs/audit-json.md)
    sections: dict[str, Any] = field(default_factory=dict)
    #: each model's threshold policy (what ``compare_audits`` keeps for it)
    policies: dict[str, ThresholdPolicy] = field(default_factory=dict, repr=False)
    #: the labeller's confusion the audit corrected estimated skin types with (``None``: none)
    label_confusion: Any = field(default=None, repr=False)
    created: str = field(default_factory=utc_timestamp)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({**document_header(SCHEMA, created=self.created),
                            "meta": self.meta, "data": self.data, "models": self.models,
                            "comparisons": self.comparisons, **self.sections})

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")

    def to_frame(self, kind: str = "metrics") -> pd.DataFrame:
        """Tidy: one row per model x group x metric (``kind="gaps"``: per model x fairness gap), with
        columns model, group, metric, value, low, high, flags (``fairskin.notebook.TIDY_COLUMNS``)."""
        return self._view("frame")(self, kind)

    def model(self, name: str | None = None) -> dict[str, Any]:
        """The entry of one model (the first when ``name`` is omitted)."""
        if name is None:
            return self.models[0]
        for m in self.models:
            if m["name"] == name:
                return m
        raise InputError(f"model: no model named {name!r}; audited: {', '.join(m['name'] for m in self.models)}")

    def group(self, group: str, *, model: str | None = None) -> dict[str, Any]:
        """The entry of one group ('V-VI', 'III', or 'all') of one model."""
        m = self.model(model)
        if group == "all":
            return m["overall"]
        for g in m["groups"]:
            if g["group"] == group:
                return g
        raise InputError(f"group: {group!r} not in the audit; present: {', '.join(g['group'] for g in m['groups'])}")
