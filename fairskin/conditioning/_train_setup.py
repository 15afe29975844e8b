"""The named steps of :func:`fairskin.conditioning._train.train_conditioning` before and after its
training loop, in the order of diffusers' textual-inversion example: load the base model and its
noise schedule, the VAE and the latents (the tiny model trains its VAE here first), add and
initialise the tokens, freeze what does not train, and at the end save only what was learned."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fairskin.conditioning._bundle import (
    FORMAT_VERSION, Conditioning, FstEmbedding, base_config_files, base_model_files, load_base_pipeline, sha256_files,
)
from fairskin.conditioning._prompts import FST_TOKENS, NULL_FST, PromptFields, build_prompt, image_styles
from fairskin.conditioning._tiny import TinyModelConfig, build_tiny_components
from fairskin.errors import InputError

if TYPE_CHECKING:
    from fairskin.conditioning._train import TrainConfig


@dataclass
class TrainParts:
    """The base model's parts and how their noise is scheduled; :func:`add_fst_tokens` fills in the
    new tokens and the FST embedding."""

    unet: object
    vae: object
    text_encoder: object
    tokenizer: object
    from_scratch: bool
    tune_unet: bool  # the UNet trains (the tiny model, or LoRA on a pretrained one)
    schedule: dict
    noise_scheduler: object
    base_sha: str
    base_config_sha: str | None
    token_ids: list | None = None
    emb_layer: object = None
    orig_embeds: object = None  # the token embeddings before training (all but the new rows stay so)
    fst_emb: object = None
    base_tokenizer: object = None  # the tokenizer without the new tokens (saved with the tiny base)
    base_vocab: int = 0


@dataclass
class TrainOptimiser:
    """What updates the trained weights: the optimizer, its schedule, the EMA and the fp16 scaler."""

    optimizer: object
    base_lrs: list
    lr_schedule: str
    ema_decay: float
    ema: object
    scaler: object
    trained_params: list


@dataclass
class TrainBatches:
    """What each training step draws from: the latents' moments, the prompts, the types, the tone requests."""

    moments: object
    scaling: float
    fst_idx: object
    draw_weight: object  # None: images drawn uniformly
    prompt_ids: object
    null_ids: object
    tone_ita: object  # None: no tone requests
    batch_size: int


def training_frame(data, *, labels, format):
    """The data set's rows with a skin type, each one's photo style (checked before any training) and the root."""
    from fairskin.conditioning._data import labelled_manifest

    frame = labelled_manifest(data, labels=labels, format=format)
    frame = frame[~frame["fst"].isna()].reset_index(drop=True)
    if len(frame) == 0:
        raise InputError(f"{data}: no image has a skin type; run `fairskin label {data}` and pass labels='labels.csv'")
    styles = image_styles(frame)  # checked before any training
    return frame, styles, Path(frame.attrs["root"])


