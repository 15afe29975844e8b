"""Train skin-tone conditioning, in the order of diffusers' textual-inversion example:
add tokens, initialise, freeze, train, save only what was learned.

Two kinds of base model
-----------------------
* a real Stable Diffusion (local diffusers folder or one ``.safetensors`` file): the
  ``<fst-k>`` tokens and the FST embedding train, the UNet is frozen (plus attention LoRA with
  ``lora_rank > 0``);
* the built-in tiny model (``base_model=None``): the same classes built from small configs,
  trained from scratch on the data (VAE first, then the whole UNet with the tokens and the FST
  embedding); the trained model is saved as ``base/`` inside the conditioning folder.

Noise schedule
--------------
Skin tone is an image's mean colour, and Stable Diffusion's default schedule (scaled-linear
betas, epsilon prediction) never fully destroys the mean colour: at the last timestep some of
the training image's tone survives, so at sampling time the model never learns to *choose* a
tone from the condition. Zero terminal SNR (rescaled betas, trailing timesteps, Lin et al. 2024)
with v-prediction, and offset noise (a per-channel constant added to the noise), fix that. They
are the default when the UNet trains from scratch; with a frozen or LoRA-tuned pretrained UNet the
model keeps its own prediction type (it cannot switch without retraining), and offset noise
defaults on only when the UNet is tuned.

Training the tiny model
-----------------------
Ten minutes on two CPU cores is little, so the from-scratch defaults make each minute count: the
VAE trains on random half-side crops with a one-cycle learning rate (``_train_setup._train_vae``); the UNet's
learning rate follows a cosine down to 5% while an exponential moving average of the weights
(0.999, with warm-up) is what gets saved. The cosine and the average go with the crop-trained VAE.

Tone requests and offset noise
------------------------------
Offset noise teaches the model that an image's mean is mostly noise at high noise levels, so it
pulls every image's tone towards what its condition asks. With only a type to ask for, that is
the type's mean, and types I and VI lose the spread of their real tones. Tone requests
(``fairskin.conditioning._tone``, on by default) let the spread come from the request instead,
and the offset noise then holds each image to its own request: 0.5 with tone requests, 0.1
without (``--no-tone``). Prompts name each training image's photo style (``_prompts.StyleMix``),
because the model makes dermoscopy-style and clinical-style skin of one type in different tones.

Every figure behind these choices (exact-type rates per setting and seed, ITA spreads, the VAE
round trip, what was tried and not adopted) is in ``docs/generation-measurements.md``;
``benchmarks/bench_generation.py`` prints them for a new run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from fairskin.conditioning._checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from fairskin.conditioning._prompts import NULL_FST
from fairskin.conditioning._tiny import TinyModelConfig
from fairskin.conditioning._train_setup import (
    TrainBatches, TrainOptimiser, TrainParts, add_fst_tokens, encode_latents, freeze_and_optimise, load_images,
    load_model, prepare_vae, save_learned, tone_inputs, training_batches, training_frame,
)
from fairskin.devices import choose_device
from fairskin.errors import InputError, require
from fairskin.progress import Progress, report
from fairskin.weights import load_weights


__all__ = ["TrainConfig", "TrainResult", "train_conditioning"]


@dataclass(frozen=True)
class TrainConfig:
    """Defaults of ``fairskin train-conditioning`` (the CLI reads them)."""

    resolution: int | None = None  # None: 64 for the tiny model, the UNet's sample size x 8 otherwise
    steps: int = 3000
    learning_rate: float | None = None  # None: 1e-3 tiny (whole UNet), 5e-4 tokens, 1e-4 LoRA
    batch_size: int | None = None  # None: 16 for the tiny model (what benchmarks/bench_generation.py measures), 32 otherwise
    gradient_accumulation: int = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
    checkpoint_every: int = 0  # 0: only at the end
    seed: int = 0
    lora_rank: int = 0  # > 0: LoRA on the UNet's attention (pretrained base only)
    #: None = auto (see the module docstring)
    zero_terminal_snr: bool | None = None
    prediction_type: Literal["auto", "epsilon", "v_prediction"] = "auto"
    noise_offset: float | None = None
    condition_dropout: float = 0.1
    #: "natural": training images drawn uniformly (each type as often as it occurs); "balanced":
    #: every skin type drawn equally often, so a rare type's token and embedding get as many
    #: updates as a common one's (on the demo data it did not raise the gate's pass rate for V)
    type_sampling: Literal["balanced", "natural"] = "natural"
    #: learning-rate schedule over the run (``steps`` or ``max_minutes``, whichever ends first);
    #: "auto": cosine for the tiny model, constant otherwise
    lr_schedule: Literal["auto", "constant", "cosine"] = "auto"
    #: exponential moving average of the trained weights (what is saved); None = auto: 0.999 with
    #: warm-up for the tiny model, off otherwise; 0 = off
    ema_decay: float | None = None
    #: tiny model only: steps of VAE training before the UNet
    vae_steps: int = 1000
    #: stop after this many minutes of UNet training even if ``steps`` is not reached
    max_minutes: float | None = None
    #: tone requests: the FST embedding also takes each image's ITA (``fairskin.conditioning._tone``)
    tone: bool = True
    #: built-in tiny model only: its UNet and VAE widths per level and its text encoder's width
    #: (``TinyModelConfig``); smaller values make a test run cheaper, the defaults are what is measured
    tiny_unet_channels: tuple[int, ...] = TinyModelConfig.unet_channels
    tiny_vae_channels: tuple[int, ...] = TinyModelConfig.vae_channels
    tiny_text_hidden: int = TinyModelConfig.text_hidden


@dataclass
class TrainResult:
    path: Path  # conditioning.json
    steps: int
    seconds_per_step: float
    vae_seconds_per_step: float | None
    final_loss: float
    schedule: dict


def train_conditioning(data, *, out: str | Path, labels: str | Path | None = None, base_model: str | Path | None = None,
                       base_config: str | Path | None = None, config: TrainConfig = TrainConfig(),
                       resume: str | Path | None = None, device: str | None = None, format: str | None = None,
                       progress: Progress | None = None) -> TrainResult:
    """Train ``<fst-1>``..``<fst-6>`` tokens and the FST embedding (and the tiny model / LoRA).

    ``data`` is a data set directory (or a manifest with ``fst``); ``base_config`` is the diffusers config
    folder a single-file ``base_model`` needs (see ``load_base_pipeline``); ``resume`` is ``"latest"`` or a
    checkpoint folder. ``progress`` (:mod:`fairskin.progress`) sees the step count, with the mean
    loss of the last 20 steps as its note. Returns where the conditioning was saved and the
    measured step time.
    """
    torch = require("torch", extra="generate", feature="train-conditioning")
    require("diffusers", extra="generate", feature="train-conditioning")

    out = Path(out)
    _check_config(config)
    dev = torch.device(choose_device(device))
    if config.mixed_precision == "fp16" and dev.type != "cuda":
        raise InputError("mixed_precision='fp16' needs a GPU; on CPU use bf16 or no")
    weight_dtype = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[config.mixed_precision]

    frame, styles, root = training_frame(data, labels=labels, format=format)
    model = load_model(config, base_model=base_model, base_config=base_config)
    vae_factor = 2 ** (len(model.vae.config.block_out_channels) - 1)
    resolution = config.resolution or model.unet.config.sample_size * vae_factor
    batch_size = config.batch_size or (16 if model.from_scratch else 32)
    lr = config.learning_rate or (1e-3 if model.from_scratch else (1e-4 if config.lora_rank else 5e-4))
    gen = torch.Generator("cpu").manual_seed(config.seed)
    images = load_images(frame, root, resolution)
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)

    ckpt_dir = out / "checkpoints"
    resume_dir, resume_state = None, {}
    if resume is not None:
        resume_dir = find_checkpoint(ckpt_dir, resume)
        # step and generator state only: tensors and numbers, so nothing in a checkpoint can run code
        resume_state = load_weights(resume_dir / "state.pt", arg="resume")

    vae_time = prepare_vae(model, pixels, vae_steps=config.vae_steps, resume_dir=resume_dir, gen=gen, device=dev,
                           weight_dtype=weight_dtype)
    moments = encode_latents(model.vae, pixels, device=dev, set_scaling=model.from_scratch and resume_dir is None)
    tone_ita, tone_requests = None, None
    if config.tone:  # what each training image asks for: the ITA of its VAE reconstruction
        tone_ita, tone_requests = tone_inputs(model.vae, moments, images, frame["fst"].astype(int).to_numpy(), dev)
    add_fst_tokens(model, gen=gen, tone=config.tone)
    opt = freeze_and_optimise(model, config, lr=lr, device=dev, weight_dtype=weight_dtype)
    if resume_dir is not None:
        load_checkpoint(resume_dir, resume_state, unet=model.unet, text_encoder=model.text_encoder,
                        fst_emb=model.fst_emb, token_ids=model.token_ids, optimizer=opt.optimizer, gen=gen,
                        from_scratch=model.from_scratch, lora=config.lora_rank > 0, ema=opt.ema)

    batches = training_batches(model, frame, styles, moments, tone_ita=tone_ita, type_sampling=config.type_sampling,
                               batch_size=batch_size, draw_weights=_draw_weights)
    step, losses, step_times = _train_loop(
        model, opt, batches, config, gen=gen, device=dev, weight_dtype=weight_dtype, ckpt_dir=ckpt_dir,
        start_step=int(resume_state["step"]) if resume_dir is not None else 0,
        elapsed_before=float(resume_state.get("elapsed_seconds", 0.0)), progress=progress)
    if opt.ema is not None:  # what is saved is the average
        opt.ema.copy_to(opt.trained_params)

    type_counts = torch.bincount(batches.fst_idx, minlength=6)
    path = save_learned(model, out, config=config, base_model=base_model, base_config=base_config,
                        resolution=resolution, tone_requests=tone_requests, train={
                            "learning_rate": lr, "batch_size": batch_size, "lr_schedule": opt.lr_schedule,
                            "ema_decay": opt.ema_decay,
                            "type_counts": {str(k + 1): int(c) for k, c in enumerate(type_counts)},
                            "steps_done": step, "device": dev.type, "n_images": len(frame),
                            "fst_sources": frame["fst_source"].value_counts().to_dict()})
    sps = float(np.median(step_times)) if step_times else math.nan
    return TrainResult(path=path, steps=step, seconds_per_step=sps, vae_seconds_per_step=vae_time,
                       final_loss=float(np.mean(losses[-50:])) if losses else math.nan, schedule=model.schedule)


def _check_config(config: TrainConfig) -> None:
    """The settings no device or data set is needed to refuse."""
    if config.steps < 1:
        raise InputError(f"steps: must be at least 1, got {config.steps}")
    if (config.batch_size is not None and config.batch_size < 1) or config.gradient_accumulation < 1:
        raise InputError("batch_size and gradient_accumulation: each must be at least 1")
    if config.lr_schedule not in ("auto", "constant", "cosine"):
        raise InputError(f"lr_schedule: must be auto, constant or cosine, got {config.lr_schedule!r}")
    if config.ema_decay is not None and not 0.0 <= config.ema_decay < 1.0:
        raise InputError(f"ema_decay: must be in [0, 1), got {config.ema_decay}")
    if config.type_sampling not in ("balanced", "natural"):
        raise InputError(f"type_sampling: must be balanced or natural, got {config.type_sampling!r}")
    _check_tiny_size(config)
    if config.mixed_precision not in ("no", "fp16", "bf16"):
        raise InputError(f"mixed_precision: must be no, fp16 or bf16, got {config.mixed_precision!r}")


def _train_loop(model: TrainParts, opt: TrainOptimiser, batches: TrainBatches, config: TrainConfig, *, gen, device,
                weight_dtype, ckpt_dir: Path, start_step: int, elapsed_before: float, progress: Progress | None):
    """Train from ``start_step`` to ``config.steps`` (or ``max_minutes``, counting the minutes
    trained before a resume), checkpointing every ``checkpoint_every`` steps; only the new tokens'
    rows of the embedding change. Returns the steps done, every micro-batch's loss and each step's time."""
    import torch

    optimizer, scaler, emb_layer = opt.optimizer, opt.scaler, model.emb_layer
    model.unet.train()
    autocast = (torch.autocast(device.type, dtype=weight_dtype) if config.mixed_precision != "no"
                else torch.autocast(device.type, enabled=False))
    keep = torch.ones(len(model.tokenizer), dtype=torch.bool)
    keep[model.token_ids] = False
    t0 = time.perf_counter()

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t0

    step, losses, step_times = start_step, [], []
    n_train = config.steps
    while step < n_train:
        ts = time.perf_counter()
        if opt.lr_schedule == "cosine":  # to 5% of the peak at the end of the run, by steps or by minutes
            frac = step / n_train
            if config.max_minutes:
                frac = max(frac, elapsed() / (60 * config.max_minutes))
            for g, base_lr in zip(optimizer.param_groups, opt.base_lrs):
                g["lr"] = base_lr * _cosine_scale(frac)
        for _ in range(config.gradient_accumulation):
            loss = _batch_loss(model, batches, condition_dropout=config.condition_dropout, gen=gen, device=device,
                               autocast=autocast) / config.gradient_accumulation
            (scaler.scale(loss) if scaler else loss).backward()
            losses.append(float(loss.detach()) * config.gradient_accumulation)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():  # only the new tokens' rows may change
            emb_layer.weight[keep] = model.orig_embeds[keep].to(emb_layer.weight.dtype)
        if opt.ema is not None:
            opt.ema.step(opt.trained_params)
        step += 1
        step_times.append(time.perf_counter() - ts)
        report(progress, "training", step, n_train, f"loss {float(np.mean(losses[-20:])):.4f}")
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < n_train:
            save_checkpoint(ckpt_dir / f"step-{step:06d}", step=step, unet=model.unet, vae=model.vae,
                            text_encoder=model.text_encoder, fst_emb=model.fst_emb, token_ids=model.token_ids,
                            optimizer=optimizer, gen=gen, from_scratch=model.from_scratch,
                            lora=config.lora_rank > 0, ema=opt.ema, elapsed=elapsed())
        if config.max_minutes is not None and elapsed() > 60 * config.max_minutes:
            break
    return step, losses, step_times


def _batch_loss(model: TrainParts, batches: TrainBatches, *, condition_dropout: float, gen, device, autocast):
    """One micro-batch's diffusion loss: draw images (by type with balanced sampling), sample their
    latents, flip half, add (offset) noise at random timesteps, drop the condition (and separately
    the tone request) at ``condition_dropout``, and compare the UNet's prediction (under
    ``autocast``) with its target."""
    import torch
    import torch.nn.functional as F

    b, schedule, noise_scheduler = batches, model.schedule, model.noise_scheduler
    if b.draw_weight is None:
        idx = torch.randint(0, len(b.fst_idx), (b.batch_size,), generator=gen)
    else:
        idx = torch.multinomial(b.draw_weight, b.batch_size, replacement=True, generator=gen)
    m = b.moments[idx]
    lat = m[:, :4] + m[:, 4:] * torch.randn(m[:, :4].shape, generator=gen)
    flip = torch.rand(len(idx), generator=gen) < 0.5
    lat = torch.where(flip[:, None, None, None], lat.flip(-1), lat) * b.scaling
    noise = torch.randn(lat.shape, generator=gen)
    if schedule["noise_offset"]:
        noise = noise + schedule["noise_offset"] * torch.randn((lat.shape[0], lat.shape[1], 1, 1), generator=gen)
    t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(idx),), generator=gen)
    drop = torch.rand(len(idx), generator=gen) < condition_dropout
    ids = torch.where(drop[:, None], b.null_ids.expand(len(idx), -1), b.prompt_ids[idx])
    f = torch.where(drop, torch.full_like(idx, NULL_FST), b.fst_idx[idx])
    ita = None
    if b.tone_ita is not None:  # no request with the dropped condition, and alone as often
        ita = b.tone_ita[idx].masked_fill(drop | (torch.rand(len(idx), generator=gen) < condition_dropout), math.nan)
    lat, noise, t, ids, f = (x.to(device) for x in (lat, noise, t, ids, f))
    noisy = noise_scheduler.add_noise(lat, noise, t)
    target = noise if schedule["prediction_type"] == "epsilon" else noise_scheduler.get_velocity(lat, noise, t)
    unet = model.unet
    with autocast:
        states = model.fst_emb(model.text_encoder(ids)[0], f, ita)
        pred = unet(noisy.to(unet.dtype if not model.tune_unet else noisy.dtype), t,
                    states.to(unet.dtype if not model.tune_unet else states.dtype)).sample
    return F.mse_loss(pred.float(), target.float())


def _check_tiny_size(config: TrainConfig) -> None:
    """The tiny model's widths: group norm over 8 groups and 8 attention heads need multiples of 8,
    the text encoder's 4 heads a multiple of 4; two levels at least (one plain, one with attention)."""
    for name in ("tiny_unet_channels", "tiny_vae_channels"):
        v = tuple(getattr(config, name))
        if len(v) < 2 or any(not isinstance(c, int) or c < 8 or c % 8 for c in v):
            raise InputError(f"{name} must be two or more widths, each a positive multiple of 8, got {v}")
    if not isinstance(config.tiny_text_hidden, int) or config.tiny_text_hidden < 4 or config.tiny_text_hidden % 4:
        raise InputError(f"tiny_text_hidden must be a positive multiple of 4, got {config.tiny_text_hidden}")


def _draw_weights(fst_idx):
    """Per-image weights under which every skin type present is drawn equally often."""
    import torch

    counts = torch.bincount(fst_idx, minlength=6).float()
    return 1.0 / counts[fst_idx]


def _cosine_scale(frac: float, floor: float = 0.05) -> float:
    """Learning-rate factor at fraction ``frac`` of the run: 1 at the start, ``floor`` at the end."""
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(max(frac, 0.0), 1.0)))
