"""A base model given as ONE .safetensors file in the original LDM/CompVis layout (as SD 1.5's
``v1-5-pruned-emaonly.safetensors``), loaded offline with a diffusers config folder (``--base-config``).

The file is a real single-file checkpoint: the tiny model's weights written under the original key names
by :func:`ldm_checkpoint` (the inverse of diffusers' ``single_file_utils`` conversions), so loading it
goes through the same conversion code as a downloaded SD 1.5 file.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from fairskin.conditioning import Conditioning, load_base_pipeline  # noqa: E402
from fairskin.conditioning._bundle import base_config_files, sha256_files  # noqa: E402
from fairskin.conditioning._tiny import TinyModelConfig, build_tiny_components  # noqa: E402
from fairskin.errors import InputError  # noqa: E402

_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
           ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))
_VAE_ATTENTION = (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out"))
_UNET_FIXED = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
               "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}


def _rename(name: str, pairs) -> str:
    module, _, param = name.rpartition(".")
    return f"{dict(pairs)[module]}.{param}"


def _unet_key(k: str, config) -> str:
    """diffusers UNet2DConditionModel name -> LDM ``openaimodel.UNetModel`` name."""
    per = config["layers_per_block"] + 1  # LDM counts each level's resnets plus its down/upsampler
    module, _, param = k.rpartition(".")
    if module in _UNET_FIXED:
        return f"{_UNET_FIXED[module]}.{param}"
    if m := re.fullmatch(r"(down|up)_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", k):
        side, block, kind, layer, rest = m[1], int(m[2]), m[3], int(m[4]), m[5]
        i = (1 if side == "down" else 0) + block * per + layer
        blocks = "input_blocks" if side == "down" else "output_blocks"
        return f"{blocks}.{i}.0.{_rename(rest, _RESNET)}" if kind == "resnets" else f"{blocks}.{i}.1.{rest}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(\w+)", k):
        return f"input_blocks.{int(m[1]) * per + per}.0.op.{m[2]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(\w+)", k):
        block = int(m[1])
        after = 2 if "CrossAttn" in config["up_block_types"][block] else 1  # after the resnet (and the attention)
        return f"output_blocks.{block * per + per - 1}.{after}.conv.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", k):
        return f"middle_block.{2 * int(m[1])}.{_rename(m[2], _RESNET)}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", k):
        return f"middle_block.1.{m[1]}"
    raise KeyError(k)


def _vae_key(k: str, levels: int) -> str:
    """diffusers AutoencoderKL name -> LDM ``AutoencoderKL`` name (decoder levels run the other way)."""
    if m := re.fullmatch(r"(encoder|decoder)\.conv_norm_out\.(\w+)", k):
        return f"{m[1]}.norm_out.{m[2]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.(resnets\.|downsamplers\.0\.)(.+)", k):
        part = "block." if m[2] == "resnets." else "downsample."
        return f"encoder.down.{m[1]}.{part}{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.(resnets\.|upsamplers\.0\.)(.+)", k):
        part = "block." if m[2] == "resnets." else "upsample."
        return f"decoder.up.{levels - 1 - int(m[1])}.{part}{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", k):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", k):
        return f"{m[1]}.mid.attn_1.{_rename(m[2], _VAE_ATTENTION)}"
    if re.fullmatch(r"(encoder|decoder)\.conv_(in|out)\.\w+|(post_)?quant_conv\.\w+", k):
        return k
    raise KeyError(k)


def ldm_checkpoint(unet, vae, text_encoder, scheduler) -> dict:
    """One state dict in the original Stable Diffusion layout, with the schedule buffers it also carries."""
    sd = {f"model.diffusion_model.{_unet_key(k, unet.config)}": v for k, v in unet.state_dict().items()}
    levels = len(vae.config.block_out_channels)
    for k, v in vae.state_dict().items():
        if ".mid_block.attentions." in k and v.ndim == 2:
            v = v[:, :, None, None]  # LDM's attention projections are 1x1 convolutions
        sd[f"first_stage_model.{_vae_key(k, levels)}"] = v
    for k, v in text_encoder.state_dict().items():  # transformers >= 5.6 dropped CLIPTextModel's text_model.
        sd[f"cond_stage_model.transformer.text_model.{k.removeprefix('text_model.')}"] = v
    sd["cond_stage_model.transformer.text_model.embeddings.position_ids"] = \
        torch.arange(text_encoder.config.max_position_embeddings)[None]
    sd["betas"] = scheduler.betas.clone()
    sd["alphas_cumprod"] = scheduler.alphas_cumprod.clone()
    return {k: v.contiguous() for k, v in sd.items()}


def _save_single_file(parts, folder, file):
    StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(folder)
    save_file(ldm_checkpoint(parts["unet"], parts["vae"], parts["text_encoder"], parts["scheduler"]), str(file))


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    """(single file, diffusers folder of the same model, its components)."""
    root = tmp_path_factory.mktemp("single-file")
    parts = build_tiny_components()
    _save_single_file(parts, root / "tiny-sd", root / "tiny-sd.safetensors")
    return root / "tiny-sd.safetensors", root / "tiny-sd", parts


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, so that no test depends on what this machine has downloaded."""
    import huggingface_hub.constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_file_has_the_original_key_layout(tiny_sd):
    file, _, parts = tiny_sd
    sd = load_file(str(file))
    # names as in v1-5-pruned-emaonly.safetensors (the tiny UNet has 1 resnet per level instead of 2)
    unet = ["input_blocks.0.0.weight", "input_blocks.1.0.in_layers.2.weight", "input_blocks.2.0.op.weight",
            "input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight", "middle_block.1.proj_in.weight",
            "middle_block.2.emb_layers.1.bias", "output_blocks.1.2.conv.weight",
            "output_blocks.4.0.skip_connection.weight", "out.2.weight", "time_embed.2.weight"]
    vae = ["encoder.down.0.downsample.conv.weight", "decoder.up.2.upsample.conv.weight",
           "decoder.up.0.block.0.nin_shortcut.weight", "encoder.norm_out.bias", "post_quant_conv.weight"]
    clip = ["embeddings.position_embedding.weight", "encoder.layers.1.mlp.fc2.weight"]
    for key in ([f"model.diffusion_model.{k}" for k in unet] + [f"first_stage_model.{k}" for k in vae]
                + [f"cond_stage_model.transformer.text_model.{k}" for k in clip]):
        assert key in sd, key
    assert sd["first_stage_model.encoder.mid.attn_1.q.weight"].shape == (32, 32, 1, 1)
    n_weights = sum(len(parts[p].state_dict()) for p in ("unet", "vae", "text_encoder"))
    assert len(sd) == n_weights + 3  # + position_ids, betas, alphas_cumprod


