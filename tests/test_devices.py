"""fairskin.devices.choose_device: the one rule every stage picks its torch device by."""

from __future__ import annotations

import pytest

from fairskin.devices import choose_device

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("asked", ["cpu", "cuda:1", "mps", "meta"])
def test_a_device_the_user_names_is_passed_on_unchanged(asked, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device(asked) == asked


@pytest.mark.parametrize("cuda, mps, want", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
@pytest.mark.parametrize("asked", ["auto", None])
def test_auto_takes_cuda_then_mps_then_the_cpu(asked, cuda, mps, want, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert choose_device(asked) == want


def test_the_audits_and_generation_use_the_same_rule():
    from fairskin.audits.classifier import choose_device as audit_choice
    from fairskin.audits.models import choose_device as model_choice

    assert audit_choice is choose_device and model_choice is choose_device
