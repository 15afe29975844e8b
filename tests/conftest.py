"""Shared fixtures. Nothing here touches the network: the hub is forced offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TORCH_HOME", os.path.join(os.path.dirname(__file__), ".torch-home-unused"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAD_SAMPLE = SHARED_DATA / "pad-ufes-20-sample"


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """A small phantom data set in DDI's layout (120 images, 128 px), with known answers."""
    from fairskin.data import DemoConfig, write_demo_dataset

    root = tmp_path_factory.mktemp("demo")
    write_demo_dataset(root, DemoConfig(n=120, size=128, seed=2024))
    return root


@pytest.fixture(scope="session")
def pad_sample() -> Path:
    if not PAD_SAMPLE.is_dir():
        pytest.skip(f"real PAD-UFES-20 sample not found at {PAD_SAMPLE}")
    return PAD_SAMPLE


# -- tiny generation fixtures, shared by tests/conditioning, tests/balance and tests/experiment ----

@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """40 phantoms at 64 px (every type present)."""
    from fairskin.data import DemoConfig, write_demo_dataset

    root = tmp_path_factory.mktemp("small-demo")
    write_demo_dataset(root, DemoConfig(n=40, size=64, seed=7, fst_weights=(1, 1, 1, 1, 1, 1)))
    return root


@pytest.fixture(scope="session")
def small_labels(small_demo, tmp_path_factory) -> Path:
    """labels.csv of small_demo, written by fairskin label itself."""
    from fairskin.label import label_dataset

    out = tmp_path_factory.mktemp("labels") / "labels.csv"
    label_dataset(small_demo, out=out, progress=False, n_boot=0)
    return out


@pytest.fixture(scope="session")
def tiny_conditioning(small_demo, small_labels, tmp_path_factory) -> Path:
    """A tiny Stable Diffusion with skin-type conditioning, trained 2 steps (every part of training runs)."""
    pytest.importorskip("diffusers")
    pytest.importorskip("peft")
    from fairskin.conditioning import TrainConfig, train_conditioning

    out = tmp_path_factory.mktemp("cond")
    train_conditioning(small_demo, out=out, labels=small_labels,
                       config=TrainConfig(steps=2, vae_steps=2, batch_size=4, seed=0))
    return out


@pytest.fixture(scope="session")
def tiny_ddpm(small_demo, small_labels, tmp_path_factory) -> Path:
    """A class-conditional DDPM at 16 px, trained 2 steps on small_demo (every part of training runs)."""
    pytest.importorskip("diffusers")
    from fairskin.conditioning import DdpmTrainConfig, train_ddpm

    out = tmp_path_factory.mktemp("ddpm")
    train_ddpm(small_demo, out=out, labels=small_labels,
               config=DdpmTrainConfig(resolution=16, channels=(16, 32), steps=2, batch_size=4, seed=0))
    return out