def test_single_file_loads_the_same_weights(tiny_sd, hub_cache):
    file, folder, parts = tiny_sd
    pipe = load_base_pipeline(file, config=folder)
    for name in ("unet", "vae", "text_encoder"):
        want, got = parts[name].state_dict(), getattr(pipe, name).state_dict()
        assert sorted(got) == sorted(want), name
        different = [k for k in want if not torch.equal(got[k], want[k])]
        assert not different, (name, different[:3])
    assert pipe.tokenizer.get_vocab() == parts["tokenizer"].get_vocab()
    assert pipe.tokenizer.model_max_length == parts["tokenizer"].model_max_length
    public = lambda config: {k: v for k, v in config.items() if not k.startswith("_")}  # noqa: E731
    assert public(pipe.scheduler.config) == public(parts["scheduler"].config)
    assert pipe.vae.config.scaling_factor == 1.0  # the folder's, not LDM's 0.18215
    assert isinstance(load_base_pipeline(file, config=folder, img2img=True), StableDiffusionImg2ImgPipeline)


def test_single_file_generates_what_the_folder_generates(tiny_sd, hub_cache):
    file, folder, _ = tiny_sd

    def generate(pipe):
        return pipe("a dermoscopy photo of melanoma on skin", num_inference_steps=2, height=64, width=64,
                    generator=torch.Generator().manual_seed(0), output_type="np").images[0]

    from_file, from_folder = generate(load_base_pipeline(file, config=folder)), generate(load_base_pipeline(folder))
    assert from_file.shape == (64, 64, 3) and from_file.std() > 0
    np.testing.assert_array_equal(from_file, from_folder)


