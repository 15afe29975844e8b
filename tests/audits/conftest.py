"""Fixtures of the audit tests: torch-fidelity, the reference the feature-space metrics are compared
with, and a random-weights Inception file for plumbing tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def torch_fidelity():
    """torch-fidelity (the ``audit`` extra). Without it each comparison with it skips, naming the
    package, and fails under FAIRSKIN_CI=1; fairskin's own known-answer tests still run."""
    return pytest.importorskip("torch_fidelity", reason="torch-fidelity is not installed (pip install "
                               "'fairskin[audit]'): the comparisons with the reference implementation cannot run")


@pytest.fixture(scope="session")
def random_inception_weights(torch_fidelity, tmp_path_factory) -> Path:
    """PLUMBING ONLY: an inception-v3-compat state dict with random (seeded) weights, to check that
    the file named by --inception-weights / $FAIRSKIN_INCEPTION_WEIGHTS is what gets loaded and that
    fairskin's path equals torch-fidelity's; no number made with it is a FID."""
    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    path = tmp_path_factory.mktemp("inception") / "random-inception-plumbing-only.pth"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(net.state_dict(), path)
    return path
