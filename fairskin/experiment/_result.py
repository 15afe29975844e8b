"""What an experiment returns: :class:`ExperimentResult`, whose :meth:`~ExperimentResult.to_dict` is
``experiment.json`` (schema ``fairskin.experiment/1``)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fairskin.experiment._arms import BASELINE, arm_description, arm_family
from fairskin.experiment._config import DemoSetup, ExperimentConfig
from fairskin.experiment._runs import Run
from fairskin.experiment._synthetic import SyntheticImages
from fairskin.outputs import document_header

__all__ = ["SCHEMA", "DataSummary", "ExperimentResult"]

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