def load_model(config: TrainConfig, *, base_model, base_config) -> TrainParts:
    """The built-in tiny model (``base_model`` None) or the pretrained one, and the noise schedule training uses."""
    from diffusers import DDPMScheduler

    from_scratch = base_model is None
    if from_scratch and base_config is not None:
        raise InputError(f"base_config={base_config}: applies to a single .safetensors base_model=...; the built-in "
                         f"tiny model needs none")
    base_config_sha = None
    if from_scratch:
        tiny_cfg = TinyModelConfig(seed=config.seed, resolution=config.resolution or TinyModelConfig.resolution,
                                   unet_channels=tuple(config.tiny_unet_channels),
                                   vae_channels=tuple(config.tiny_vae_channels), text_hidden=config.tiny_text_hidden)
        parts = build_tiny_components(tiny_cfg)
        base_sha = ""
    else:
        pipe = load_base_pipeline(base_model, config=base_config)
        parts = {k: getattr(pipe, k) for k in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")}
        base_sha = sha256_files(base_model_files(Path(base_model)))
        if base_config is not None:
            base_config_sha = sha256_files(base_config_files(Path(base_config)))
    tune_unet = from_scratch or config.lora_rank > 0
    if from_scratch and config.lora_rank > 0:
        raise InputError("lora_rank=... applies to a pretrained base_model=...; the built-in tiny model trains its whole UNet")
    schedule = resolve_schedule(config, from_scratch=from_scratch, tune_unet=tune_unet,
                                base_prediction=parts["scheduler"].config.get("prediction_type", "epsilon"))
    noise_scheduler = DDPMScheduler.from_config(
        parts["scheduler"].config, prediction_type=schedule["prediction_type"],
        rescale_betas_zero_snr=schedule["zero_terminal_snr"], timestep_spacing=schedule["timestep_spacing"])
    return TrainParts(unet=parts["unet"], vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"],
                  from_scratch=from_scratch, tune_unet=tune_unet, schedule=schedule, noise_scheduler=noise_scheduler,
                  base_sha=base_sha, base_config_sha=base_config_sha)


def resolve_schedule(config: TrainConfig, *, from_scratch: bool, tune_unet: bool, base_prediction: str) -> dict:
    """Prediction type, zero terminal SNR and offset noise, ``auto`` settled as ``_train``'s module
    docstring explains (a frozen pretrained UNet keeps its own prediction type)."""
    pred = config.prediction_type
    if pred == "auto":
        pred = "v_prediction" if from_scratch else base_prediction
    zs = config.zero_terminal_snr
    if zs is None:
        zs = from_scratch and pred == "v_prediction"
    if zs and pred != "v_prediction":
        raise InputError("zero_terminal_snr=True needs prediction_type='v_prediction': at zero SNR the last timestep is "
                         "pure noise and an epsilon-predicting model cannot recover the image from it")
    if not from_scratch and not tune_unet and pred != base_prediction:
        raise InputError(f"prediction_type={pred!r}: the base UNet predicts {base_prediction} and stays frozen "
                         f"without lora_rank=...; use {base_prediction} or train LoRA")
    offset = config.noise_offset
    if offset is None:
        offset = (0.5 if config.tone else 0.1) if from_scratch else (0.05 if tune_unet else 0.0)
    return {"prediction_type": pred, "zero_terminal_snr": bool(zs), "noise_offset": float(offset),
            "timestep_spacing": "trailing" if zs else "leading"}


def load_images(frame, root: Path, resolution: int) -> np.ndarray:
    """Every image of ``frame`` centre-cropped to a square and resized to ``resolution`` (uint8 RGB)."""
    from PIL import Image

    from fairskin.data import load_rgb

    out = np.empty((len(frame), resolution, resolution, 3), np.uint8)
    for i, rel in enumerate(frame["image"]):
        rgb = load_rgb(root / rel).rgb
        h, w = rgb.shape[:2]
        s = min(h, w)  # centre crop to a square, then resize
        rgb = rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out[i] = np.asarray(Image.fromarray(rgb).resize((resolution, resolution), Image.BICUBIC))
    return out


def prepare_vae(model: TrainParts, pixels, *, vae_steps: int, resume_dir, gen, device, weight_dtype) -> float | None:
    """The tiny model's VAE learns to reconstruct the images first (or comes back from the checkpoint);
    then the VAE is frozen. Returns the VAE's median seconds per step (None: it did not train)."""
    import torch

    vae, vae_time = model.vae, None
    if model.from_scratch:
        if resume_dir is not None:
            from safetensors.torch import load_file

            vae.load_state_dict(load_file(str(resume_dir / "vae.safetensors")))
            saved = json.loads((resume_dir / "vae_config.json").read_text())
            vae.register_to_config(scaling_factor=float(saved["scaling_factor"]))
        else:
            vae_time = _train_vae(vae, pixels, steps=vae_steps, batch=16, gen=gen, device=device)
    vae.requires_grad_(False).eval().to(device, dtype=weight_dtype if not model.from_scratch else torch.float32)
    return vae_time


def encode_latents(vae, pixels, *, device, set_scaling: bool):
    """Each image's latent mean and std, once (flips are applied to latents; a convolutional VAE is
    close to equivariant); with ``set_scaling`` the VAE's scaling factor is set for unit-variance
    latents (SD's 0.18215 for this VAE)."""
    import torch

    with torch.no_grad():
        moments = []
        for i in range(0, len(pixels), 16):
            dist = vae.encode(pixels[i:i + 16].to(device, vae.dtype)).latent_dist
            moments.append(torch.cat([dist.mean, dist.std], 1).float().cpu())
        moments = torch.cat(moments)
    if set_scaling:
        vae.register_to_config(scaling_factor=float(1.0 / moments[:, :4].std()))
    return moments


def tone_inputs(vae, moments, images, fst, device):
    """Each training image's tone request (ITA of its decoded latent mean; NaN where the estimator
    finds no skin) and, per type, the ITAs generation draws requests from (the images' own)."""
    import torch

    from fairskin.conditioning._tone import request_table
    from fairskin.label import LabelConfig, estimate_rgb, get_scale

    decoded = []
    with torch.no_grad():
        for i in range(0, len(moments), 16):
            x = vae.decode(moments[i:i + 16, :4].to(device, vae.dtype)).sample.float().clamp(-1, 1)
            decoded.append(((x + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy())
    recon = np.array([estimate_rgb(im).ita for im in np.concatenate(decoded)], float)
    own = np.array([estimate_rgb(im).ita for im in images], float)
    return torch.tensor(recon, dtype=torch.float32), request_table(own, fst, get_scale(LabelConfig().scale))


def add_fst_tokens(model: TrainParts, *, gen, tone: bool) -> None:
    """Add ``<fst-1>``..``<fst-6>``, each started near "skin", and the FST embedding, every type started
    at the end-of-sequence state the UNet already attends to."""
    import torch

    tokenizer, text_encoder = model.tokenizer, model.text_encoder
    model.base_tokenizer = copy.deepcopy(tokenizer)
    model.base_vocab = len(tokenizer)
    added = tokenizer.add_tokens(list(FST_TOKENS.values()))
    if added != len(FST_TOKENS):
        raise InputError(f"base model's tokenizer already has some of {list(FST_TOKENS.values())}; use a clean base model")
    text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    token_ids = tokenizer.convert_tokens_to_ids(list(FST_TOKENS.values()))
    init_id = tokenizer.encode("skin", add_special_tokens=False)[0]
    emb_layer = text_encoder.get_input_embeddings()
    with torch.no_grad():
        noise = torch.randn((len(token_ids), emb_layer.weight.shape[1]), generator=gen) * 0.01
        for k, tid in enumerate(token_ids):
            emb_layer.weight[tid] = emb_layer.weight[init_id] + noise[k].to(emb_layer.weight.dtype)
    model.orig_embeds = emb_layer.weight.detach().clone()
    fst_emb = FstEmbedding(text_encoder.config.hidden_size, tone=tone)
    with torch.no_grad():  # start every type at the end-of-sequence state the UNet already attends to
        ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
        eos_state = text_encoder(ids)[0][0, -1].float()
        fst_emb.embedding.weight.copy_(eos_state + torch.randn(fst_emb.embedding.weight.shape, generator=gen) * 0.01)
    model.token_ids, model.emb_layer, model.fst_emb = token_ids, emb_layer, fst_emb


def freeze_and_optimise(model: TrainParts, config: TrainConfig, *, lr: float, device, weight_dtype) -> TrainOptimiser:
    """Freeze what does not train (LoRA added with ``lora_rank``), move the parts to ``device`` and
    build the optimizer, the EMA and the fp16 scaler over what does."""
    import torch

    unet, text_encoder, fst_emb, emb_layer = model.unet, model.text_encoder, model.fst_emb, model.emb_layer
    text_encoder.requires_grad_(False)
    emb_layer.weight.requires_grad_(True)
    unet.requires_grad_(model.from_scratch)
    if config.lora_rank > 0:
        from peft import LoraConfig

        unet.to(device, dtype=weight_dtype)
        unet.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_rank, init_lora_weights="gaussian",
                                    target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    unet.to(device)
    if not model.tune_unet:
        unet.to(dtype=weight_dtype)
    # fp32 master weights for everything that trains (fp16 trainable params are what makes
    # GradScaler fail with "Attempting to unscale FP16 gradients")
    trainable_unet = [p for p in unet.parameters() if p.requires_grad]
    for p in trainable_unet:
        p.data = p.data.float()
    text_encoder.to(device)  # fp32: its token embedding trains
    fst_emb.to(device)
    if config.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
        text_encoder.gradient_checkpointing_enable()
    params = [{"params": [emb_layer.weight, *fst_emb.parameters()], "lr": lr if not model.from_scratch else lr * 5}]
    if trainable_unet:
        params.append({"params": trainable_unet, "lr": lr})
    optimizer = torch.optim.AdamW(params, weight_decay=0.0)
    lr_schedule = config.lr_schedule if config.lr_schedule != "auto" else ("cosine" if model.from_scratch else "constant")
    ema_decay = config.ema_decay if config.ema_decay is not None else (0.999 if model.from_scratch else 0.0)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    trained_params = [emb_layer.weight, *fst_emb.parameters(), *trainable_unet]
    ema = None
    if ema_decay > 0:
        from diffusers.training_utils import EMAModel

        ema = EMAModel(trained_params, decay=ema_decay, use_ema_warmup=True)
    scaler = torch.amp.GradScaler("cuda") if config.mixed_precision == "fp16" else None
    return TrainOptimiser(optimizer=optimizer, base_lrs=base_lrs, lr_schedule=lr_schedule, ema_decay=ema_decay, ema=ema,
                      scaler=scaler, trained_params=trained_params)


def training_batches(model: TrainParts, frame, styles, moments, *, tone_ita, type_sampling: str, batch_size: int,
                     draw_weights) -> TrainBatches:
    """Each image's prompt (tokenized), type index and draw weight (``draw_weights`` of the type
    indices with balanced ``type_sampling``), beside the latents' moments and tone requests."""
    import torch

    tokenizer = model.tokenizer
    fst_idx = torch.tensor(frame["fst"].astype(int).to_numpy() - 1)
    prompts = [build_prompt(PromptFields(diagnosis=d, fst=int(f), style=st))
               for d, f, st in zip(frame["diagnosis"].fillna(""), frame["fst"], styles)]
    prompt_ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                           return_tensors="pt").input_ids
    null_ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
    return TrainBatches(moments=moments, scaling=model.vae.config.scaling_factor, fst_idx=fst_idx,
                    draw_weight=draw_weights(fst_idx) if type_sampling == "balanced" else None,
                    prompt_ids=prompt_ids, null_ids=null_ids, tone_ita=tone_ita, batch_size=batch_size)


def save_learned(model: TrainParts, out: Path, *, config: TrainConfig, base_model, base_config, resolution: int,
                 tone_requests, train: dict) -> Path:
    """Save only what was learned (tokens, FST embedding, LoRA; the tiny model as ``base/``) with the
    settings it was trained with (``train``: what the run resolved, beside ``config``); returns
    conditioning.json's path."""
    from diffusers import StableDiffusionPipeline

    out.mkdir(parents=True, exist_ok=True)
    unet, emb_layer = model.unet, model.emb_layer
    unet.eval()
    base_sha = model.base_sha
    if model.from_scratch:
        base_te = copy.deepcopy(model.text_encoder)
        base_te.resize_token_embeddings(model.base_vocab, mean_resizing=False)
        base_dir = out / "base"
        StableDiffusionPipeline(vae=model.vae.float().cpu(), text_encoder=base_te.cpu(), tokenizer=model.base_tokenizer,
                                unet=unet.float().cpu(), scheduler=_inference_base_scheduler(model.noise_scheduler),
                                safety_checker=None, feature_extractor=None, requires_safety_checker=False,
                                ).save_pretrained(base_dir, safe_serialization=True)
        base_ref = "base"
        base_sha = sha256_files(base_model_files(base_dir))
    else:
        base_ref = str(Path(base_model).resolve())
    lora_state = None
    if config.lora_rank > 0:
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        lora_state = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
        lora_state = {k: v.detach().float().cpu() for k, v in lora_state.items()}
    tokens = {tok: emb_layer.weight[tid].detach().float().cpu().clone()
              for tok, tid in zip(FST_TOKENS.values(), model.token_ids)}
    cond = Conditioning(path=None, config={
        "format_version": FORMAT_VERSION,
        "base_model": base_ref,
        "base_model_sha256": base_sha,
        "base_config": str(Path(base_config).resolve()) if base_config is not None else None,
        "base_config_sha256": model.base_config_sha,
        "resolution": resolution,
        "schedule": model.schedule,
        "fst_embedding": {"num_types": 6, "null_index": NULL_FST, "hidden": model.text_encoder.config.hidden_size,
                          "tone": config.tone},
        "tone": None if tone_requests is None else {"ita_source": "fairskin label estimator on the VAE reconstruction",
                                                   "requests": tone_requests},
        "train": {**asdict(config), **train,
                  "trained": ("tiny model from scratch (VAE, UNet), " if model.from_scratch else "")
                  + "tokens, FST embedding" + (f", UNet LoRA r={config.lora_rank}" if lora_state else "")},
    }, token_embeddings=tokens, fst_embedding=model.fst_emb.cpu(), lora_state=lora_state)
    return cond.save(out)


def _inference_base_scheduler(noise_scheduler):
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(noise_scheduler.config, clip_sample=False, set_alpha_to_one=False)


def _train_vae(vae, pixels, *, steps: int, batch: int, gen, device) -> float | None:
    """Reconstruction (L1 + L2) with a small KL term on random half-side crops, one-cycle learning
    rate; returns the median seconds per step.

    Crops: a convolutional VAE learns the same local mapping from a quarter of the pixels, so a
    step costs about a quarter of a full-frame step; the one-cycle schedule is what lets it
    converge in about 1000 steps (the round-trip figures: ``docs/generation-measurements.md``).
    """
    import torch

    vae.to(device).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=max(steps, 1))
    side = pixels.shape[-1]
    crop = max(side // 2, 2 ** (len(vae.config.block_out_channels) - 1))
    times = []
    for _ in range(steps):
        ts = time.perf_counter()
        x = pixels[torch.randint(0, len(pixels), (batch,), generator=gen)]
        i, j = torch.randint(0, side - crop + 1, (2,), generator=gen).tolist()
        x = x[:, :, i:i + crop, j:j + crop].to(device)
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen).to(device)
        rec = vae.decode(z).sample
        loss = (rec - x).abs().mean() + ((rec - x) ** 2).mean() + 1e-6 * post.kl().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        times.append(time.perf_counter() - ts)
    vae.eval()
    return float(np.median(times)) if times else None
