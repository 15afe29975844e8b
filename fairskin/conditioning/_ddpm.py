"""A class-conditional DDPM: the second generator family behind the same seam.

A pixel-space diffusers ``UNet2DModel`` with one learned class embedding per (skin type x
diagnosis) cell plus a "no class" row for classifier-free guidance, sampled with a
``DDPMScheduler`` (Ho et al. 2020; the family the SkinGenBench study compares with GANs). It is
trained from scratch on the data (:func:`fairskin.conditioning.train_ddpm`), like the built-in tiny
Stable Diffusion, so it runs without hub weights.

A model folder holds ``ddpm.json`` (format version, classes, training settings), ``unet/``
(``save_pretrained`` config + safetensors weights) and ``scheduler/`` (the noise schedule).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairskin.conditioning._generators import GenerationRequest, SamplingConfig
from fairskin.devices import choose_device
from fairskin.errors import InputError, require
from fairskin.skintone import FST_TYPES

__all__ = ["DDPM_CONFIG_NAME", "DdpmModelConfig", "DdpmTrainConfig", "DdpmGenerator", "build_ddpm", "class_index",
           "load_ddpm", "save_ddpm"]

DDPM_CONFIG_NAME = "ddpm.json"
DDPM_FORMAT_VERSION = 1
_WEIGHTS = "diffusion_pytorch_model.safetensors"


@dataclass(frozen=True)
class DdpmModelConfig:
    resolution: int = 32
    channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    num_train_timesteps: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class DdpmTrainConfig:
    """Defaults of ``fairskin train-ddpm`` (the CLI reads them)."""

    resolution: int = DdpmModelConfig.resolution
    channels: tuple[int, ...] = DdpmModelConfig.channels
    steps: int = 3000
    max_minutes: float | None = None
    batch_size: int = 16
    learning_rate: float = 1e-3
    class_dropout: float = 0.1  # share of training images shown as "no class" (classifier-free guidance)
    seed: int = 0


def class_index(fst: int, diagnosis: str, diagnoses: Sequence[str]) -> int:
    """The class of one cell: ``(fst - 1) * len(diagnoses) + position of diagnosis``."""
    if int(fst) not in FST_TYPES:
        raise InputError(f"fst: expected a skin type 1-6, got {fst!r}")
    if diagnosis not in diagnoses:
        raise InputError(f"diagnosis: the ddpm generator was trained on {', '.join(diagnoses)}; it cannot make "
                         f"{diagnosis!r} (train it on data with that diagnosis)")
    return (int(fst) - 1) * len(diagnoses) + list(diagnoses).index(diagnosis)


def build_ddpm(n_classes: int, config: DdpmModelConfig = DdpmModelConfig()):
    """(untrained UNet2DModel with ``n_classes + 1`` class embeddings, DDPMScheduler), seeded."""
    torch = require("torch", extra="generate", feature="the ddpm generator")
    require("diffusers", extra="generate", feature="the ddpm generator")
    from diffusers import DDPMScheduler, UNet2DModel

    n = len(config.channels)
    torch.manual_seed(config.seed)  # module constructors draw from the global generator
    unet = UNet2DModel(sample_size=config.resolution, in_channels=3, out_channels=3,
                       block_out_channels=tuple(config.channels), layers_per_block=config.layers_per_block,
                       down_block_types=("DownBlock2D",) * (n - 1) + ("AttnDownBlock2D",),
                       up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (n - 1),
                       norm_num_groups=8, num_class_embeds=n_classes + 1)
    scheduler = DDPMScheduler(num_train_timesteps=config.num_train_timesteps, beta_schedule="linear",
                              prediction_type="epsilon", clip_sample=True)
    return unet, scheduler


def save_ddpm(folder: Path, unet, scheduler, *, diagnoses: Sequence[str], info: dict) -> Path:
    """Write the model folder; ``ddpm.json`` last, so a folder with it is complete."""
    folder = Path(folder)
    unet.save_pretrained(folder / "unet", safe_serialization=True)
    scheduler.save_pretrained(folder / "scheduler")
    doc = {"format_version": DDPM_FORMAT_VERSION, "generator": "ddpm", "diagnoses": list(diagnoses),
           "types": list(FST_TYPES), "classes": len(FST_TYPES) * len(diagnoses), "null_class": len(FST_TYPES) * len(diagnoses),
           "resolution": int(unet.config.sample_size), **info}
    tmp = folder / (DDPM_CONFIG_NAME + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    tmp.replace(folder / DDPM_CONFIG_NAME)
    return folder / DDPM_CONFIG_NAME


def _model_files(folder: Path) -> list[Path]:
    return [folder / DDPM_CONFIG_NAME, folder / "unet" / "config.json", folder / "unet" / _WEIGHTS,
            folder / "scheduler" / "scheduler_config.json"]


def load_ddpm(folder: str | Path, *, arg: str = "generator_dir"):
    """(UNet2DModel, DDPMScheduler, ddpm.json as a dict, sha256 of the files) from a model folder."""
    require("torch", extra="generate", feature="the ddpm generator")
    require("diffusers", extra="generate", feature="the ddpm generator")
    from diffusers import DDPMScheduler, UNet2DModel

    from fairskin.conditioning._bundle import sha256_files

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{arg}={folder}: no such folder; train one with `fairskin train-ddpm DATA --out {folder}`")
    missing = [p.relative_to(folder).as_posix() for p in _model_files(folder) if not p.is_file()]
    if missing:
        raise InputError(f"{arg}={folder}: not a complete ddpm model folder (missing {', '.join(missing)}); "
                         "fairskin train-ddpm writes ddpm.json, unet/ and scheduler/")
    doc = json.loads((folder / DDPM_CONFIG_NAME).read_text(encoding="utf-8"))
    if doc.get("format_version") != DDPM_FORMAT_VERSION:
        raise InputError(f"{arg}={folder}: {DDPM_CONFIG_NAME} format_version {doc.get('format_version')!r} is not "
                         f"supported (expected {DDPM_FORMAT_VERSION})")
    try:
        unet = UNet2DModel.from_pretrained(folder / "unet", local_files_only=True).eval()
    except (OSError, ValueError, RuntimeError) as e:
        raise InputError(f"{arg}={folder}: unet/ could not be loaded ({e})") from e
    scheduler = DDPMScheduler.from_pretrained(folder / "scheduler", local_files_only=True)
    if unet.config.num_class_embeds != doc["classes"] + 1:
        raise InputError(f"{arg}={folder}: unet/ has {unet.config.num_class_embeds} class embeddings but "
                         f"{DDPM_CONFIG_NAME} names {doc['classes']} classes (+1 for no class)")
    return unet, scheduler, doc, sha256_files(_model_files(folder))


class DdpmGenerator:
    """Class-conditional DDPM sampling, one seeded ``torch.Generator`` per image (text mode only:
    the request's type and diagnosis pick the class; a source image is not used)."""

    registry_name = "ddpm"
    strength = None

    def __init__(self, folder: str | Path, *, config: SamplingConfig = SamplingConfig(), device: str | None = None):
        torch = require("torch", extra="generate", feature="the ddpm generator")
        if config.mode != "text":
            raise InputError("mode='image': the ddpm generator is class-conditional (type x diagnosis) and makes "
                             "images from noise; use mode='text'")
        self.folder = Path(folder)
        self.unet, self.scheduler, self.doc, self.sha256 = load_ddpm(self.folder)
        self.device = torch.device(choose_device(device))
        self.unet.to(self.device)
        self.config = config
        self.guidance = float(config.guidance if config.guidance is not None else 1.0)
        self.diagnoses = list(self.doc["diagnoses"])
        self.resolution = int(self.doc["resolution"])
        self.name = str(self.folder)

    def generate(self, requests: Sequence[GenerationRequest], seeds: Sequence[int], *, root: Path | None = None
                 ) -> list[np.ndarray]:
        import torch

        classes = [class_index(r.fst, r.diagnosis, self.diagnoses) for r in requests]
        out: list[np.ndarray] = []
        bs = self.config.batch_size
        for i in range(0, len(requests), bs):
            out.extend(self._sample(classes[i:i + bs], [int(s) for s in seeds[i:i + bs]], torch))
        return out

    def _sample(self, classes: list[int], seeds: list[int], torch) -> list[np.ndarray]:
        from diffusers import DDPMScheduler

        sched = DDPMScheduler.from_config(self.scheduler.config)
        sched.set_timesteps(self.config.steps, device=self.device)
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        shape = (3, self.resolution, self.resolution)
        x = torch.stack([torch.randn(shape, generator=g) for g in gens]).to(self.device)
        labels = torch.tensor(classes, device=self.device)
        null = torch.full_like(labels, int(self.doc["null_class"]))
        with torch.inference_mode():
            for t in sched.timesteps:
                eps = self.unet(x, t, class_labels=labels).sample
                if self.guidance != 1.0:
                    eps_null = self.unet(x, t, class_labels=null).sample
                    eps = eps_null + self.guidance * (eps - eps_null)
                x = sched.step(eps, t, x, generator=gens).prev_sample  # each image's noise from its own seed
        imgs = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return [np.ascontiguousarray(a) for a in imgs]

    def provenance(self, request: GenerationRequest, seed: int) -> dict:
        return {"prompt": f"class {class_index(request.fst, request.diagnosis, self.diagnoses)}: type {request.fst}, "
                          f"{request.diagnosis}",
                "negative_prompt": "", "base_model": str(self.folder), "base_model_sha256": self.sha256,
                "conditioning": str(self.folder / DDPM_CONFIG_NAME), "conditioning_sha256": self.sha256,
                "scheduler": type(self.scheduler).__name__, "steps": self.config.steps, "guidance": self.guidance,
                "strength": ""}

    def fingerprint(self) -> dict:
        return {"generator": "ddpm", "sha256": self.sha256}

    def describe(self) -> dict:
        return {"base_model": str(self.folder), "base_model_sha256": self.sha256, "method": "ddpm-class-conditional",
                "classes": f"{len(FST_TYPES)} types x {len(self.diagnoses)} diagnoses ({', '.join(self.diagnoses)})",
                "mode": "text", "steps": self.config.steps, "guidance": self.guidance,
                "resolution": self.resolution, "train": self.doc.get("train")}

