"""``fairskin train-classifier``: train a timm classifier that `fairskin audit` loads as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fairskin.cli import app, console
from fairskin.cli._common import QUIET_HELP, progress_view
from fairskin.train import ARCHS, TINY_ARCH, TrainConfig

_C = TrainConfig()


@app.command("train-classifier")
def train_classifier(
    manifest: Path = typer.Argument(..., help="Data set directory or manifest CSV (a 'split' column train/val/test "
                                    "is used as given; rows with synthetic=True are training images only)."),
    out: Path = typer.Option(..., "--out", help="Model file: .pt/.pth (state dict) or .safetensors; metadata is "
                             "written beside it as OUT.json."),
    arch: str = typer.Option(_C.arch, "--arch", help=f"timm architecture ({', '.join(ARCHS)}; {TINY_ARCH} for tests)."),
    synthetic: Optional[Path] = typer.Option(None, "--synthetic", help="Manifest CSV of synthetic training images."),
    test: Optional[Path] = typer.Option(None, "--test", help="Held-out test set (checked to stay out of training and "
                                        "model selection; never used for either)."),
    pretrained: Optional[Path] = typer.Option(None, "--pretrained", help="Local weights file to start from (state "
                                              "dict or safetensors); otherwise from scratch."),
    epochs: int = typer.Option(_C.epochs, "--epochs", min=1, help="Most training epochs (early stopping may end sooner)."),
    batch_size: int = typer.Option(_C.batch_size, "--batch-size", min=1, help="Images per training step."),
    lr: float = typer.Option(_C.lr, "--lr", help="Learning rate (AdamW)."),
    weight_decay: float = typer.Option(_C.weight_decay, "--weight-decay", help="AdamW weight decay."),
    image_size: int = typer.Option(_C.image_size, "--image-size", help="Side of the centre crop the model sees."),
    resize: Optional[int] = typer.Option(_C.resize, "--resize", help="Shorter side before cropping (default "
                                         "image size x 8/7)."),
    balance: str = typer.Option(_C.balance, "--balance", help="class_weights, sampler or none."),
    real_weight: float = typer.Option(_C.real_weight, "--real-weight", help="Weight of a real image relative to a "
                                      "synthetic one."),
    train_on: str = typer.Option(_C.train_on, "--train-on", help="all, real or synthetic."),
    val_fraction: float = typer.Option(_C.val_fraction, "--val-fraction", help="Share of --group-by units held out for validation."),
    group_by: str = typer.Option(_C.group_by, "--group-by", help="Split unit: auto (patient_id, else lesion_id), "
                                 "patient_id, lesion_id or image."),
    patience: int = typer.Option(_C.patience, "--patience", min=1, help="Epochs without a better validation AUROC "
                                 "before stopping."),
    num_workers: int = typer.Option(_C.num_workers, "--num-workers", min=0, help="Image-loading worker processes."),
    device: str = typer.Option(_C.device, "--device", help="auto (CUDA, MPS, else CPU), cpu, cuda or mps."),
    amp: bool = typer.Option(_C.amp, "--amp/--no-amp", help="Mixed precision + channels-last (GPU only)."),
    hair_removal: bool = typer.Option(_C.hair_removal, "--hair-removal", help="Inpaint hair (DullRazor) in every "
                                      "image; saved with the model, so fairskin audit does the same."),
    seed: int = typer.Option(_C.seed, "--seed", help="Seed of the weights' initialisation and the batch order."),
    split_seed: int = typer.Option(_C.split_seed, "--split-seed", help="Seed of the train / validation split."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT (and OUT.json); without it "
                                   "they are never replaced."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Train a malignant-vs-benign classifier with early stopping on a patient-level validation split."""
    from fairskin.train import train_classifier as run

    from fairskin.outputs import claim_outputs

    with claim_outputs({"--out": out, "--out (its metadata)": out.with_name(out.name + ".json")},
                       overwrite=overwrite), progress_view(quiet, "train-classifier") as view:  # checked before training
        res = run(manifest, out=out, arch=arch, synthetic=synthetic, test=test, pretrained=pretrained, epochs=epochs,
                  batch_size=batch_size, lr=lr, weight_decay=weight_decay, image_size=image_size, resize=resize,
                  balance=balance, real_weight=real_weight, train_on=train_on, val_fraction=val_fraction,
                  group_by=group_by, patience=patience, num_workers=num_workers, device=device, amp=amp,
                  hair_removal=hair_removal, seed=seed, split_seed=split_seed, progress=view)
    auc = "n/a" if res.best_val_auroc is None else f"{res.best_val_auroc:.3f}"
    console.print(f"saved {res.model_path} (best epoch {res.best_epoch}, validation AUROC {auc}) and "
                  f"{res.metadata_path}; audit it with: fairskin audit {res.model_path} --data TEST_DATA")