def test_without_config_the_cached_hub_configs_are_used(tiny_sd, hub_cache):
    """What diffusers would fetch for a v1 checkpoint, already in the local cache: no --base-config needed."""
    file, folder, parts = tiny_sd
    repo = hub_cache / "models--stable-diffusion-v1-5--stable-diffusion-v1-5"
    revision = "0" * 40
    for p in base_config_files(folder):  # configs only, as diffusers' own fetch
        (repo / "snapshots" / revision / p.relative_to(folder)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, repo / "snapshots" / revision / p.relative_to(folder))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    pipe = load_base_pipeline(file)
    assert torch.equal(pipe.unet.conv_out.weight, parts["unet"].conv_out.weight)


HELP = ("pass base_config=FOLDER, a local diffusers folder with the configs of the same architecture "
        "(model_index.json and the unet/, vae/, text_encoder/, tokenizer/ and scheduler/ configs, e.g. those of "
        "stable-diffusion-v1-5 for an SD 1.5 checkpoint; weights are not needed)")


def test_single_file_without_config_offline_says_what_to_pass(tiny_sd, hub_cache):
    file, _, _ = tiny_sd
    with pytest.raises(InputError) as e:
        load_base_pipeline(file)
    assert str(e.value) == (
        f"base_model={file}: a single .safetensors checkpoint holds weights only, and the configs of its "
        f"architecture (stable-diffusion-v1-5/stable-diffusion-v1-5, which diffusers would fetch) are not in the "
        f"local Hugging Face cache, and nothing is downloaded: {HELP}")


def test_missing_file_is_named(tmp_path, tiny_sd):
    with pytest.raises(InputError) as e:
        load_base_pipeline(tmp_path / "v1-5-pruned-emaonly.safetensors", config=tiny_sd[1])
    assert str(e.value) == f"base_model={tmp_path / 'v1-5-pruned-emaonly.safetensors'}: no such file"


def test_config_errors(tiny_sd, tmp_path, hub_cache):
    file, folder, _ = tiny_sd
    with pytest.raises(InputError) as e:
        load_base_pipeline(file, config=tmp_path)
    assert str(e.value) == f"base_config={tmp_path}: not a diffusers folder (no model_index.json); {HELP}"
    partial = tmp_path / "no-vae"
    shutil.copytree(folder, partial, ignore=shutil.ignore_patterns("vae"))
    with pytest.raises(InputError) as e:
        load_base_pipeline(file, config=partial)
    assert str(e.value) == f"base_config={partial}: no vae/ folder; {HELP}"
    # diffusers 0.42 takes only the UNet, VAE and scheduler from an LDM yaml (text encoder and tokenizer from the hub)
    (tmp_path / "v1-inference.yaml").write_text("model: {}\n")
    with pytest.raises(InputError) as e:
        load_base_pipeline(file, config=tmp_path / "v1-inference.yaml")
    assert str(e.value) == (f"base_config={tmp_path / 'v1-inference.yaml'}: an original LDM config (.yaml) does not "
                            f"describe the text encoder and tokenizer, so it cannot load {file.name} offline; {HELP}")
    with pytest.raises(InputError) as e:
        load_base_pipeline(folder, config=folder)
    assert str(e.value) == (f"base_config={folder}: applies to a single .safetensors base_model=...; the diffusers "
                            f"folder {folder} has its own configs")


