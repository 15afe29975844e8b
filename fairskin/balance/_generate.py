"""Conditioned generation and the ITA gate.

Every image gets its own ``torch.Generator`` seeded from (run seed, slot, attempt), so an image
does not depend on the batch it was made in, and a rerun reproduces it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fairskin.conditioning._prompts import NEGATIVE_PROMPT
from fairskin.errors import InputError, require

__all__ = ["GenerateConfig", "ConditionedGenerator", "GateResult", "gate_image", "slot_seed"]


@dataclass(frozen=True)
class GenerateConfig:
    """Defaults of generation and the gate (the CLI reads them)."""

    mode: Literal["text", "image"] = "text"  # text-to-image, or re-tone a lighter real image
    strength: float = 0.75  # image-to-image only
    steps: int = 25
    #: classifier-free guidance; None: 1.0 (no guidance) for the built-in tiny model, whose tones are
    #: most exact without it (benchmarks/bench_generation.py), 7.5 for a pretrained base
    guidance: float | None = None
    #: Lin et al. 2024: rescale classifier-free guidance with zero-terminal-SNR models
    guidance_rescale: float = 0.7
    batch_size: int = 16
    negative_prompt: str = NEGATIVE_PROMPT
    #: types the measured FST may differ from the requested one; None: 0 for V and VI, else 1
    tolerance: int | None = None
    max_attempts: int = 10
    seed: int = 0
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"

    def tolerance_for(self, fst: int) -> int:
        if self.tolerance is not None:
            return int(self.tolerance)
        return 0 if fst >= 5 else 1


def slot_seed(seed: int, slot: str, attempt: int) -> int:
    """The seed of one attempt at one plan slot (stable across runs, batches and processes)."""
    digest = hashlib.sha256(f"{seed}/{slot}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass
class GateResult:
    accepted: bool
    ita: float
    fst: int | None
    reason: str


def gate_image(rgb: np.ndarray, fst_requested: int, *, tolerance: int, label_config=None) -> GateResult:
    """Measure a generated image with fairskin label's estimator and accept it if its type is within
    ``tolerance`` types of the requested one."""
    from fairskin.label import measure_tone

    est = measure_tone(rgb, estimator="ita", config=label_config)
    if est.status != "ok" or not est.fst:
        return GateResult(False, est.ita, None, f"no_skin: {est.reason}")
    off = abs(int(est.fst) - int(fst_requested))
    if off > tolerance:
        return GateResult(False, est.ita, int(est.fst),
                          f"fst_mismatch: measured {est.fst} (ITA {est.ita:.1f}), asked {fst_requested}, tolerance {tolerance}")
    return GateResult(True, est.ita, int(est.fst), "")


class ConditionedGenerator:
    """A base pipeline with skin-tone conditioning attached; makes images from structured requests."""

    def __init__(self, conditioning, *, config: GenerateConfig = GenerateConfig(), device: str | None = None):
        torch = require("torch", extra="generate", feature="fairskin balance")
        require("diffusers", extra="generate", feature="fairskin balance")
        from diffusers import StableDiffusionImg2ImgPipeline

        from fairskin.conditioning._bundle import load_base_pipeline

        self.config = config
        self.conditioning = conditioning
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if config.mixed_precision == "fp16" and self.device.type != "cuda":
            raise InputError("--mixed-precision fp16 needs a GPU; on CPU use bf16 or no")
        dtype = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[config.mixed_precision]
        pipe = load_base_pipeline(conditioning.base_model, config=conditioning.base_config,
                                  dtype=None if dtype == torch.float32 else dtype)
        conditioning.attach(pipe)
        pipe.to(self.device)
        self.pipe = pipe
        self.img2img = (StableDiffusionImg2ImgPipeline(**pipe.components, requires_safety_checker=False)
                        if config.mode == "image" else None)
        if self.img2img is not None:
            self.img2img.set_progress_bar_config(disable=True)
        self.resolution = int(conditioning.config.get("resolution") or pipe.unet.config.sample_size * pipe.vae_scale_factor)
        self.zero_snr = bool(conditioning.config["schedule"]["zero_terminal_snr"])
        from_scratch = str(conditioning.config.get("train", {}).get("trained", "")).startswith("tiny")
        self.guidance = float(config.guidance if config.guidance is not None else (1.0 if from_scratch else 7.5))
        self.dtype = dtype

    @property
    def scheduler_name(self) -> str:
        return type(self.pipe.scheduler).__name__

    def generate(self, prompts: list[str], fst: list[int | None], seeds: list[int],
                 sources: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """uint8 RGB images, one per prompt, each from its own seeded generator."""
        import torch

        cfg = self.config
        out: list[np.ndarray] = []
        for i in range(0, len(prompts), cfg.batch_size):
            sl = slice(i, i + cfg.batch_size)
            ita = [self.conditioning.tone_request(f, s) for f, s in zip(fst[sl], seeds[sl])]
            pos, neg = self.conditioning.encode(self.pipe, prompts[sl], fst[sl], negative_prompt=cfg.negative_prompt,
                                                guidance=self.guidance, ita=ita)
            gens = [torch.Generator(self.device).manual_seed(int(s)) for s in seeds[sl]]
            kw = dict(prompt_embeds=pos.to(self.dtype), negative_prompt_embeds=None if neg is None else neg.to(self.dtype),
                      num_inference_steps=cfg.steps, guidance_scale=self.guidance, generator=gens, output_type="np")
            with torch.inference_mode():
                if sources is None:
                    if self.zero_snr and self.guidance > 1:
                        kw["guidance_rescale"] = cfg.guidance_rescale
                    res = self.pipe(height=self.resolution, width=self.resolution, **kw).images
                else:
                    img = torch.from_numpy(np.stack(sources[sl])).permute(0, 3, 1, 2).float() / 255.0
                    res = self.img2img(image=img, strength=cfg.strength, **kw).images
            out.extend(np.clip(np.asarray(r) * 255 + 0.5, 0, 255).astype(np.uint8) for r in res)
        return out
