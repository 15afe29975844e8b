"""Tiny models trained a few steps on a small phantom set, shared by the conditioning and balance tests."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from fairskin.conditioning import TrainConfig  # noqa: E402

#: the fastest settings that still run every part of training
TINY_TRAIN = TrainConfig(steps=2, vae_steps=2, batch_size=4, seed=0)


def write_labels(root: Path, path: Path) -> Path:
    """labels.csv as fairskin label writes it (image relative to the root, fst, ita, status)."""
    from fairskin.data import read_dataset
    from fairskin.label import estimate_image

    df = read_dataset(root)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["image", "ita", "fst", "confidence", "status", "reason", "scale"])
        w.writeheader()
        for rel in df["image"]:
            e = estimate_image(root / rel)
            w.writerow({"image": rel, "ita": e.ita, "fst": e.fst or "", "confidence": e.confidence,
                        "status": e.status, "reason": e.reason, "scale": e.scale})
    return path


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """40 phantoms at 64 px (every type present)."""
    from fairskin.data import DemoConfig, write_demo_dataset

    root = tmp_path_factory.mktemp("small-demo")
    write_demo_dataset(root, DemoConfig(n=40, size=64, seed=7, fst_weights=(1, 1, 1, 1, 1, 1)))
    return root


@pytest.fixture(scope="session")
def small_labels(small_demo, tmp_path_factory) -> Path:
    return write_labels(small_demo, tmp_path_factory.mktemp("labels") / "labels.csv")


@pytest.fixture(scope="session")
def tiny_conditioning(small_demo, small_labels, tmp_path_factory) -> Path:
    from fairskin.conditioning import train_conditioning

    out = tmp_path_factory.mktemp("cond")
    train_conditioning(small_demo, out=out, labels=small_labels, config=TINY_TRAIN)
    return out
