"""Conditioning: prompts, tokens, saving in diffusers' formats, training options, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusers import StableDiffusionPipeline  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from fairskin.conditioning import (  # noqa: E402
    Conditioning, PromptFields, TrainConfig, build_prompt, build_tiny_components, labelled_manifest,
    train_conditioning,
)
from fairskin.conditioning._tiny import tiny_tokenizer  # noqa: E402
from fairskin.errors import InputError  # noqa: E402

TINY_TRAIN = TrainConfig(steps=2, vae_steps=2, batch_size=4, seed=0)
#: a smaller tiny model (2 levels, 32 px) for the tests whose claim does not depend on its size:
#: resume, EMA and bf16 are about what is saved and restored, not about what the model learns
SMALL = {"tiny_unet_channels": (8, 16), "tiny_vae_channels": (8, 16), "tiny_text_hidden": 16, "resolution": 32}


def test_prompt_from_structured_fields():
    assert build_prompt(PromptFields(diagnosis="basal-cell-carcinoma", fst=5)) == \
        "a dermoscopy photo of basal cell carcinoma on <fst-5> skin"
    p = build_prompt(PromptFields(diagnosis="melanoma", fst=6, style="clinical",
                                  attributes=(("border", "irregular"), ("colour", "dark brown"))))
    assert p == "a clinical photo of melanoma with dark brown colour and irregular border on <fst-6> skin"
    assert build_prompt(PromptFields()) == "a dermoscopy photo of a skin lesion on skin"
    with pytest.raises(InputError, match="Fitzpatrick type must be 1-6, got 7"):
        build_prompt(PromptFields(fst=7))
    with pytest.raises(InputError, match=r"prompt attributes \['shape'\] are not known"):
        build_prompt(PromptFields(fst=1, attributes=(("shape", "oval"),)))


def test_tiny_tokenizer_knows_prompt_words():
    tok = tiny_tokenizer()
    ids = tok(build_prompt(PromptFields(diagnosis="melanoma", fst=None))).input_ids
    words = tok.convert_ids_to_tokens(ids)
    assert words == ["<|startoftext|>", "a</w>", "dermoscopy</w>", "photo</w>", "of</w>", "melanoma</w>",
                     "on</w>", "skin</w>", "<|endoftext|>"]


def test_tiny_components_are_seeded():
    a = build_tiny_components()["unet"].conv_in.weight
    b = build_tiny_components()["unet"].conv_in.weight
    assert torch.equal(a, b)


def test_labels_csv_types_win_over_human(small_demo, small_labels):
    df = labelled_manifest(small_demo, labels=small_labels)
    assert df["fst"].notna().all()
    assert set(df["fst_source"]) == {"estimated (kinyanjui_fst)"}
    # the demo's true types: the estimator agrees on most phantoms
    import pandas as pd

    truth = pd.read_csv(small_demo / "ddi_metadata.csv")["fst_true"].to_numpy()
    assert np.mean(df["fst"].to_numpy(dtype=int) == truth) > 0.8


def test_saved_files_load_in_plain_diffusers(tiny_conditioning):
    cfg = json.loads((tiny_conditioning / "conditioning.json").read_text())
    assert cfg["schedule"] == {"prediction_type": "v_prediction", "zero_terminal_snr": True, "noise_offset": 0.5,
                               "timestep_spacing": "trailing"}
    pipe = StableDiffusionPipeline.from_pretrained(tiny_conditioning / "base")
    pipe.load_textual_inversion(str(tiny_conditioning / "tokens" / "fst-5.safetensors"))
    tid = pipe.tokenizer.convert_tokens_to_ids("<fst-5>")
    saved = load_file(str(tiny_conditioning / "tokens" / "fst-5.safetensors"))["<fst-5>"]
    assert torch.allclose(pipe.text_encoder.get_input_embeddings().weight[tid], saved)
    emb = load_file(str(tiny_conditioning / "fst_embedding.safetensors"))["weight"]
    assert emb.shape == (7, pipe.text_encoder.config.hidden_size)
    # and the plain pipeline generates with the token in its prompt
    img = pipe("a dermoscopy photo of melanoma on <fst-5> skin", num_inference_steps=2, height=64, width=64,
               generator=torch.Generator().manual_seed(0), output_type="np").images[0]
    assert img.shape == (64, 64, 3)


def test_conditioning_roundtrip_and_extra_token(tiny_conditioning):
    cond = Conditioning.load(tiny_conditioning)
    assert sorted(cond.token_embeddings) == [f"<fst-{k}>" for k in range(1, 7)]
    pipe = cond.attach(StableDiffusionPipeline.from_pretrained(cond.base_model))
    pos, neg = cond.encode(pipe, ["a photo"], [5], negative_prompt="", guidance=3.0)
    n = pipe.tokenizer.model_max_length
    assert pos.shape[1] == n + 1 and neg.shape[1] == n + 1  # one extra conditioning token
    assert torch.allclose(pos[0, -1], cond.fst_embedding.embedding.weight[4])
    assert torch.allclose(neg[0, -1], cond.fst_embedding.embedding.weight[6])  # the null row
    assert len(cond.sha256()) == 64


def test_lora_on_pretrained_base_loads_with_load_lora_weights(small_demo, small_labels, tmp_path):
    base = tmp_path / "sd"
    parts = build_tiny_components()
    StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(base)
    out = tmp_path / "cond"
    cfg = TrainConfig(steps=2, batch_size=4, lora_rank=4, learning_rate=1e-2)
    res = train_conditioning(small_demo, out=out, labels=small_labels, base_model=base, config=cfg)
    # a pretrained UNet keeps its prediction type; offset noise on because the UNet is tuned
    assert res.schedule == {"prediction_type": "epsilon", "zero_terminal_snr": False, "noise_offset": 0.05,
                            "timestep_spacing": "leading"}
    assert (out / "pytorch_lora_weights.safetensors").is_file()
    assert not (out / "base").exists()  # only what was learned is saved
    pipe = StableDiffusionPipeline.from_pretrained(base)
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    e = torch.randn(1, 5, 64, generator=torch.Generator().manual_seed(1))
    before = pipe.unet(x, 10, e).sample
    pipe.load_lora_weights(out)
    assert pipe.unet.peft_config  # adapters present
    after = pipe.unet(x, 10, e).sample
    assert not torch.allclose(before, after)


def test_resume_continues_exactly(small_demo, small_labels, tmp_path):
    cfg = TrainConfig(steps=4, vae_steps=2, batch_size=4, checkpoint_every=2, **SMALL)
    full = train_conditioning(small_demo, out=tmp_path / "a", labels=small_labels, config=cfg)
    assert (tmp_path / "a" / "checkpoints" / "step-000002" / "trainable.safetensors").is_file()
    # copy the checkpoint to a fresh folder and resume from it
    import shutil

    shutil.copytree(tmp_path / "a" / "checkpoints", tmp_path / "b" / "checkpoints")
    resumed = train_conditioning(small_demo, out=tmp_path / "b", labels=small_labels, config=cfg, resume="latest")
    assert resumed.steps == full.steps == 4
    a = load_file(str(tmp_path / "a" / "fst_embedding.safetensors"))["weight"]
    b = load_file(str(tmp_path / "b" / "fst_embedding.safetensors"))["weight"]
    assert torch.allclose(a, b, atol=1e-6)
    ua = load_file(str(tmp_path / "a" / "base" / "unet" / "diffusion_pytorch_model.safetensors"))
    ub = load_file(str(tmp_path / "b" / "base" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.allclose(ua[k], ub[k], atol=1e-6) for k in ua)
    # the minutes trained before the checkpoint count against --max-minutes after a resume:
    # a limit of half of them stops the resumed run after its first step
    state = torch.load(tmp_path / "a" / "checkpoints" / "step-000002" / "state.pt", weights_only=True)
    assert state["elapsed_seconds"] > 0
    shutil.copytree(tmp_path / "a" / "checkpoints", tmp_path / "c" / "checkpoints")
    capped = TrainConfig(steps=4, vae_steps=2, batch_size=4, max_minutes=state["elapsed_seconds"] / 120, **SMALL)
    assert train_conditioning(small_demo, out=tmp_path / "c", labels=small_labels, config=capped, resume="latest").steps == 3


def test_bf16_keeps_trainable_weights_fp32(small_demo, small_labels, tmp_path):
    res = train_conditioning(small_demo, out=tmp_path, labels=small_labels,
                             config=TrainConfig(steps=2, vae_steps=2, batch_size=4, mixed_precision="bf16", **SMALL))
    assert res.steps == 2 and np.isfinite(res.final_loss)
    w = load_file(str(tmp_path / "base" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(v.dtype == torch.float32 for v in w.values())
    # the tiny model's size came from the config
    unet = json.loads((tmp_path / "base" / "unet" / "config.json").read_text())
    assert unet["block_out_channels"] == [8, 16] and unet["cross_attention_dim"] == 16
    vae = json.loads((tmp_path / "base" / "vae" / "config.json").read_text())
    assert vae["block_out_channels"] == [8, 16] and unet["sample_size"] == 16  # 32 px over a 2-level VAE


def test_tiny_model_size_defaults_are_the_measured_model():
    from fairskin.conditioning import TinyModelConfig

    t, c = TinyModelConfig(), TrainConfig()
    assert (c.tiny_unet_channels, c.tiny_vae_channels, c.tiny_text_hidden) == (t.unet_channels, t.vae_channels,
                                                                               t.text_hidden)


@pytest.mark.parametrize("cfg,message", [
    (TrainConfig(mixed_precision="fp16"), "mixed_precision='fp16' needs a GPU; on CPU use bf16 or no"),
    (TrainConfig(zero_terminal_snr=True, prediction_type="epsilon"),
     "zero_terminal_snr=True needs prediction_type='v_prediction'"),
    (TrainConfig(lora_rank=4), "lora_rank=... applies to a pretrained base_model=..."),
])
def test_option_errors(small_demo, small_labels, tmp_path, cfg, message):
    if "fp16" in message and torch.cuda.is_available():
        pytest.skip("fp16 is allowed on a GPU")
    with pytest.raises(InputError) as e:
        train_conditioning(small_demo, out=tmp_path, labels=small_labels, config=cfg, device="cpu")
    assert message in str(e.value)


def test_base_model_must_be_local(small_demo, small_labels, tmp_path):
    with pytest.raises(InputError, match="expected a local diffusers folder or a .safetensors file"):
        train_conditioning(small_demo, out=tmp_path, labels=small_labels, base_model="runwayml/stable-diffusion-v1-5",
                           config=TINY_TRAIN)


def test_cosine_schedule_and_balanced_draws():
    from fairskin.conditioning._train import _cosine_scale, _draw_weights

    assert _cosine_scale(0.0) == 1.0 and _cosine_scale(1.0) == pytest.approx(0.05)
    assert _cosine_scale(0.5) == pytest.approx(0.525) and _cosine_scale(2.0) == pytest.approx(0.05)
    fst = torch.tensor([0] * 90 + [4] * 8 + [5] * 2)  # 90 type I, 8 type V, 2 type VI
    draws = torch.multinomial(_draw_weights(fst), 30_000, replacement=True, generator=torch.Generator().manual_seed(0))
    share = torch.bincount(fst[draws], minlength=6).float() / 30_000
    assert share[[0, 4, 5]].tolist() == pytest.approx([1 / 3] * 3, abs=0.02)


def test_ema_changes_what_is_saved_not_training(small_demo, small_labels, tmp_path):
    runs = {}
    for name, decay in (("raw", 0.0), ("ema", 0.9)):
        cfg = TrainConfig(steps=4, vae_steps=2, batch_size=4, checkpoint_every=2, ema_decay=decay, learning_rate=1e-2,
                          **SMALL)
        train_conditioning(small_demo, out=tmp_path / name, labels=small_labels, config=cfg)
        runs[name] = (load_file(str(tmp_path / name / "checkpoints" / "step-000002" / "trainable.safetensors")),
                      load_file(str(tmp_path / name / "base" / "unet" / "diffusion_pytorch_model.safetensors")))
    (ck_raw, final_raw), (ck_ema, final_ema) = runs["raw"], runs["ema"]
    assert all(torch.equal(ck_raw[k], ck_ema[k]) for k in ck_raw)  # the same optimisation...
    assert (tmp_path / "ema" / "checkpoints" / "step-000002" / "ema.pt").is_file()
    assert not all(torch.allclose(final_raw[k], final_ema[k]) for k in final_raw)  # ...a different average saved
    cfg = json.loads((tmp_path / "ema" / "conditioning.json").read_text())["train"]
    assert cfg["ema_decay"] == 0.9 and cfg["lr_schedule"] == "cosine"
    # a run with EMA cannot resume from a checkpoint written without one
    import shutil

    shutil.copytree(tmp_path / "raw" / "checkpoints", tmp_path / "mixed" / "checkpoints")
    with pytest.raises(InputError, match="has no ema.pt"):
        train_conditioning(small_demo, out=tmp_path / "mixed", labels=small_labels, resume="latest",
                           config=TrainConfig(steps=4, vae_steps=2, batch_size=4, ema_decay=0.9, **SMALL))


@pytest.mark.parametrize("bad, message", [
    ({"lr_schedule": "linear"}, "lr_schedule: must be auto, constant or cosine"),
    ({"ema_decay": 1.0}, r"ema_decay: must be in \[0, 1\)"),
    ({"type_sampling": "uniform"}, "type_sampling: must be balanced or natural"),
    ({"tiny_unet_channels": (12, 16)}, r"tiny_unet_channels must be two or more widths, each a positive multiple of 8"),
    ({"tiny_vae_channels": (16,)}, r"tiny_vae_channels must be two or more widths"),
    ({"tiny_text_hidden": 6}, "tiny_text_hidden must be a positive multiple of 4, got 6"),
])
def test_bad_training_options_are_refused_before_any_work(small_demo, small_labels, tmp_path, bad, message):
    from dataclasses import replace

    with pytest.raises(InputError, match=message):
        train_conditioning(small_demo, out=tmp_path / "out", labels=small_labels, config=replace(TINY_TRAIN, **bad))
    assert not (tmp_path / "out").exists()  # refused before the VAE trained or anything was written
