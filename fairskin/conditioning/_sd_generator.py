"""Stable Diffusion with fairskin's skin-tone conditioning, as a :class:`Generator`.

Every image gets its own ``torch.Generator`` seeded by the caller, so an image does not depend on
the batch it was made in, and a rerun reproduces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fairskin.conditioning._generators import GenerationRequest, SamplingConfig
from fairskin.conditioning._prompts import PromptFields, build_prompt
from fairskin.devices import choose_device
from fairskin.errors import InputError, require

__all__ = ["StableDiffusionGenerator", "load_square"]


def load_square(path: Path, resolution: int) -> np.ndarray:
    """An image centre-cropped to a square and resized to ``resolution`` (bicubic), uint8 RGB."""
    from PIL import Image

    from fairskin.data import load_rgb

    rgb = load_rgb(path).rgb
    h, w = rgb.shape[:2]
    s = min(h, w)
    rgb = rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return np.asarray(Image.fromarray(rgb).resize((resolution, resolution), Image.BICUBIC))


class StableDiffusionGenerator:
    """A base pipeline with skin-tone conditioning attached; makes images from structured requests.

    ``conditioning`` is a folder from ``fairskin train-conditioning`` or a loaded
    :class:`~fairskin.conditioning.Conditioning`; ``pipeline`` (optional) is a ready diffusers
    ``StableDiffusionPipeline`` to attach it to instead of loading the recorded base model."""

    def __init__(self, conditioning, *, config: SamplingConfig = SamplingConfig(), device: str | None = None,
                 pipeline=None):
        torch = require("torch", extra="generate", feature="Stable Diffusion generation")
        require("diffusers", extra="generate", feature="Stable Diffusion generation")
        from diffusers import StableDiffusionImg2ImgPipeline

        from fairskin.conditioning._bundle import Conditioning, load_base_pipeline

        if not isinstance(conditioning, Conditioning):
            conditioning = Conditioning.load(conditioning)
        self.config = config
        self.cond = self.conditioning = conditioning
        self.device = torch.device(choose_device(device))
        if config.mixed_precision == "fp16" and self.device.type != "cuda":
            raise InputError("mixed_precision='fp16' needs a GPU; on CPU use bf16 or no")
        dtype = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[config.mixed_precision]
        pipe = pipeline if pipeline is not None else load_base_pipeline(
            conditioning.base_model, config=conditioning.base_config, dtype=None if dtype == torch.float32 else dtype)
        if pipeline is not None and dtype != torch.float32:
            pipe.to(dtype=dtype)
        conditioning.attach(pipe)
        pipe.to(self.device)
        if self.device.type == "cuda":
            pipe.unet.to(memory_format=torch.channels_last)
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
        self.name = str(conditioning.base_model)
        self.strength = config.strength if config.mode == "image" else None
        self._sources: dict[Path, np.ndarray] = {}

    @property
    def scheduler_name(self) -> str:
        return type(self.pipe.scheduler).__name__

    # -- the Generator protocol ------------------------------------------------------------------------
    def prompt(self, request: GenerationRequest) -> str:
        return build_prompt(PromptFields(diagnosis=request.diagnosis, fst=request.fst, style=request.style))

    def generate(self, requests: Sequence[GenerationRequest], seeds: Sequence[int], *, root: Path | None = None
                 ) -> list[np.ndarray]:
        """uint8 RGB images, one per request; in image mode each starts from its source image."""
        sources = None
        if self.config.mode == "image":
            sources = []
            for r in requests:
                if not r.source_image:
                    raise InputError(f"source_image: image-to-image generation needs a source image for {r}")
                path = Path(root or ".") / r.source_image
                if path not in self._sources:
                    self._sources[path] = load_square(path, self.resolution)
                sources.append(self._sources[path])
        return self.generate_prompts([self.prompt(r) for r in requests], [r.fst for r in requests], list(seeds),
                                     sources=sources)

    def ita_requested(self, request: GenerationRequest, seed: int) -> float | None:
        return self.cond.tone_request(int(request.fst), int(seed))

    def provenance(self, request: GenerationRequest, seed: int) -> dict:
        return {"prompt": self.prompt(request), "negative_prompt": self.config.negative_prompt,
                "base_model": str(self.cond.base_model),
                "base_model_sha256": self.cond.config.get("base_model_sha256", ""),
                "conditioning": str(Path(self.cond.path) / "conditioning.json") if self.cond.path else "",
                "conditioning_sha256": self._sha(), "scheduler": self.scheduler_name, "steps": self.config.steps,
                "guidance": self.guidance, "strength": self.strength if self.strength is not None else ""}

    def _sha(self) -> str:
        if not hasattr(self, "_sha_cache"):
            self._sha_cache = self.cond.sha256()
        return self._sha_cache

    def fingerprint(self) -> dict:
        return {"conditioning_sha256": self._sha()}

    def describe(self) -> dict:
        cfg = self.cond.config
        return {"base_model": str(cfg["base_model"]), "base_model_sha256": cfg.get("base_model_sha256"),
                "conditioning": str(self.cond.path), "conditioning_sha256": self._sha(),
                "method": cfg["train"]["trained"], "mode": self.config.mode, "steps": self.config.steps,
                "guidance": self.guidance, "schedule": cfg["schedule"]}

    # -- prompts in, images out --------------------------------------------------------------------------
    def generate_prompts(self, prompts: list[str], fst: list[int | None], seeds: list[int],
                         sources: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """uint8 RGB images, one per prompt, each from its own seeded generator (``fst`` None: no type)."""
        import torch

        cfg = self.config
        out: list[np.ndarray] = []
        for i in range(0, len(prompts), cfg.batch_size):
            sl = slice(i, i + cfg.batch_size)
            ita = [self.cond.tone_request(f, s) for f, s in zip(fst[sl], seeds[sl])]
            pos, neg = self.cond.encode(self.pipe, prompts[sl], fst[sl], negative_prompt=cfg.negative_prompt,
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
