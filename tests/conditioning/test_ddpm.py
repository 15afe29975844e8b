"""The class-conditional DDPM backend: trained from scratch, saved, reloaded, seeded."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from fairskin.conditioning import (  # noqa: E402
    GenerationRequest, SamplingConfig, create_generator, load_ddpm,
)
from fairskin.errors import InputError  # noqa: E402


def test_folder_holds_config_weights_and_class_table(tiny_ddpm, small_demo):
    from fairskin.data import read_dataset

    doc = json.loads((tiny_ddpm / "ddpm.json").read_text())
    diagnoses = sorted(read_dataset(small_demo)["diagnosis"].astype(str).unique())
    assert doc["diagnoses"] == diagnoses and doc["classes"] == 6 * len(diagnoses)
    assert doc["train"]["steps_done"] == 2 and doc["resolution"] == 16
    unet, sched, _, sha = load_ddpm(tiny_ddpm)
    assert unet.config.num_class_embeds == doc["classes"] + 1  # + "no class" for guidance
    assert type(sched).__name__ == "DDPMScheduler" and len(sha) == 64


def test_images_follow_their_seed_not_their_batch(tiny_ddpm):
    dx = json.loads((tiny_ddpm / "ddpm.json").read_text())["diagnoses"][0]
    reqs = [GenerationRequest(fst=5, diagnosis=dx), GenerationRequest(fst=6, diagnosis=dx),
            GenerationRequest(fst=5, diagnosis=dx)]
    one = create_generator("ddpm", tiny_ddpm, sampling=SamplingConfig(steps=3, batch_size=1), device="cpu")
    three = create_generator("ddpm", tiny_ddpm, sampling=SamplingConfig(steps=3, batch_size=3), device="cpu")
    a, b = one.generate(reqs, [7, 8, 7]), three.generate(reqs, [7, 8, 7])
    assert a[0].shape == (16, 16, 3) and a[0].dtype == np.uint8
    assert all(np.abs(x.astype(int) - y.astype(int)).max() <= 1 for x, y in zip(a, b))
    np.testing.assert_array_equal(a[0], a[2])  # same request, same seed
    assert np.abs(a[0].astype(int) - a[1].astype(int)).max() > 0


def test_class_index_is_type_by_diagnosis_and_unknown_cells_are_refused(tiny_ddpm):
    from fairskin.conditioning._ddpm import class_index

    dxs = ["a", "b", "c"]
    assert [class_index(t, d, dxs) for t in (1, 6) for d in dxs] == [0, 1, 2, 15, 16, 17]
    gen = create_generator("ddpm", tiny_ddpm, sampling=SamplingConfig(steps=2), device="cpu")
    with pytest.raises(InputError, match=re.escape("it cannot make 'psoriasis'")):
        gen.generate([GenerationRequest(fst=5, diagnosis="psoriasis")], [0])


def test_missing_files_and_modes_give_clear_errors(tiny_ddpm, tmp_path):
    with pytest.raises(InputError) as e:
        create_generator("ddpm", tmp_path / "nowhere")
    assert str(e.value) == (f"generator_dir={tmp_path / 'nowhere'}: no such folder; train one with `fairskin "
                            f"train-ddpm DATA --out {tmp_path / 'nowhere'}`")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_ddpm, broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(InputError) as e:
        create_generator("ddpm", broken)
    assert str(e.value) == (f"generator_dir={broken}: not a complete ddpm model folder (missing "
                            "unet/diffusion_pytorch_model.safetensors); fairskin train-ddpm writes ddpm.json, unet/ "
                            "and scheduler/")
    with pytest.raises(InputError, match="the ddpm generator supports text"):
        create_generator("ddpm", tiny_ddpm, sampling=SamplingConfig(mode="image"))
    with pytest.raises(InputError, match=re.escape("generator_dir: the ddpm generator needs a trained model folder")):
        create_generator("ddpm", None)


def test_cli_trains_and_refuses_to_train_over(small_demo, small_labels, tmp_path, capsys):
    from fairskin.cli import main

    out = tmp_path / "m"
    args = ["train-ddpm", str(small_demo), "--out", str(out), "--labels", str(small_labels), "--steps", "1",
            "--resolution", "16", "--batch-size", "2", "--device", "cpu"]
    assert main(args) == 0
    assert (out / "ddpm.json").is_file() and "--generator ddpm --generator-dir" in capsys.readouterr().out
    assert main(args) == 2
    assert "already holds a trained ddpm (ddpm.json); pass --overwrite" in " ".join(capsys.readouterr().err.split())
