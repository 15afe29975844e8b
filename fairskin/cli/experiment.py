"""``fairskin experiment``: train real-only and augmented arms with several seeds, audit, decide."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from fairskin.cli import app, console
from fairskin.cli._common import CONFIG_HELP, QUIET_HELP, progress_view
from fairskin.experiment import ARMS, DemoSetup, ExperimentConfig

_C = ExperimentConfig()


def _ci(m) -> str:
    if m is None or m.get("value") is None:
        return "n/a"
    if m.get("ci_low") is None:
        return f"{m['value']:.2f}"
    return f"{m['value']:.2f} ({m['ci_low']:.2f}-{m['ci_high']:.2f})"


@app.command("experiment")
def experiment(
    real: Optional[Path] = typer.Option(None, "--real", help="Real training data (directory or manifest CSV). With "
                                        "no data option at all, the built-in phantom demo runs."),
    synthetic: Optional[Path] = typer.Option(None, "--synthetic", help="Synthetic images: fairskin balance's "
                                             "manifest.csv."),
    test: Optional[Path] = typer.Option(None, "--test", help="Held-out test data (default: held out from --real "
                                        "by patient)."),
    test_labels: Optional[Path] = typer.Option(None, "--test-labels", help="labels.csv of `fairskin label` for the "
                                               "test set: its skin types estimated from ITA (for test data without "
                                               "human Fitzpatrick labels)."),
    test_fst_source: Optional[str] = typer.Option(None, "--test-fst-source", help="The test set's skin types: auto "
                                                  "(estimated with --test-labels, else human), human or estimated "
                                                  f"(default {_C.test_fst_source})."),
    conditioning: Optional[Path] = typer.Option(None, "--conditioning", help="Skin-tone conditioning (fairskin "
                                                "train-conditioning) to generate synthetic images here."),
    generator_name: Optional[str] = typer.Option(None, "--generator", help="Generator of the synthetic images made "
                                                 "here: stable-diffusion (default, with --conditioning), ddpm (with "
                                                 "--generator-dir), phantom, or your own module:Class "
                                                 "(docs/generation.md)."),
    generator_dir: Optional[Path] = typer.Option(None, "--generator-dir", help="Trained folder of a generator other "
                                                 "than stable-diffusion (ddpm: fairskin train-ddpm)."),
    out: Path = typer.Option(Path("fairskin-experiment"), "--out", help="Output folder (resumable)."),
    arms: Optional[str] = typer.Option(None, "--arms", help=f"Comma-separated arms or 'all': {', '.join(ARMS)} "
                                       f"(default: {','.join(_C.arms)}; demo: real,mixed)."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help=f"Seeds per arm (default {_C.seeds})."),
    arch: Optional[str] = typer.Option(None, "--arch", help=f"timm architecture (default {_C.arch})."),
    pretrained: Optional[str] = typer.Option(None, "--pretrained", help="Local weights to start every run from."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help=f"Side of the crop the classifier sees (default {_C.image_size})."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help=f"Training epochs per run (default {_C.epochs})."),
    pretrain_epochs: Optional[int] = typer.Option(None, "--pretrain-epochs", help="Synthetic-only epochs of the pretrain_finetune arm (default: --epochs)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=f"Images per training step (default {_C.batch_size})."),
    lr: Optional[float] = typer.Option(None, "--lr", help=f"Learning rate (default {_C.lr:g})."),
    patience: Optional[int] = typer.Option(None, "--patience", help=f"Epochs without a better validation AUROC before stopping (default {_C.patience})."),
    balance: Optional[str] = typer.Option(None, "--balance", help="class_weights, sampler or none."),
    real_weight: Optional[float] = typer.Option(None, "--real-weight", help="mixed_weighted arm: weight of a real "
                                                f"image (default {_C.real_weight})."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help=f"Share of patients held out for validation (default {_C.val_fraction})."),
    test_fraction: Optional[float] = typer.Option(None, "--test-fraction", help=f"Without --test: share of patients held out as the test set (default {_C.test_fraction})."),
    split_seed: Optional[int] = typer.Option(None, "--split-seed", help=f"Seed of the patient splits (default {_C.split_seed})."),
    n_boot: Optional[int] = typer.Option(None, "--n-boot", help=f"Bootstrap resamples of the statistics (default {_C.n_boot})."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help=f"Operating threshold of every model (default {_C.threshold})."),
    min_gain: Optional[float] = typer.Option(None, "--min-gain", help="Verdict: relative AUROC gain needed on FST "
                                             f"V-VI (default {_C.min_gain})."),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", help="Verdict: largest relative AUROC drop allowed "
                                             f"on FST I-III (default {_C.max_drop})."),
    rounds: Optional[int] = typer.Option(None, "--rounds", help="Hard-case loop rounds (0: none)."),
    per_round: Optional[int] = typer.Option(None, "--per-round", help="Images generated per hard-case round."),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help=f"Image-loading worker processes (default {_C.num_workers})."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (CUDA, MPS, else CPU), cpu, cuda or mps."),
    hair_removal: Optional[bool] = typer.Option(None, "--hair-removal/--no-hair-removal", help="Also run every arm "
                                                "with hair inpainted (DullRazor) in its training and test images "
                                                "(arm 'ARM+hair_removal'), compared side by side."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP + " Its \\[experiment] table may also "
                                          "name the data: real, synthetic, test, test_labels, conditioning."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs (and which are finished) and stop."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo runs made with other settings; replace an "
                                   "existing --html report."),
    html: Optional[Path] = typer.Option(None, "--html", help="HTML report (plus its JSON beside it)."),
    demo_generator: str = typer.Option(DemoSetup.generator, "--demo-generator", help="Built-in demo only: tiny-sd (train the "
                                       "built-in tiny Stable Diffusion on the training split, a few CPU minutes), ddpm "
                                       "(train the class-conditional DDPM likewise) or phantom (the demo's own "
                                       "renderer: a perfect-generator stand-in, a ceiling)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Does synthetic augmentation close the skin-tone gap? Train, audit on held-out data, decide."""
    options = dict(locals())
    from dataclasses import fields, replace

    from fairskin.experiment import ExperimentInputs, resolve_settings, run_experiment
    from fairskin.outputs import claim_outputs

    if demo_generator not in ("tiny-sd", "ddpm", "phantom"):
        raise typer.BadParameter(f"expected tiny-sd, ddpm or phantom, got {demo_generator!r}",
                                 param_hint="--demo-generator")
    demo = replace(DemoSetup(), generator=demo_generator)
    settings = {f.name: options[f.name] for f in fields(ExperimentConfig)}  # every setting is an option
    settings["arms"] = arms.split(",") if arms else None
    inputs, cfg = resolve_settings(ExperimentInputs(real, synthetic, test, test_labels, conditioning, generator_name,
                                                    generator_dir), config=config,
                                   demo=demo, **settings)
    reports = {}
    if html is not None:
        from fairskin.reports import report_outputs

        reports = report_outputs(html)
    with claim_outputs({} if dry_run else reports, overwrite=overwrite), \
            progress_view(quiet, "experiment") as view:  # outputs checked before anything runs
        res = run_experiment(inputs.real, out=out, synthetic=inputs.synthetic, test=inputs.test,
                             test_labels=inputs.test_labels, conditioning=inputs.conditioning,
                             generator_name=inputs.generator, generator_dir=inputs.generator_dir, config=cfg,
                             dry_run=dry_run, overwrite=overwrite, demo=demo,
                             progress=view)
        _report(res, html)


