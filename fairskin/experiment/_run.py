"""``fairskin experiment``: does synthetic augmentation close the skin-tone gap?

:func:`run_experiment` is a row of named steps, each in its own module:

1. settings  (``_config``)     arguments > config file > :class:`ExperimentConfig`; arms checked
                               and expanded by the arm registry (``_arms``)
2. data      (``_data``)       one split (train / val by patient; the held-out test set apart) and
                               the test set's skin types
3. synthetic (``_synthetic``)  the synthetic images: a manifest, or generated here through the gate
4. plan      (``_runs``)       the runs (arm x seed), the fingerprint, which are finished
5. train     (``_runs``)       each unfinished run trained by its registered arm, scored, audited
6. statistics (``_stats``)     the seeds pooled, every arm compared with ``real``, the verdict
7. hard cases (``_hardcase``)  the hard-case loop (``rounds > 0``)
8. report                      experiment.json (:class:`ExperimentResult`)

Output folder ``OUT``::

    experiment.json        settings, data summary, runs, per-arm metrics with CIs, verdicts
    splits.csv             image, split (train / val) of the real training data
    test_skipped.csv       test rows left out of the statistics (no skin type, unusable image) and why
    synthetic/             synthetic images generated here (and their manifest.csv)
    runs/ARM/seed-K/       model.pt (+ model.pt.json: loads in `fairskin audit`), predictions.csv,
                           audit.json (the audit of this run alone), done.json (written last)
    rounds/                the hard-case loop (``rounds > 0``)

Resuming: a run whose ``done.json`` carries the same settings fingerprint is not redone; a run
made with other settings is refused unless ``overwrite=True``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fairskin.errors import InputError
from fairskin.experiment._arms import BASELINE, arm_family, expand_arms, find_arm
from fairskin.experiment._config import DemoSetup, ExperimentConfig, ExperimentInputs, resolve_settings
from fairskin.experiment._data import PreparedData, group_counts, prepare_data
from fairskin.experiment._result import DataSummary, ExperimentResult, baseline_gap
from fairskin.experiment._runs import (
    atomic_json,
    check_stale,
    fingerprint,
    plan_runs,
    pooled_scores,
    train_runs,
)
from fairskin.experiment._synthetic import pick_generator, synthetic_images
from fairskin.outputs import claim_outputs, interruptible
from fairskin.progress import Progress, report

__all__ = ["run_experiment"]


def run_experiment(
    real=None,
    *,
    out: str | Path,
    synthetic=None,
    test=None,
    test_labels: str | Path | None = None,
    conditioning: str | Path | None = None,
    generator_name: str | None = None,
    generator_dir: str | Path | None = None,
    config: ExperimentConfig | str | Path | None = None,
    dry_run: bool = False,
    overwrite: bool = False,
    demo: DemoSetup = DemoSetup(),
    progress: Progress | None = None,
    **settings: Any,
) -> ExperimentResult:
    """Train every arm with ``seeds`` seeds, audit each model on the same held-out test set, pool the
    seeds and judge each arm against ``real`` (default criteria: AUROC on FST V-VI up by at least
    ``min_gain`` relative, no FST I-III group down by more than ``max_drop``).

    Settings: ``settings`` (any :class:`ExperimentConfig` field, e.g. ``arms=["real", "mixed"]``,
    ``seeds=3``; ``None`` means not given) > ``config`` (a JSON/TOML file, or an
    :class:`ExperimentConfig`) > the defaults (:func:`resolve_settings`). Arms are looked up in the
    arm registry (:func:`register_arm`).

    With no ``real``, ``synthetic`` or ``test`` (and no config file naming them) it runs the built-in
    demo (:class:`DemoSetup`). ``synthetic`` is a manifest of synthetic images (``fairskin balance``'s
    ``manifest.csv``); without it, images are generated here with the skin-tone ``conditioning`` of
    ``fairskin train-conditioning``, or the generator ``generator_name`` of the registry of
    :mod:`fairskin.conditioning` with its trained folder ``generator_dir`` (image-to-image from the training split's dark-skin malignant
    images, through the ITA gate).

    The test set's skin types are its human labels, or (``test_labels``: ``fairskin label``'s labels.csv
    of the test set, for data without human labels such as HAM10000) ITA estimates; ``test_fst_source``
    as ``fairskin audit``'s ``fst_source``. experiment.json records which, and every test row left out.

    ``hair_removal``: run every arm a second time on DullRazor-inpainted images (the arm
    ``ARM+hair_removal``; the saved model's metadata makes the audit inpaint the test images too).

    ``progress`` (:mod:`fairskin.progress`) sees the run's lines (settings, each run started,
    trained, skipped; each epoch).
    """
    say = (lambda msg: report(progress, "experiment", message=msg))
    t_start = time.perf_counter()
    out = Path(out)
    # ---- 1. settings ---------------------------------------------------------------------------------
    inputs, cfg = resolve_settings(ExperimentInputs(real, synthetic, test, test_labels, conditioning, generator_name,
                                                    generator_dir),
                                   config=config, demo=demo, **settings)
    arms = expand_arms(cfg.arms, cfg)
    cfg.check()
    from fairskin.train import check_arch

    check_arch(cfg.arch)  # before any run, the dry run included: a wrong name fails once, in full
    if inputs.real is None and not inputs.is_demo:
        raise InputError("real: give the real training data (a data set directory or manifest CSV), or give no "
                         "data argument at all to run the built-in demo")
    needs_synthetic = any(find_arm(a)[0].needs_synthetic for a in arms) or cfg.rounds > 0
    if dry_run:  # lists the runs without reading data or generating anything
        runs = plan_runs(out, arms, cfg.seeds)
        for r in runs:
            say(f"{r.status:5s} {r.arm} seed {r.seed} -> {r.dir}")
        return ExperimentResult(out=out, runs=runs, dry_run=True)

    # ---- the output folder: one run at a time; Ctrl-C says what is kept -----------------------------
    kept = (lambda: f"every finished run is kept in {out / 'runs'} (each with its done.json); run the same command "
            "again to resume")
    with claim_outputs({"out": out}, overwrite=True, kinds={"out": "dir"}), interruptible(kept):
        # ---- 2. data: one split for every arm and seed -----------------------------------------------
        out.mkdir(parents=True, exist_ok=True)
        generator = pick_generator(inputs, cfg, demo=demo, arms=arms, needs_synthetic=needs_synthetic)
        data = prepare_data(inputs, cfg, out=out, demo=demo, say=say)
        # ---- 3. synthetic images ---------------------------------------------------------------------
        syn, generator = synthetic_images(inputs, data, cfg, generator=generator, demo=demo, arms=arms,
                                          needs_synthetic=needs_synthetic, out=out, say=say)
        # ---- 4. plan: fingerprint, resume ------------------------------------------------------------
        fp = fingerprint(cfg, data, syn.frame)
        runs = plan_runs(out, arms, cfg.seeds, fp)
        check_stale(runs, out=out, overwrite=overwrite)
        # ---- 5. train, predict and audit each run ----------------------------------------------------
        train_runs(runs, cfg=cfg, data=data, synthetic=syn.frame, fingerprint=fp, say=say)
        # ---- 6. pool seeds, compare, verdict ---------------------------------------------------------
        test_frame, statistics, criteria, n_unscored = _statistics(out, arms, cfg, data, say)
        # ---- 7. the hard-case loop -------------------------------------------------------------------
        rounds = None
        if cfg.rounds > 0:
            from fairskin.experiment._hardcase import hard_case_loop

            rounds = hard_case_loop(out=out / "rounds", cfg=cfg, train_df=data.train, test_df=data.test,
                                    test_frame=test_frame, syn_df=syn.frame, generator=generator, say=say)
        # ---- 8. report -------------------------------------------------------------------------------
        result = ExperimentResult(
            out=out, runs=runs, config=cfg, arms=arms, demo=demo if inputs.is_demo else None, fingerprint=fp,
            data=_summary(data, test_frame, n_unscored), synthetic=syn, criteria=criteria,
            run_records=[json.loads((r.dir / "done.json").read_text()) for r in runs], statistics=statistics,
            rounds=rounds, context={"baseline_gap": baseline_gap(out, arm=BASELINE, seeds=cfg.seeds)},
            seconds=time.perf_counter() - t_start)
        atomic_json(out / "experiment.json", result.to_dict())
        result.runs = plan_runs(out, arms, cfg.seeds, fp)
        return result


def _statistics(out: Path, arms, cfg: ExperimentConfig, data: PreparedData, say):
    """Step "statistics": the seeds of every arm pooled on the test rows all models scored, and each
    arm judged against the baseline."""
    from fairskin.audits.classifier import default_criteria
    from fairskin.experiment._stats import arm_statistics

    test_frame, scores, n_unscored = pooled_scores(out, arms, cfg.seeds, data.test_frame, say)
    level = "type" if (test_frame["fst_type"] > 0).all() else "group"
    criteria = default_criteria(level, min_gain=cfg.min_gain, max_drop=cfg.max_drop)
    stats = arm_statistics(test_frame, scores, baseline=BASELINE, criteria=criteria, threshold=cfg.threshold,
                           n_boot=cfg.n_boot, seed=cfg.split_seed, families={a: arm_family(a) for a in scores})
    return test_frame, stats, criteria, n_unscored


def _summary(data: PreparedData, test_frame, n_unscored: int) -> DataSummary:
    return DataSummary(
        real=str(data.real), root=data.train.attrs.get("root"), test=data.test_source,
        n_train=int((data.train["split"] == "train").sum()), n_val=int((data.train["split"] == "val").sum()),
        n_test=len(test_frame), n_test_unscored=n_unscored, train_by_group=group_counts(data.train_split),
        test_by_group=group_counts(test_frame, y=test_frame["label"].to_numpy(), g=test_frame["fst_group"].to_numpy()),
        test_skin_types=data.test_skin_types)

