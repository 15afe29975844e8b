"""``fairskin train-ddpm``: train the class-conditional DDPM (skin type x diagnosis) from scratch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fairskin.cli import app, console
from fairskin.cli._common import QUIET_HELP, progress_view
from fairskin.conditioning import DdpmTrainConfig
from fairskin.skintone import FST_TYPES

_T = DdpmTrainConfig()


@app.command("train-ddpm")
def train_ddpm(
    data: Path = typer.Argument(..., help="Data set directory (any format fairskin reads)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the model into (ddpm.json, unet/, scheduler/)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv from fairskin label (else human types, else estimated here)."),
    format: Optional[str] = typer.Option(None, "--format", help="Data set format (detected when omitted)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    resolution: int = typer.Option(_T.resolution, "--resolution", min=8, help="Image side in pixels (a multiple of 2 ** (levels - 1))."),
    steps: int = typer.Option(_T.steps, "--steps", min=1, help="Optimizer steps."),
    max_minutes: Optional[float] = typer.Option(_T.max_minutes, "--max-minutes", help="Stop training after this many minutes."),
    batch_size: int = typer.Option(_T.batch_size, "--batch-size", min=1, help="Images per optimizer step."),
    learning_rate: float = typer.Option(_T.learning_rate, "--lr", help="Learning rate (AdamW)."),
    class_dropout: float = typer.Option(_T.class_dropout, "--class-dropout", min=0.0, max=1.0, help="Share of training images shown as 'no class' (classifier-free guidance)."),
    seed: int = typer.Option(_T.seed, "--seed", help="Seed of the initialisation, batches and noise."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Train again into a folder that already holds a model."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Train a DDPM conditioned on skin type x diagnosis: fairskin balance --generator ddpm uses it.

    A diffusers UNet2DModel with one class embedding per cell, trained from scratch on DATA.
    """
    from fairskin.conditioning import train_ddpm as run
    from fairskin.errors import InputError
    from fairskin.outputs import claim_outputs

    config = DdpmTrainConfig(resolution=resolution, steps=steps, max_minutes=max_minutes, batch_size=batch_size,
                             learning_rate=learning_rate, class_dropout=class_dropout, seed=seed)
    if (out / "ddpm.json").is_file() and not overwrite:
        raise InputError(f"--out: {out} already holds a trained ddpm (ddpm.json); pass --overwrite to train again "
                         "into it, or choose another folder")
    with claim_outputs({"--out": out}, overwrite=True, kinds={"--out": "dir"}):  # one training per folder
        with progress_view(quiet, "train-ddpm") as view:
            result = run(data, out=out, labels=labels, config=config, device=device, format=format, progress=view)
    console.print(f"trained {result.steps} steps ({result.seconds_per_step:.3f} s/step, final loss "
                  f"{result.final_loss:.4f}) on {result.n_images} images; classes: {len(FST_TYPES)} types x "
                  f"{len(result.diagnoses)} diagnoses")
    console.print(f"ddpm: {result.path}  (use it with: fairskin balance DATA --generator ddpm --generator-dir "
                  f"{result.path})")