def _report(res, html) -> None:
    if res.dry_run:
        n = sum(r.status == "todo" for r in res.runs)
        console.print(f"{len(res.runs)} runs, {n} to do (dry run: nothing trained)")
        return
    stats = res.statistics
    if res.data.caution:  # the run's progress said where the test set's skin types came from
        console.print(f"[bold yellow]caution:[/] {res.data.caution}", highlight=False)
    if res.synthetic.note:
        console.print(f"[bold yellow]note:[/] {res.synthetic.note}")
    t = Table(title=f"AUROC per skin-type group, mean of {res.config.seeds} seeds (95% CI: {stats['ci_method']})",
              title_justify="left")
    t.add_column("arm")
    groups = [g["group"] for g in next(iter(stats["arms"].values()))["groups"] if g["level"] != "type"]
    for g in groups:
        t.add_column(g)
    t.add_column("EOD")
    for arm, a in stats["arms"].items():
        by = {g["group"]: g for g in a["groups"]}
        t.add_row(arm, *[_ci(by[g]["metrics"]["auroc"]) for g in groups], _ci(a["equalized_odds_difference"]))
    console.print(t)
    st = Table(title="Sensitivity per skin-type group at threshold "
               f"{stats['threshold']} (mean of seeds, 95% CI)", title_justify="left")
    st.add_column("arm")
    for g in groups:
        st.add_column(g)
    for arm, a in stats["arms"].items():
        by = {g["group"]: g for g in a["groups"]}
        st.add_row(arm, *[_ci(by[g]["metrics"]["sensitivity"]) for g in groups])
    console.print(st)
    for c in stats["comparisons"]:
        console.print(f"[bold]{c['candidate']}[/] vs {c['baseline']}: [bold]{c.get('verdict_title') or c['verdict']}[/] "
                      f"({c['verdict_reason']})")
        for cr in c["criteria"]:
            if cr["observed"] is None:
                console.print(f"  {cr['description']}: undefined")
                continue
            console.print(f"  {cr['description']}: observed {cr['observed']:+.1%} (95% CI {cr['ci_low']:+.1%} to "
                          f"{cr['ci_high']:+.1%}) -> {'met' if cr['passed'] else 'not met'}"
                          f"{'' if cr['confident'] else ' (not conclusive)'}")
    if res.rounds:
        rt = Table(title=f"Hard-case loop ({res.rounds['generator']}): test AUROC, targeted vs untargeted "
                   "generation of the same count (one seed)", title_justify="left")
        for col in ("round", "hard cases", "new images", "V-VI targeted", "V-VI untargeted", "all targeted",
                    "all untargeted"):
            rt.add_column(col)
        for r in res.rounds["rounds"]:
            t, u = r["test"]["targeted"], r["test"]["untargeted"]
            rt.add_row(str(r["round"]), str(r["hard_cases"]), f"{r['targeted_accepted']}/{r['untargeted_accepted']}",
                       _ci(t.get("V-VI")), _ci(u.get("V-VI")), _ci(t.get("all")), _ci(u.get("all")))
        console.print(rt)
        console.print(f"[dim]{res.rounds['caveat']}[/]")
    if html is not None:
        import fairskin.reports as reports

        reports.render_experiment_report(res.to_dict(), html)
        console.print(f"report: {html}")
    console.print(f"results: {res.out / 'experiment.json'} ({res.seconds:.0f} s)")
