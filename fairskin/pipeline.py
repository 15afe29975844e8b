"""The whole loop on the built-in demo data: the README's first command runs this.

demo data -> label (ITA -> FST) -> balance (generate V-VI, ITA gate) -> synthetic-image audit
-> experiment (classifier on real vs real + synthetic, audited per skin type) -> HTML reports, and
``index.html``, which answers both questions first and links every report.

The held-out test set is a separate phantom set (``out/test-data``: every skin type equally often,
40% malignant, so the dark-skin groups can be measured) that neither the generator nor the
classifier ever sees. The training data (``out/data``) is labelled; its training split (the one
the experiment trains the classifier on) is balanced, so the generator never sees the validation
images either.

Stages whose optional dependencies are missing are skipped with a message saying what to
install; nothing is faked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fairskin.data import DemoConfig, write_demo_dataset
from fairskin.errors import InputError
from fairskin.progress import Progress, heartbeat

__all__ = ["ARM_NAMES", "DEMO_TRAIN_STEPS", "DEMO_WORKERS", "DemoRun", "audit_arms", "demo_context", "heartbeat",
           "run_demo"]

#: the demo generator's UNet steps: a step count, not minutes, so the demo trains the same model and
#: reports the same figures on any machine however busy (2,500 steps took 8-9 minutes on 2 idle cores)
DEMO_TRAIN_STEPS = 2500
#: processes that label the demo's images (``fairskin demo --workers``)
DEMO_WORKERS = 2


@dataclass
class DemoRun:
    out: Path
    data: Path
    test_data: Path | None = None
    steps: list[tuple[str, str]] = field(default_factory=list)  # (stage, what it wrote / why skipped)


def run_demo(out: str | Path, *, n: int = DemoConfig.n, n_test: int | None = None, size: int = DemoConfig.size,
             seed: int = DemoConfig.seed, workers: int = DEMO_WORKERS, train_minutes: float | None = None,
             train_steps: int | None = DEMO_TRAIN_STEPS,
             experiment_seeds: int = 3, overwrite: bool = False, progress: Progress | None = None, log=print,
             beat: float | None = 30.0) -> DemoRun:
    """Run every available stage on phantom data written to ``out/data``, with a separate held-out
    test set of ``n_test`` phantoms (default ``n // 2``) in ``out/test-data``.

    The generator's UNet trains for ``train_steps`` (default :data:`DEMO_TRAIN_STEPS`), or
    ``train_minutes`` if given, whichever ends first; a step count alone (the default) trains the
    same model on any machine however busy, which a minute budget does not. Every ``beat``
    seconds without a line of its own the demo logs which stage is still running (a log file or CI
    shows it is alive); ``beat=None`` turns that off. ``progress`` (:mod:`fairskin.progress`) sees
    the counts of the labelling and the synthetic-image audit; ``log`` the stage lines."""
    out = Path(out)
    n_test = max(n // 2, 6) if n_test is None else n_test
    if n_test < 6:
        raise InputError(f"n_test: expected at least 6 test images (one per skin type), got {n_test}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out} is not empty; pass overwrite=True to reuse it or choose another directory")
    with heartbeat(log, beat) as say:
        return _run_demo(out, n=n, n_test=n_test, size=size, seed=seed, workers=workers, train_minutes=train_minutes,
                         train_steps=train_steps, experiment_seeds=experiment_seeds, progress=progress, log=say)


def _run_demo(out: Path, *, n, n_test, size, seed, workers, train_minutes, train_steps, experiment_seeds, progress,
              log) -> DemoRun:
    """The stages of :func:`run_demo`, in order, after its checks."""
    out.mkdir(parents=True, exist_ok=True)
    data, test_data = out / "data", out / "test-data"
    run = DemoRun(out=out, data=data, test_data=test_data)

    log(f"[1] phantom demo data: {n} images of known skin type -> {data}; a separate held-out test set of "
        f"{n_test} (every type equally often) -> {test_data}")
    write_demo_dataset(data, DemoConfig(n=n, size=size, seed=seed), overwrite=True)
    write_demo_dataset(test_data, DemoConfig(n=n_test, size=size, seed=seed + 1, fst_weights=(1.0,) * 6,
                                             malignant_rate=(0.4,) * 6), overwrite=True)
    run.steps.append(("demo-data", str(data)))
    run.steps.append(("demo test data", str(test_data)))

    from fairskin.label import label_dataset

    log("[2] label: ITA of healthy skin -> Fitzpatrick type")
    labels = out / "labels.csv"
    res = label_dataset(data, out=labels, workers=workers, json_path=out / "labels.json", overwrite=True,
                        progress=progress)
    t = res.summary["truth"]
    log(f"    {res.summary['counts']['labelled']}/{n} labelled; against the known answer: ITA within 3 deg "
        f"{t['ita_within_3']:.1%}, exact type {t['fst_exact']:.1%}")
    run.steps.append(("label", str(labels)))
    try:
        from fairskin.reports import render_label_report
    except ImportError as exc:
        log(f"    (no HTML report: {exc})")
    else:
        render_label_report(res.summary, out / "label-report.html", image_root=data)
        run.steps.append(("label report", str(out / "label-report.html")))

    try:
        from fairskin.balance import balance
        from fairskin.conditioning import TrainConfig
    except ImportError as exc:
        log(f"[3] balance skipped: {exc}. Install the generation extra: pip install 'fairskin[generate]'")
        return run
    # the classifier's training split, as the experiment (step 5) will split the data: the generator
    # trains on it alone and the balance targets it, so neither sees the validation images
    from fairskin.experiment import ExperimentConfig
    from fairskin.experiment import split_real

    xcfg = ExperimentConfig()
    real, split = split_real(data, xcfg, test_given=True)
    train_rows = real[split == "train"].copy()
    train_rows.attrs = dict(real.attrs)
    log(f"[3] balance the classifier's training split ({len(train_rows)} of {len(real)} images; the other "
        f"{len(real) - len(train_rows)} validate it): train the built-in tiny Stable Diffusion on them "
        f"({_budget(train_minutes, train_steps)}), generate FST V-VI images to a 25% share, ITA gate")
    bal = balance(train_rows, out=out / "balanced", labels=labels, target="fst56=0.25",
                  train_config=TrainConfig(**({"steps": train_steps} if train_steps else {}), max_minutes=train_minutes),
                  json_path=out / "balance.json",
                  html=out / "balance-report.html", overwrite=True)
    for sh in bal.summary.get("shares", []):
        log(f"    {sh.get('set', sh)}: target {sh.get('target', float('nan')):.3f}, achieved {sh.get('achieved', float('nan')):.3f}")
    log(f"    balanced manifest: {bal.manifest}")
    run.steps.append(("balance", str(bal.manifest)))
    run.steps.append(("balance report", str(out / "balance-report.html")))
    if not bal.summary.get("counts", {}).get("synthetic_accepted"):
        log("[4-5] synthetic audit and experiment skipped: no generated image passed the ITA gate (the generator "
            f"trained {_budget(train_minutes, train_steps)}; the balance report lists every rejected attempt)")
        return run

    from fairskin.audits.synthetic import audit_synthetic
    from fairskin.reports import render_synthetic_report

    log("[4] synthetic-image audit (ITA fidelity, diversity, memorisation; features: the weight-free "
        "colour-texture extractor, since no Inception weights ship offline)")
    syn = audit_synthetic(bal.manifest, real=data, extractor="colour-texture", cache_dir=out / "feature-cache",
                          progress=progress)
    paths = syn.write(out / "synthetic-audit")
    render_synthetic_report(syn.data, out / "synthetic-report.html")
    run.steps.append(("synthetic audit", str(paths["json"])))
    run.steps.append(("synthetic report", str(out / "synthetic-report.html")))

    from fairskin.experiment import DemoSetup, run_experiment

    log("[5] experiment: train a small classifier on real images, and on real + the balanced synthetic images; "
        f"audit both per skin type on the held-out test set ({test_data}), which neither the generator nor the "
        "classifier saw; the validation split that picks the classifier's epoch is real images only")
    small = DemoSetup()  # the experiment's own CPU settings: a tiny model at low resolution
    exp = run_experiment(data, out=out / "experiment", synthetic=bal.manifest, test=test_data, arms=["real", "mixed"],
                         seeds=experiment_seeds, arch=small.arch, image_size=small.image_size, epochs=small.epochs,
                         patience=small.patience, batch_size=small.batch_size, n_boot=small.n_boot,
                         val_fraction=xcfg.val_fraction, split_seed=xcfg.split_seed, overwrite=True)
    used = pd.read_csv(out / "experiment" / "splits.csv", dtype={"image": str})
    if set(used.loc[used["split"] == "train", "image"]) != set(train_rows["image"].astype(str)):
        raise RuntimeError("demo: the experiment split the data differently from the balance step; the generator "
                           "may have seen validation images (a fairskin bug: please report it)")
    for c in exp.doc.get("statistics", {}).get("comparisons", []):
        log(f"    {c['candidate']} vs {c['baseline']}: {c.get('verdict_title') or c['verdict']} ({c['verdict_reason']})")
    run.steps.append(("experiment", str(out / "experiment" / "experiment.json")))
    try:
        from fairskin.reports import render_audit_report, render_demo_index, render_experiment_report
    except ImportError:
        return run
    log("[6] reports: the classifier audit of both arms, the experiment report, and index.html answering both "
        "questions")
    doc = {**exp.doc, "context": demo_context(out / "experiment", exp.doc, balance=bal.summary, synthetic=syn.data)}
    audit = audit_arms(out / "experiment", exp.doc, n_boot=small.n_boot)
    render_audit_report(audit, out / "audit-report.html")
    run.steps.append(("audit report", str(out / "audit-report.html")))
    render_experiment_report(doc, out / "experiment-report.html")
    run.steps.append(("experiment report", str(out / "experiment-report.html")))
    render_demo_index(doc, out / "index.html", audit=audit, reports=[(p, Path(w).name) for p, w in run.steps
                                                                       if str(w).endswith(".html")])
    run.steps.append(("index", str(out / "index.html")))
    return run


#: what each arm of the demo's experiment is called in the audit report
ARM_NAMES = {"real": "real images only", "mixed": "real + synthetic"}


def audit_arms(exp_dir: Path, doc: dict, *, n_boot: int, seed: int = 0) -> dict:
    """The classifier audit (``fairskin.audit/2``) of seed ``seed``'s model of every arm, on the
    held-out test set, compared with the baseline arm's in one paired bootstrap: what ``fairskin
    audit`` would say of the two models, rendered as the demo's audit report."""
    from fairskin.audits.classifier import audit_predictions, compare_audits

    arms = list((doc.get("statistics") or {}).get("arms") or [])
    base = doc.get("baseline") or arms[0]
    arms = [base] + [a for a in arms if a != base]
    audits = []
    for arm in arms:
        pred = pd.read_csv(exp_dir / "runs" / arm / f"seed-{seed}" / "predictions.csv", dtype={"image": str})
        audits.append(audit_predictions(pred[pred["score"].notna()], n_boot=n_boot, seed=0,
                                        name=f"{ARM_NAMES.get(arm, arm)} (seed {seed})"))
    return (compare_audits(audits) if len(audits) > 1 else audits[0]).to_dict()


def demo_context(exp_dir: Path, doc: dict, *, balance: dict, synthetic: dict) -> dict:
    """The experiment report's ``context`` block (docs/report-inputs.md): the baseline arm's gap
    test from each seed's audit (:func:`fairskin.experiment.baseline_gap`, as experiment.json
    holds it), the synthetic-image audit's mode-collapse flags, and what made the synthetic images
    (this demo's balance step)."""
    from fairskin.experiment import baseline_gap

    gap = baseline_gap(exp_dir, arm=doc.get("baseline") or "real",
                       seeds=int((doc.get("config") or {}).get("seeds") or 0))
    cells = synthetic.get("cells") or []
    collapsed = [c for c in cells if c.get("mode_collapse")]
    counts = balance.get("counts") or {}
    return {"baseline_gap": gap,
            "synthetic_audit": {"cells": len(cells), "mode_collapse": len(collapsed), "report": "synthetic-report.html",
                                "mode_collapse_cells": [_cell_name(c) for c in collapsed]},
            "synthetic_origin": {"made_by": "this demo's balance step (the built-in tiny Stable Diffusion, trained on "
                                            "the classifier's training split)",
                                 "generated": counts.get("attempts"), "accepted": counts.get("synthetic_accepted"),
                                 "rejected": counts.get("rejected"), "report": "balance-report.html"}}


def _cell_name(c: dict) -> str:
    from fairskin.skintone import ROMAN

    f = str(c.get("fst"))
    t = ROMAN[int(f) - 1] if f.isdigit() and 1 <= int(f) <= 6 else f
    return f"{t} / {c['diagnosis']}" if c.get("diagnosis") else str(t)


def _budget(minutes: float | None, steps: int | None) -> str:
    """The generator's training budget, as the log states it."""
    parts = ([f"~{minutes:g} min on 2 CPU cores"] if minutes is not None else []) + \
        ([f"{steps} UNet steps"] if steps else [])
    return " or ".join(parts) or "the default UNet steps"
