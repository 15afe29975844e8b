"""The experiment draws its generator from the registry and makes images through balance's loop."""

from __future__ import annotations

import json
import re

import pytest

from fairskin.errors import InputError


def test_experiment_generator_names_what_each_backend_needs(tmp_path):
    from fairskin.experiment import experiment_generator

    with pytest.raises(InputError, match=re.escape("synthetic: arms mixed need synthetic images: give synthetic=MANIFEST")):
        experiment_generator("stable-diffusion", conditioning=None, generator_dir=None, device="cpu", arms="mixed")
    with pytest.raises(InputError, match=re.escape("conditioning: belongs to the stable-diffusion generator; "
                                                   "generator='ddpm' takes generator_dir=DIR")):
        experiment_generator("ddpm", conditioning=tmp_path, generator_dir=None, device="cpu", arms="mixed")
    with pytest.raises(InputError, match=re.escape("generator_dir: the ddpm generator needs a trained folder "
                                                   "(fairskin train-ddpm DATA --out DIR)")):
        experiment_generator("ddpm", conditioning=None, generator_dir=None, device="cpu", arms="mixed")
    assert experiment_generator("phantom", conditioning=None, generator_dir=None, device="cpu",
                                arms="mixed").name == "phantom-renderer"


def test_ddpm_requests_go_through_the_gate_with_the_balance_schema(tiny_ddpm, tmp_path):
    pytest.importorskip("diffusers")
    from fairskin.data import MANIFEST_COLUMNS, SYNTHETIC_COLUMNS
    from fairskin.experiment import GenerationRequest, experiment_generator, generate_synthetic

    dx = json.loads((tiny_ddpm / "ddpm.json").read_text())["diagnoses"][0]
    gen = experiment_generator("ddpm", conditioning=None, generator_dir=tiny_ddpm, device="cpu", arms="mixed")
    reqs = [GenerationRequest(fst=k, diagnosis=dx, malignant=True, tag="t") for k in (1, 5, 6)]
    syn = generate_synthetic(reqs, generator=gen, out=tmp_path, root=tmp_path, max_attempts=2)
    assert list(syn.columns) == list(MANIFEST_COLUMNS) + list(SYNTHETIC_COLUMNS)
    assert syn.attrs["attempts"] == len(syn) + syn.attrs["rejected"]
    assert len(syn) + syn.attrs["failed"] == 3
    if len(syn):
        assert (syn["generator"] == "ddpm").all() and (syn["request"] == "t").all()
        from fairskin.balance import GenerateConfig

        tol = GenerateConfig().tolerance_for
        assert all(abs(m - r) <= tol(r) for m, r in zip(syn["fst_measured"], syn["fst_requested"]))