def test_weights_that_do_not_fit_the_configs(tiny_sd, tmp_path, hub_cache):
    file, folder, parts = tiny_sd
    wider = tmp_path / "wider"
    StableDiffusionPipeline(**build_tiny_components(TinyModelConfig(unet_channels=(32, 64, 128))), safety_checker=None,
                            feature_extractor=None, requires_safety_checker=False).save_pretrained(wider)
    with pytest.raises(InputError, match=rf"^base_model={re.escape(str(file))} does not fit the configs in "
                                         rf"{re.escape(str(wider))}: .*down_blocks\.2\.resnets\.0.* expected shape"):
        load_base_pipeline(file, config=wider)
    # a file without some of the UNet's or the text encoder's weights (diffusers alone would leave them empty)
    sd = load_file(str(file))
    for drop, message in [("model.diffusion_model.output_blocks.5.", "has no weights for some tensors of the UNet or "
                                                                      "VAE that the configs in"),
                          ("text_model.encoder.layers.1.", "has no weights for 16 tensors of the text_encoder")]:
        save_file({k: v for k, v in sd.items() if drop not in k}, str(tmp_path / "partial.safetensors"))
        with pytest.raises(InputError, match=re.escape(message)):
            load_base_pipeline(tmp_path / "partial.safetensors", config=folder)
    (tmp_path / "broken.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"broken\.safetensors: not a readable \.safetensors file"):
        load_base_pipeline(tmp_path / "broken.safetensors")


def test_cli_trains_on_a_single_file_and_generation_reloads_it(tiny_sd, small_demo, small_labels, tmp_path, hub_cache):
    from fairskin.conditioning import SamplingConfig, StableDiffusionGenerator
    from fairskin.cli import main

    file, folder, _ = tiny_sd
    out = tmp_path / "cond"
    assert main(["train-conditioning", str(small_demo), "--out", str(out), "--labels", str(small_labels),
                 "--base-model", str(file), "--base-config", str(folder), "--steps", "1", "--batch-size", "2",
                 "--resolution", "32", "--device", "cpu"]) == 0
    cfg = json.loads((out / "conditioning.json").read_text())
    assert cfg["base_model"] == str(file.resolve())
    assert cfg["base_model_sha256"] == sha256_files([file])  # the single file itself
    assert cfg["base_config"] == str(folder.resolve())
    assert cfg["base_config_sha256"] == sha256_files(base_config_files(folder))
    cond = Conditioning.load(out)
    assert cond.base_model == file.resolve() and cond.base_config == folder.resolve()
    gen = StableDiffusionGenerator(cond, config=SamplingConfig(steps=2, batch_size=2), device="cpu")
    images = gen.generate_prompts(["a dermoscopy photo of melanoma on <fst-5> skin"] * 2, [5, 5], [0, 0])
    assert len(images) == 2 and images[0].shape == (32, 32, 3)
    np.testing.assert_array_equal(images[0], images[1])  # same seed, same image


def test_base_config_needs_a_single_file_base(small_demo, small_labels, tiny_sd, tmp_path):
    from fairskin.conditioning import train_conditioning

    with pytest.raises(InputError) as e:
        train_conditioning(small_demo, out=tmp_path, labels=small_labels, base_config=tiny_sd[1])
    assert str(e.value) == (f"base_config={tiny_sd[1]}: applies to a single .safetensors base_model=...; the "
                            f"built-in tiny model needs none")


def test_balance_cli_threads_base_config(small_demo, small_labels, tiny_sd, tmp_path, capsys):
    from fairskin.cli import main

    code = main(["balance", str(small_demo), "--out", str(tmp_path / "out"), "--labels", str(small_labels),
                 "--target", "fst56=0.5", "--conditioning", str(tmp_path / "cond"), "--base-config", str(tiny_sd[1])])
    assert code == 2
    assert ("--base-config: give it to train-conditioning; a trained conditioning folder records its base model's configs"
            in " ".join(capsys.readouterr().err.split()))
