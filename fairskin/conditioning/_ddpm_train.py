"""Training the class-conditional DDPM from scratch: read the labelled images, build the seeded
model, learn to predict the noise added at a random timestep (classes dropped to "no class" at
``class_dropout`` for classifier-free guidance), save the weights and the class table."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fairskin.conditioning._ddpm import DdpmModelConfig, DdpmTrainConfig, build_ddpm, class_index, save_ddpm
from fairskin.devices import choose_device
from fairskin.errors import InputError, require
from fairskin.progress import Progress, report
from fairskin.skintone import FST_TYPES

__all__ = ["DdpmTrainResult", "train_ddpm"]


@dataclass
class DdpmTrainResult:
    path: Path
    steps: int
    seconds_per_step: float
    final_loss: float
    n_images: int
    diagnoses: list[str]


def train_ddpm(data, *, out: str | Path, labels: str | Path | None = None, config: DdpmTrainConfig = DdpmTrainConfig(),
               device: str | None = None, format: str | None = None,
               progress: Progress | None = None) -> DdpmTrainResult:
    """Train a DDPM conditioned on skin type x diagnosis on ``data`` (a data set directory or a
    labelled manifest with ``fst`` and ``diagnosis``) and save it into ``out``; ``progress``
    (:mod:`fairskin.progress`) sees the step count, with the loss as its note."""
    torch = require("torch", extra="generate", feature="train-ddpm")
    from fairskin.conditioning._data import labelled_manifest
    from fairskin.conditioning._sd_generator import load_square

    is_labelled = hasattr(data, "columns") and {"fst", "fst_source"} <= set(data.columns)  # e.g. balance's frame
    frame = data.copy() if is_labelled else labelled_manifest(data, labels=labels, format=format)
    frame.attrs = dict(data.attrs) if is_labelled else frame.attrs
    frame = frame[frame["fst"].notna() & frame["diagnosis"].notna()].reset_index(drop=True)
    if not len(frame):
        raise InputError(f"data: no image with a skin type and a diagnosis to train on in {frame.attrs.get('root')}")
    diagnoses = sorted(frame["diagnosis"].astype(str).unique())
    root = Path(frame.attrs["root"])
    images = np.stack([load_square(root / p, config.resolution) for p in frame["image"]])
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    y_all = torch.tensor([class_index(int(f), str(d), diagnoses) for f, d in zip(frame["fst"], frame["diagnosis"])])
    unet, scheduler = build_ddpm(len(diagnoses) * len(FST_TYPES), DdpmModelConfig(resolution=config.resolution,
                                                                      channels=tuple(config.channels), seed=config.seed))
    dev = torch.device(choose_device(device))
    unet.to(dev).train()
    opt = torch.optim.AdamW(unet.parameters(), lr=config.learning_rate)
    gen = torch.Generator("cpu").manual_seed(config.seed)
    null = len(diagnoses) * len(FST_TYPES)
    t0, step, loss_v = time.perf_counter(), 0, float("nan")
    while step < config.steps:
        if config.max_minutes is not None and time.perf_counter() - t0 > 60 * config.max_minutes:
            break
        idx = torch.randint(len(x_all), (min(config.batch_size, len(x_all)),), generator=gen)
        x0, y = x_all[idx], y_all[idx].clone()
        y[torch.rand(len(y), generator=gen) < config.class_dropout] = null
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(scheduler.config.num_train_timesteps, (len(x0),), generator=gen)
        xt = scheduler.add_noise(x0, noise, t)
        pred = unet(xt.to(dev), t.to(dev), class_labels=y.to(dev)).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        loss_v = float(loss.detach())
        report(progress, "training", step, config.steps, f"loss {loss_v:.4f}")
    seconds = time.perf_counter() - t0
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unet.eval()
    save_ddpm(out, unet.cpu(), scheduler, diagnoses=diagnoses,
              info={"train": {**asdict(config), "steps_done": step, "seconds": round(seconds, 1),
                              "final_loss": loss_v, "n_images": len(frame), "data": str(root)}})
    return DdpmTrainResult(path=out, steps=step, seconds_per_step=seconds / max(step, 1), final_loss=loss_v,
                           n_images=len(frame), diagnoses=diagnoses)
