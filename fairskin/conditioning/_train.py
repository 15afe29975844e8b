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
VAE trains on random half-side crops with a one-cycle learning rate (``_train_vae``); the UNet's
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

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from fairskin.conditioning._bundle import (
    FORMAT_VERSION, Conditioning, FstEmbedding, base_config_files, base_model_files, load_base_pipeline, sha256_files,
)
from fairskin.conditioning._checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from fairskin.conditioning._prompts import FST_TOKENS, NULL_FST, PromptFields, build_prompt, image_styles
from fairskin.conditioning._tiny import TinyModelConfig, build_tiny_components
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


def _resolve_schedule(config: TrainConfig, *, from_scratch: bool, tune_unet: bool, base_prediction: str) -> dict:
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


def _load_images(frame, root: Path, resolution: int) -> np.ndarray:
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
    import copy

    import torch.nn.functional as F
    from diffusers import DDPMScheduler, StableDiffusionPipeline

    from fairskin.conditioning._data import labelled_manifest

    out = Path(out)
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
    dev = torch.device(choose_device(device))
    if config.mixed_precision == "fp16" and dev.type != "cuda":
        raise InputError("mixed_precision='fp16' needs a GPU; on CPU use bf16 or no")
    weight_dtype = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[config.mixed_precision]

    # ---- data ----------------------------------------------------------------------------
    frame = labelled_manifest(data, labels=labels, format=format)
    frame = frame[~frame["fst"].isna()].reset_index(drop=True)
    if len(frame) == 0:
        raise InputError(f"{data}: no image has a skin type; run `fairskin label {data}` and pass labels='labels.csv'")
    styles = image_styles(frame)  # checked before any training
    root = Path(frame.attrs["root"])

    # ---- base model ----------------------------------------------------------------------
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
    unet, vae, text_encoder, tokenizer = parts["unet"], parts["vae"], parts["text_encoder"], parts["tokenizer"]
    vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
    resolution = config.resolution or unet.config.sample_size * vae_factor
    tune_unet = from_scratch or config.lora_rank > 0
    batch_size = config.batch_size or (16 if from_scratch else 32)
    if from_scratch and config.lora_rank > 0:
        raise InputError("lora_rank=... applies to a pretrained base_model=...; the built-in tiny model trains its whole UNet")
    schedule = _resolve_schedule(config, from_scratch=from_scratch, tune_unet=tune_unet,
                                 base_prediction=parts["scheduler"].config.get("prediction_type", "epsilon"))
    noise_scheduler = DDPMScheduler.from_config(
        parts["scheduler"].config, prediction_type=schedule["prediction_type"],
        rescale_betas_zero_snr=schedule["zero_terminal_snr"], timestep_spacing=schedule["timestep_spacing"])
    lr = config.learning_rate or (1e-3 if from_scratch else (1e-4 if config.lora_rank else 5e-4))

    gen = torch.Generator("cpu").manual_seed(config.seed)
    images = _load_images(frame, root, resolution)
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)

    ckpt_dir = out / "checkpoints"
    start_step = 0
    resume_dir = None
    if resume is not None:
        resume_dir = find_checkpoint(ckpt_dir, resume)
        # step and generator state only: tensors and numbers, so nothing in a checkpoint can run code
        resume_state = load_weights(resume_dir / "state.pt", arg="resume")
        start_step = int(resume_state["step"])

    # ---- tiny model: the VAE learns to reconstruct the images first ------------------------
    vae_time = None
    if from_scratch:
        if resume_dir is not None:
            from safetensors.torch import load_file

            vae.load_state_dict(load_file(str(resume_dir / "vae.safetensors")))
            saved = json.loads((resume_dir / "vae_config.json").read_text())
            vae.register_to_config(scaling_factor=float(saved["scaling_factor"]))
        else:
            vae_time = _train_vae(vae, pixels, steps=config.vae_steps, batch=16, gen=gen,
                                  device=dev)
    vae.requires_grad_(False).eval().to(dev, dtype=weight_dtype if not from_scratch else torch.float32)

    # latents, once (flips are applied to latents; a convolutional VAE is close to equivariant)
    with torch.no_grad():
        moments = []
        for i in range(0, len(pixels), 16):
            dist = vae.encode(pixels[i:i + 16].to(dev, vae.dtype)).latent_dist
            moments.append(torch.cat([dist.mean, dist.std], 1).float().cpu())
        moments = torch.cat(moments)
    if from_scratch and resume_dir is None:
        # SD's 0.18215 for this VAE: unit variance latents
        vae.register_to_config(scaling_factor=float(1.0 / moments[:, :4].std()))
    scaling = vae.config.scaling_factor
    tone_ita, tone_requests = None, None
    if config.tone:  # what each training image asks for: the ITA of its VAE reconstruction
        tone_ita, tone_requests = _tone_inputs(vae, moments, images, frame["fst"].astype(int).to_numpy(), dev)

    # ---- add tokens and initialise them ----------------------------------------------------
    base_tokenizer = copy.deepcopy(tokenizer)
    base_vocab = len(tokenizer)
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
    orig_embeds = emb_layer.weight.detach().clone()
    hidden = text_encoder.config.hidden_size
    fst_emb = FstEmbedding(hidden, tone=config.tone)
    with torch.no_grad():  # start every type at the end-of-sequence state the UNet already attends to
        ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
        eos_state = text_encoder(ids)[0][0, -1].float()
        fst_emb.embedding.weight.copy_(eos_state + torch.randn(fst_emb.embedding.weight.shape, generator=gen) * 0.01)

    # ---- freeze what does not train ------------------------------------------------------
    text_encoder.requires_grad_(False)
    emb_layer.weight.requires_grad_(True)
    unet.requires_grad_(from_scratch)
    if config.lora_rank > 0:
        from peft import LoraConfig

        unet.to(dev, dtype=weight_dtype)
        unet.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_rank, init_lora_weights="gaussian",
                                    target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    unet.to(dev)
    if not tune_unet:
        unet.to(dtype=weight_dtype)
    # fp32 master weights for everything that trains (fp16 trainable params are what makes
    # GradScaler fail with "Attempting to unscale FP16 gradients")
    trainable_unet = [p for p in unet.parameters() if p.requires_grad]
    for p in trainable_unet:
        p.data = p.data.float()
    text_encoder.to(dev)  # fp32: its token embedding trains
    fst_emb.to(dev)
    if config.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
        text_encoder.gradient_checkpointing_enable()
    params = [{"params": [emb_layer.weight, *fst_emb.parameters()], "lr": lr if not from_scratch else lr * 5}]
    if trainable_unet:
        params.append({"params": trainable_unet, "lr": lr})
    optimizer = torch.optim.AdamW(params, weight_decay=0.0)
    lr_schedule = config.lr_schedule if config.lr_schedule != "auto" else ("cosine" if from_scratch else "constant")
    ema_decay = config.ema_decay if config.ema_decay is not None else (0.999 if from_scratch else 0.0)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    trained_params = [emb_layer.weight, *fst_emb.parameters(), *trainable_unet]
    ema = None
    if ema_decay > 0:
        from diffusers.training_utils import EMAModel

        ema = EMAModel(trained_params, decay=ema_decay, use_ema_warmup=True)
    use_scaler = config.mixed_precision == "fp16"
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None

    if resume_dir is not None:
        load_checkpoint(resume_dir, resume_state, unet=unet, text_encoder=text_encoder, fst_emb=fst_emb,
                        token_ids=token_ids, optimizer=optimizer, gen=gen, from_scratch=from_scratch,
                        lora=config.lora_rank > 0, ema=ema)

    # ---- train -----------------------------------------------------------------------------
    fst_idx = torch.tensor(frame["fst"].astype(int).to_numpy() - 1)
    draw_weight = _draw_weights(fst_idx) if config.type_sampling == "balanced" else None
    prompts = [build_prompt(PromptFields(diagnosis=d, fst=int(f), style=st))
               for d, f, st in zip(frame["diagnosis"].fillna(""), frame["fst"], styles)]
    prompt_ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                           return_tensors="pt").input_ids
    null_ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
    unet.train()
    autocast = (torch.autocast(dev.type, dtype=weight_dtype) if config.mixed_precision != "no"
                else torch.autocast(dev.type, enabled=False))
    keep = torch.ones(len(tokenizer), dtype=torch.bool)
    keep[token_ids] = False
    t0 = time.perf_counter()
    # minutes already trained before a resume count against --max-minutes (and the schedule)
    elapsed_before = float(resume_state.get("elapsed_seconds", 0.0)) if resume_dir is not None else 0.0

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t0

    step, losses, step_times = start_step, [], []
    n_train = config.steps
    while step < n_train:
        ts = time.perf_counter()
        if lr_schedule == "cosine":  # to 5% of the peak at the end of the run, by steps or by minutes
            frac = step / n_train
            if config.max_minutes:
                frac = max(frac, elapsed() / (60 * config.max_minutes))
            for g, base_lr in zip(optimizer.param_groups, base_lrs):
                g["lr"] = base_lr * _cosine_scale(frac)
        for _ in range(config.gradient_accumulation):
            if draw_weight is None:
                idx = torch.randint(0, len(frame), (batch_size,), generator=gen)
            else:
                idx = torch.multinomial(draw_weight, batch_size, replacement=True, generator=gen)
            m = moments[idx]
            lat = m[:, :4] + m[:, 4:] * torch.randn(m[:, :4].shape, generator=gen)
            flip = torch.rand(len(idx), generator=gen) < 0.5
            lat = torch.where(flip[:, None, None, None], lat.flip(-1), lat) * scaling
            noise = torch.randn(lat.shape, generator=gen)
            if schedule["noise_offset"]:
                noise = noise + schedule["noise_offset"] * torch.randn((lat.shape[0], lat.shape[1], 1, 1), generator=gen)
            t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(idx),), generator=gen)
            drop = torch.rand(len(idx), generator=gen) < config.condition_dropout
            ids = torch.where(drop[:, None], null_ids.expand(len(idx), -1), prompt_ids[idx])
            f = torch.where(drop, torch.full_like(idx, NULL_FST), fst_idx[idx])
            ita = None
            if tone_ita is not None:  # no request with the dropped condition, and alone as often
                ita = tone_ita[idx].masked_fill(drop | (torch.rand(len(idx), generator=gen) < config.condition_dropout),
                                                math.nan)
            lat, noise, t, ids, f = (x.to(dev) for x in (lat, noise, t, ids, f))
            noisy = noise_scheduler.add_noise(lat, noise, t)
            target = noise if schedule["prediction_type"] == "epsilon" else noise_scheduler.get_velocity(lat, noise, t)
            with autocast:
                states = fst_emb(text_encoder(ids)[0], f, ita)
                pred = unet(noisy.to(unet.dtype if not tune_unet else noisy.dtype), t,
                            states.to(unet.dtype if not tune_unet else states.dtype)).sample
            loss = F.mse_loss(pred.float(), target.float()) / config.gradient_accumulation
            (scaler.scale(loss) if scaler else loss).backward()
            losses.append(float(loss.detach()) * config.gradient_accumulation)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():  # only the new tokens' rows may change
            emb_layer.weight[keep] = orig_embeds[keep].to(emb_layer.weight.dtype)
        if ema is not None:
            ema.step(trained_params)
        step += 1
        step_times.append(time.perf_counter() - ts)
        report(progress, "training", step, n_train, f"loss {float(np.mean(losses[-20:])):.4f}")
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < n_train:
            save_checkpoint(ckpt_dir / f"step-{step:06d}", step=step, unet=unet, vae=vae, text_encoder=text_encoder,
                            fst_emb=fst_emb, token_ids=token_ids, optimizer=optimizer, gen=gen,
                            from_scratch=from_scratch, lora=config.lora_rank > 0, ema=ema, elapsed=elapsed())
        if config.max_minutes is not None and elapsed() > 60 * config.max_minutes:
            break
    if ema is not None:  # what is saved is the average
        ema.copy_to(trained_params)

    # ---- save only what was learned --------------------------------------------------------
    out.mkdir(parents=True, exist_ok=True)
    unet.eval()
    if from_scratch:
        base_te = copy.deepcopy(text_encoder)
        base_te.resize_token_embeddings(base_vocab, mean_resizing=False)
        base_dir = out / "base"
        StableDiffusionPipeline(vae=vae.float().cpu(), text_encoder=base_te.cpu(), tokenizer=base_tokenizer,
                                unet=unet.float().cpu(), scheduler=_inference_base_scheduler(noise_scheduler),
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
    tokens = {tok: emb_layer.weight[tid].detach().float().cpu().clone() for tok, tid in zip(FST_TOKENS.values(), token_ids)}
    cond = Conditioning(path=None, config={
        "format_version": FORMAT_VERSION,
        "base_model": base_ref,
        "base_model_sha256": base_sha,
        "base_config": str(Path(base_config).resolve()) if base_config is not None else None,
        "base_config_sha256": base_config_sha,
        "resolution": resolution,
        "schedule": schedule,
        "fst_embedding": {"num_types": 6, "null_index": NULL_FST, "hidden": hidden, "tone": config.tone},
        "tone": None if tone_requests is None else {"ita_source": "fairskin label estimator on the VAE reconstruction",
                                                   "requests": tone_requests},
        "train": {**asdict(config), "learning_rate": lr, "batch_size": batch_size, "lr_schedule": lr_schedule, "ema_decay": ema_decay,
                  "type_counts": {str(k + 1): int(c) for k, c in enumerate(torch.bincount(fst_idx, minlength=6))}, "steps_done": step, "device": dev.type,
                  "n_images": len(frame), "fst_sources": frame["fst_source"].value_counts().to_dict(),
                  "trained": ("tiny model from scratch (VAE, UNet), " if from_scratch else "")
                  + "tokens, FST embedding" + (f", UNet LoRA r={config.lora_rank}" if lora_state else "")},
    }, token_embeddings=tokens, fst_embedding=fst_emb.cpu(), lora_state=lora_state)
    path = cond.save(out)
    sps = float(np.median(step_times)) if step_times else math.nan
    return TrainResult(path=path, steps=step, seconds_per_step=sps, vae_seconds_per_step=vae_time,
                       final_loss=float(np.mean(losses[-50:])) if losses else math.nan, schedule=schedule)


def _check_tiny_size(config: TrainConfig) -> None:
    """The tiny model's widths: group norm over 8 groups and 8 attention heads need multiples of 8,
    the text encoder's 4 heads a multiple of 4; two levels at least (one plain, one with attention)."""
    for name in ("tiny_unet_channels", "tiny_vae_channels"):
        v = tuple(getattr(config, name))
        if len(v) < 2 or any(not isinstance(c, int) or c < 8 or c % 8 for c in v):
            raise InputError(f"{name} must be two or more widths, each a positive multiple of 8, got {v}")
    if not isinstance(config.tiny_text_hidden, int) or config.tiny_text_hidden < 4 or config.tiny_text_hidden % 4:
        raise InputError(f"tiny_text_hidden must be a positive multiple of 4, got {config.tiny_text_hidden}")


def _tone_inputs(vae, moments, images, fst, device):
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


def _draw_weights(fst_idx):
    """Per-image weights under which every skin type present is drawn equally often."""
    import torch

    counts = torch.bincount(fst_idx, minlength=6).float()
    return 1.0 / counts[fst_idx]


def _cosine_scale(frac: float, floor: float = 0.05) -> float:
    """Learning-rate factor at fraction ``frac`` of the run: 1 at the start, ``floor`` at the end."""
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(max(frac, 0.0), 1.0)))


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
