"""``fairskin demo-data``: write the phantom demo data set."""

from __future__ import annotations

from pathlib import Path

import typer

from fairskin.cli import app, console
from fairskin.cli._common import progress_view
from fairskin.data import DemoConfig, write_demo_dataset
from fairskin.pipeline import DEMO_TRAIN_STEPS, DEMO_WORKERS

_D = DemoConfig()


@app.command("demo-data")
def demo_data(
    out_dir: Path = typer.Argument(..., help="Directory to write images/ and ddi_metadata.csv into."),
    n: int = typer.Option(_D.n, "--n", min=1, help="Number of images."),
    size: int = typer.Option(_D.size, "--size", min=32, help="Image side in pixels."),
    seed: int = typer.Option(_D.seed, "--seed", help="Random seed (the same seed gives the same images)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing demo data set in OUT_DIR."),
) -> None:
    """Write phantom skin images with a known skin type and ITA, in DDI's layout.

    Each image records its true Fitzpatrick type and ITA (columns fst_true, ita_true), so every
    stage of fairskin can be checked against a known answer.
    """
    cfg = DemoConfig(n=n, size=size, seed=seed)
    meta = write_demo_dataset(out_dir, cfg, overwrite=overwrite)
    console.print(f"wrote {n} phantom images to {out_dir / 'images'} and metadata to {meta}")


@app.command("demo")
def demo(
    out_dir: Path = typer.Argument(Path("demo-out"), help="Directory for the demo data, labels, manifests and reports."),
    n: int = typer.Option(_D.n, "--n", min=20, help="Number of phantom images to label, balance and train on."),
    n_test: int = typer.Option(None, "--n-test", min=6, show_default="n / 2",
                               help="Size of the separate held-out test set (every skin type equally often)."),
    workers: int = typer.Option(DEMO_WORKERS, "--workers", "-j", min=1, help="Worker processes for labelling."),
    train_steps: int = typer.Option(DEMO_TRAIN_STEPS, "--train-steps", min=1,
                                    help="UNet training steps of the demo's generator (a step count gives the same "
                                         "model on any machine; fewer steps: a faster demo whose generator passes the "
                                         "ITA gate less often)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Reuse a non-empty OUT_DIR."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, stage lines or heartbeat (the files "
                               "written are still listed)."),
) -> None:
    """Run the whole loop on built-in phantom data: label, balance, audit, reports.

    The classifier is audited on a separate phantom test set that the generator never sees.
    Open OUT_DIR/index.html first: it answers both questions and links every report.
    """
    from fairskin.pipeline import run_demo

    with progress_view(quiet, "demo", announce=False, every=None) as view:  # the demo's own heartbeat (beat)
        run = run_demo(out_dir, n=n, n_test=n_test, workers=workers, train_steps=train_steps, overwrite=overwrite,
                       progress=view, beat=None if quiet else 30.0,
                       log=(lambda *a, **k: None) if quiet else console.print)
    console.print("[bold]done.[/] wrote:")
    for stage, what in run.steps:
        console.print(f"  {stage:>14}: {what}")
