"""Steps "plan", "train" and "predict": the runs (arm x seed), each trained by its registered arm,
scored on the test set through the audit's own loader, and saved with its audit.

A run is finished when its ``done.json`` (written last) carries the experiment's fingerprint: a
hash of the settings that change what a run trains and of the data (training split, test images,
synthetic images; the test set's skin types when they are estimated). A rerun skips finished
runs; a run made with other settings is refused unless ``overwrite``."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.data import read_csv_table
from fairskin.errors import InputError
from fairskin.experiment._arms import ArmContext, find_arm
from fairskin.experiment._config import ExperimentConfig
from fairskin.experiment._data import PreparedData
from fairskin.outputs import atomic_write, write_csv
from fairskin.train import labels_of

__all__ = ["Run", "atomic_json", "check_stale", "fingerprint", "plan_runs", "pooled_scores", "score_test", "sha",
           "train_runs", "training_seed"]

#: settings that do not change what a run trains (left out of its fingerprint; hair_removal is in the arm's name)
NOT_TRAINING = ("arms", "seeds", "n_boot", "threshold", "min_gain", "max_drop", "num_workers", "rounds", "per_round",
                "test_fst_source", "hair_removal")


@dataclass(frozen=True)
class Run:
    arm: str
    seed: int
    dir: Path
    status: str  # "done", "todo" or "stale" (finished with other settings)

    def to_dict(self) -> dict:
        return {"arm": self.arm, "seed": self.seed, "status": self.status, "dir": str(self.dir)}


def training_seed(run_seed: int) -> int:
    """The seed the classifier of run seed ``run_seed`` trains with (the hard-case loop: seed 0's).
    ``1000 * run_seed + 17``, kept from the first release: the published experiments drew with it."""
    return 1000 * int(run_seed) + 17


def sha(obj) -> str:
    """A short fingerprint of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def atomic_json(path: Path, doc) -> None:
    atomic_write(path, json.dumps(doc, indent=2, default=str))


def plan_runs(out: str | Path, arms: Sequence[str], seeds: int, fingerprint: str | None = None) -> list[Run]:
    """Every (arm, seed) run and whether it is finished (its done.json carries ``fingerprint``)."""
    out = Path(out)
    runs = []
    for arm in arms:
        for s in range(seeds):
            d = out / "runs" / arm / f"seed-{s}"
            status = "todo"
            done = d / "done.json"
            if done.is_file():
                try:
                    doc = json.loads(done.read_text(encoding="utf-8"))
                except json.JSONDecodeError:
                    doc = {}
                if fingerprint is None or doc.get("fingerprint") == fingerprint:
                    status = "done"
                else:
                    status = "stale"
            runs.append(Run(arm, s, d, status))
    return runs


def fingerprint(cfg: ExperimentConfig, data: PreparedData, synthetic: pd.DataFrame | None) -> str:
    """The fingerprint a finished run's done.json carries (module docstring)."""
    train_settings = {k: v for k, v in asdict(cfg).items() if k not in NOT_TRAINING}
    tf = data.test_frame
    # estimated test types enter the fingerprint (per-run audits use them); with human ones it stays as before
    estimated = ({"test_fst": tf[["image", "fst_type", "fst_group"]].astype(str).values.tolist()}
                 if data.test_skin_types["source"] in ("estimated", "mixed") else {})
    data_fp = sha({"train": data.train[["image", "split"]].astype(str).values.tolist(),
                   "test": tf["image"].tolist(),
                   "synthetic": None if synthetic is None else synthetic["image"].astype(str).tolist(), **estimated})
    return sha({"settings": train_settings, "data": data_fp})


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def train_runs(runs: list[Run], *, cfg: ExperimentConfig, data: PreparedData, synthetic: pd.DataFrame | None,
               fingerprint: str, say) -> None:
    """Step "train" + "predict": every unfinished run trained, scored on the test set and saved."""
    todo = [r for r in runs if r.status != "done"]
    say(f"{len(runs)} runs ({len(runs) - len(todo)} finished earlier, {len(todo)} to do)")
    for i, r in enumerate(runs, 1):
        if r.status == "done":
            say(f"[{i}/{len(runs)}] {r.arm} seed {r.seed}: finished earlier, skipped")
            continue
        t0 = time.perf_counter()
        say(f"[{i}/{len(runs)}] {r.arm} seed {r.seed}: training {cfg.arch} ...")
        rec = _train_run(r, cfg=cfg, data=data, synthetic=synthetic, say=say)
        scores = score_test(r.dir / "model.pt", data.test, cfg)
        _save_run(r, scores=scores, data=data, cfg=cfg, fingerprint=fingerprint, rec=rec,
                  seconds=time.perf_counter() - t0)
        say(f"[{i}/{len(runs)}] {r.arm} seed {r.seed}: done in {time.perf_counter() - t0:.0f} s "
            f"(best epoch {rec['best_epoch']}, validation AUROC {_f(rec['best_val_auroc'])})")


def _train_run(r: Run, *, cfg: ExperimentConfig, data: PreparedData, synthetic, say) -> dict:
    r.dir.mkdir(parents=True, exist_ok=True)
    (r.dir / "done.json").unlink(missing_ok=True)
    arm, variants = find_arm(r.arm)
    options = cfg.train_options(seed=training_seed(r.seed))
    for v in variants:
        options.update(v.train_options)

    def epoch(event):
        if event.is_line:  # an epoch's line, indented under its run
            say(f"    {event.message}")

    res = arm.train(ArmContext(run_dir=r.dir, cfg=cfg, train=data.train, test=data.test, synthetic=synthetic,
                               options=options, progress=epoch, say=say))
    return {"best_epoch": res.best_epoch, "best_val_auroc": res.best_val_auroc, "epochs_run": len(res.history),
            "n_train_synthetic": res.metadata["training"]["n_train_synthetic"],
            "n_train_real": res.metadata["training"]["n_train_real"]}


def score_test(model_path: Path, test_df: pd.DataFrame, cfg: ExperimentConfig) -> np.ndarray:
    """Scores of the test set through the audit's own loader and preprocessing (as `fairskin audit` sees it)."""
    from fairskin.audits.classifier import load_model, predict

    model = load_model(model_path)
    scores, status, reason = predict(model, test_df, batch_size=64, num_workers=cfg.num_workers,
                                     device=cfg.device)
    return scores


def _save_run(r: Run, *, scores, data: PreparedData, cfg: ExperimentConfig, fingerprint, rec, seconds) -> None:
    from fairskin.audits.classifier import audit_predictions

    test_df = data.test
    pred = pd.DataFrame({"image": test_df["image"].astype(str).to_numpy(), "score": scores,
                         "label": labels_of(test_df, arg="test"),
                         "fst": data.test_fst,
                         "diagnosis": test_df["diagnosis"].astype("string").fillna("").to_numpy(object)})
    write_csv(pred, r.dir / "predictions.csv")
    audit = audit_predictions(pred[pred["score"].notna()], threshold=cfg.threshold, n_boot=min(cfg.n_boot, 500),
                              seed=cfg.split_seed, name=f"{r.arm}/seed-{r.seed}")
    audit.to_json(r.dir / "audit.json")
    overall = audit.to_dict()["models"][0]["overall"]["metrics"]["auroc"]["value"]
    atomic_json(r.dir / "done.json", {"arm": r.arm, "seed": r.seed, "fingerprint": fingerprint,
                                      "seconds": seconds, "test_auroc": overall, **rec})


def _read_scores(run_dir: Path, test_frame: pd.DataFrame) -> np.ndarray:
    pred = read_csv_table(run_dir / "predictions.csv", arg="")[0]
    score = pd.to_numeric(pred["score"], errors="coerce")
    return score.set_axis(pred["image"]).reindex(test_frame["image"]).to_numpy(float)


def pooled_scores(out: Path, arms: Sequence[str], seeds: int, test_frame: pd.DataFrame, say
                ) -> tuple[pd.DataFrame, dict[str, np.ndarray], int]:
    """Every run's saved test scores (arm -> seeds x rows), on the test rows every model could score:
    -> (those rows, the scores, how many rows were left out)."""
    scores = {arm: np.stack([_read_scores(out / "runs" / arm / f"seed-{s}", test_frame) for s in range(seeds)])
              for arm in arms}
    scored = np.all([np.isfinite(S).all(0) for S in scores.values()], axis=0)
    n_unscored = int((~scored).sum())
    if n_unscored:
        say(f"{n_unscored} test image(s) could not be scored by every model (unreadable); left out of the statistics")
        test_frame = test_frame[scored].reset_index(drop=True)
        scores = {a: S[:, scored] for a, S in scores.items()}
    return test_frame, scores, n_unscored


def check_stale(runs: list[Run], *, out: Path, overwrite: bool) -> None:
    stale = [r for r in runs if r.status == "stale"]
    if stale and not overwrite:
        raise InputError(f"out: run {stale[0].arm}/seed-{stale[0].seed} in {out} was made with other settings or data; "
                         "use a new out=..., or overwrite=True to redo such runs")
