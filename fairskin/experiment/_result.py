"""What an experiment returns: :class:`ExperimentResult`, whose :meth:`~ExperimentResult.to_dict` is
``experiment.json`` (schema ``fairskin.experiment/1``)."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fairskin.experiment._arms import BASELINE, arm_description, arm_family
from fairskin.experiment._config import DemoSetup, ExperimentConfig
from fairskin.experiment._runs import Run
from fairskin.experiment._synthetic import SyntheticImages
from fairskin.outputs import document_header

__all__ = ["SCHEMA", "DataSummary", "ExperimentResult", "baseline_gap"]

SCHEMA = "fairskin.experiment/1"


@dataclass(frozen=True)
class DataSummary:
    """experiment.json's ``data``: where the data came from and how many images each part has."""

    real: str
    root: str | None
    test: str  # the test set, or how it was held out
    n_train: int
    n_val: int
    n_test: int  # test rows in the statistics
    n_test_unscored: int  # usable test rows some model could not score
    train_by_group: dict[str, dict[str, int]]
    test_by_group: dict[str, dict[str, int]]
    #: how the test set's skin types were read (human labels or ITA estimates) and the rows left out
    test_skin_types: dict[str, Any]

    @property
    def caution(self) -> str | None:
        """The warning shown when the test set's skin types are estimated."""
        return self.test_skin_types.get("caution")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: what each seed's test of the baseline's gap keeps from the audit's ``auroc_gap`` / ``pair`` entry
_GAP_KEYS = ("groups", "value", "ci_low", "ci_high", "p_value", "p_value_holm", "evidence", "reading", "flags")


def baseline_gap(out: str | Path, *, arm: str = BASELINE, seeds: int) -> dict[str, Any]:
    """``context.baseline_gap`` of experiment.json (docs/report-inputs.md): the AUROC gap between the
    lightest and the darkest skin-type group (I-II vs V-VI) of arm ``arm``'s model of each seed, as
    that run's own audit (``runs/<arm>/seed-<k>/audit.json``) tested and read it. The reports state
    the baseline's gap from it; a seed without its audit (or without that test) is left out."""
    out = Path(out)
    found = []
    for k in range(int(seeds)):
        path = out / "runs" / arm / f"seed-{k}" / "audit.json"
        if not path.is_file():
            continue
        model = (json.loads(path.read_text(encoding="utf-8")).get("models") or [{}])[0]
        pair = next((f for f in model.get("fairness") or [] if f.get("name") == "auroc_gap"
                     and f.get("method") == "pair"), None)
        if pair:
            found.append({"seed": k, **{key: pair.get(key) for key in _GAP_KEYS}})
    return {"arm": arm, "source": f"{out.name}/runs/{arm}/seed-*/audit.json", "seeds": found}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ExperimentResult:
    """The runs, and (unless a dry run) every section of experiment.json as typed fields."""

    out: Path
    runs: list[Run]
    dry_run: bool = False
    config: ExperimentConfig | None = None
    arms: tuple[str, ...] = ()  # the runs' arm names, the baseline first
    demo: DemoSetup | None = None  # the built-in demo's setup, when it ran
    fingerprint: str | None = None
    data: DataSummary | None = None
    synthetic: SyntheticImages | None = None
    criteria: tuple[Any, ...] = ()
    #: each run's done.json
    run_records: list[dict[str, Any]] = field(default_factory=list)
    #: per-arm metrics with intervals and the comparisons with the baseline (:func:`arm_statistics`)
    statistics: dict[str, Any] = field(default_factory=dict)
    #: the hard-case loop (``rounds > 0``)
    rounds: dict[str, Any] | None = None
    #: experiment.json's ``context``: what the reports read beside the statistics (``baseline_gap``)
    context: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    created: str = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        """experiment.json (a dry run: only its ``runs``)."""
        if self.dry_run:
            return {"runs": [r.to_dict() for r in self.runs]}
        return {
            **document_header(SCHEMA, created=self.created, version=False),
            "demo": asdict(self.demo) if self.demo is not None else None,
            "config": asdict(self.config), "arms": {a: arm_description(a) for a in self.arms}, "baseline": BASELINE,
            "arm_families": {a: arm_family(a) for a in self.arms},
            "fingerprint": self.fingerprint,
            "data": self.data.to_dict(),
            "synthetic": self.synthetic.to_dict(),
            "criteria": [asdict(c) for c in self.criteria],
            "runs": self.run_records,
            "statistics": self.statistics,
            "rounds": self.rounds,
            "context": self.context,
            "seconds": self.seconds,
        }

    @property
    def doc(self) -> dict[str, Any]:
        """experiment.json as a dict (the same as :meth:`to_dict`)."""
        return self.to_dict()

    def verdict(self, arm: str) -> dict | None:
        for c in self.statistics.get("comparisons", []):
            if c["candidate"] == arm:
                return c
        return None
