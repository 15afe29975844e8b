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
