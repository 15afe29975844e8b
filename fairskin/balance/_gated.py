"""Gated generation, once for every caller: generate -> ITA gate -> retry with a new seed.

``fairskin balance``, ``fairskin experiment`` and the experiment's hard-case loop all make their
synthetic images through :func:`generate_gated`, with any :class:`fairskin.conditioning.Generator`.
Each attempt at a slot gets its own seed from (run seed, slot, attempt), so an image does not
depend on the batch it was made in, and a rerun reproduces it. Every attempt, accepted or not,
carries one provenance record (:data:`PROVENANCE_COLUMNS`: the manifest's synthetic columns,
:data:`fairskin.data.SYNTHETIC_COLUMNS`, plus the diagnosis and the gate's reason).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fairskin.conditioning import NEGATIVE_PROMPT, GenerationRequest, SamplingConfig
from fairskin.data import MANIFEST_COLUMNS, SYNTHETIC_COLUMNS
from fairskin.errors import InputError
from fairskin.progress import Progress, report

__all__ = ["GenerateConfig", "GateResult", "GatedAttempt", "GatedRun", "PROVENANCE_COLUMNS", "Slot",
           "GATE_ESTIMATOR", "gate_estimator", "gate_image", "generate_gated", "generate_synthetic",
           "generator_label", "slot_seed"]

#: one provenance record per attempt, the same for every generator and every caller
PROVENANCE_COLUMNS = ["diagnosis", "malignant", *SYNTHETIC_COLUMNS, "gate_reason"]


@dataclass(frozen=True)
class GenerateConfig:
    """Defaults of generation and the gate (the CLI reads them)."""

    mode: Literal["text", "image"] = "text"  # text-to-image, or re-tone a lighter real image
    strength: float = 0.75  # image-to-image only
    steps: int = 25
    #: classifier-free guidance; None: 1.0 (no guidance) for models trained from scratch here, whose
    #: tones are most exact without it (benchmarks/bench_generation.py), 7.5 for a pretrained base
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

    @property
    def sampling(self) -> SamplingConfig:
        """The generator's part of these settings."""
        return SamplingConfig(mode=self.mode, strength=self.strength, steps=self.steps, guidance=self.guidance,
                              guidance_rescale=self.guidance_rescale, batch_size=self.batch_size,
                              negative_prompt=self.negative_prompt, mixed_precision=self.mixed_precision)


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


#: the estimator the gate measures with: the one whose Fitzpatrick types the plan's cells are in
GATE_ESTIMATOR = "ita"


def gate_estimator(scale=None, *, label_config=None, estimator: str = GATE_ESTIMATOR):
    """The skin-tone estimator the gate measures with, from :mod:`fairskin.skintone`'s registry:
    ``estimator`` (default ``ita``) built with ``label_config`` and, for the ITA estimator, ``scale``
    (name, CSV or :class:`~fairskin.skintone.ItaScale`: the scale the real images' types were read
    with; default the label default). Its tones must be Fitzpatrick types, the plan's cells."""
    from fairskin.label import LabelConfig
    from fairskin.skintone import FITZPATRICK, get_estimator

    options = {"config": label_config or LabelConfig()}
    if scale is not None:
        options["scale"] = scale
    est = get_estimator(estimator, **options)
    if est.tone_scale != FITZPATRICK:
        raise InputError(f"gate estimator {est.name!r} labels on the {est.tone_scale.name} scale; the balance plan's "
                         "cells are Fitzpatrick types, so the gate needs a Fitzpatrick estimator (e.g. 'ita')")
    return est


def gate_image(rgb: np.ndarray, fst_requested: int, *, tolerance: int, label_config=None, scale=None,
               estimator=None) -> GateResult:
    """Measure a generated image with a registered skin-tone estimator (``estimator``, an object
    from :func:`gate_estimator`; default ``gate_estimator(scale, label_config=label_config)``) and
    accept it if its type is within ``tolerance`` types of the requested one."""
    est = (estimator or gate_estimator(scale, label_config=label_config)).estimate_rgb(rgb)
    ita = float(est.values.get("ita", float("nan")))
    if est.status != "ok" or not est.tone:
        return GateResult(False, ita, None, f"no_skin: {est.reason}")
    off = abs(int(est.tone) - int(fst_requested))
    if off > tolerance:
        return GateResult(False, ita, int(est.tone),
                          f"fst_mismatch: measured {est.tone} (ITA {ita:.1f}), asked {fst_requested}, tolerance {tolerance}")
    return GateResult(True, ita, int(est.tone), "")


@dataclass(frozen=True)
class Slot:
    """One image to make: its key (seeds and file names derive from it), its request, and the first
    attempt still to try (1 unless a run is resumed)."""

    key: str
    request: GenerationRequest
    attempt: int = 1


@dataclass
class GatedAttempt:
    """One attempt: the image, the gate's verdict and the provenance record."""

    slot: Slot
    request: GenerationRequest  # as sent to the generator (``prepare`` may have filled style or source)
    attempt: int
    seed: int
    rgb: np.ndarray
    gate: GateResult
    provenance: dict
    final: bool  # no attempt follows this one (accepted, or the last allowed)


@dataclass
class GatedRun:
    attempts: int = 0
    rejected: int = 0
    failed: int = 0  # slots whose every allowed attempt was rejected
    accepted: list[GatedAttempt] = field(default_factory=list)


def generator_label(generator) -> str:
    """The generator's name in provenance: its registry name (or module:Class), else its ``name``."""
    return str(getattr(generator, "registry_name", None) or f"{type(generator).__module__}:{type(generator).__qualname__}")


def _ita_text(v) -> str:
    return "" if v is None or v != v else f"{float(v):.3f}"


def provenance_record(generator, request: GenerationRequest, seed: int, attempt: int, gate: GateResult) -> dict:
    """The provenance of one attempt (:data:`PROVENANCE_COLUMNS`), from any generator."""
    asked = getattr(generator, "ita_requested", None)
    extra = generator.provenance(request, seed) if hasattr(generator, "provenance") else {}
    row = {c: "" for c in PROVENANCE_COLUMNS}
    row.update({"base_model": str(getattr(generator, "name", ""))}, **extra)
    row.update({
        "diagnosis": request.diagnosis, "malignant": "" if request.malignant is None else bool(request.malignant),
        "synthetic": True, "fst": int(request.fst), "fst_source": "requested", "fst_requested": int(request.fst),
        "ita_requested": _ita_text(asked(request, seed) if asked else None), "ita_measured": _ita_text(gate.ita),
        "fst_measured": gate.fst or "", "gate": "accepted" if gate.accepted else "rejected", "attempt": int(attempt),
        "seed": int(seed), "source_image": request.source_image or "", "generator": generator_label(generator),
        "request": request.tag, "gate_reason": gate.reason,
    })
    return row


def generate_gated(slots: Sequence[Slot], *, generator, root: str | Path | None, config: GenerateConfig,
                   scale=None, prepare: Callable[[GenerationRequest, int], GenerationRequest] | None = None,
                   on_attempt: Callable[[GatedAttempt], None] | None = None,
                   progress: Progress | None = None) -> GatedRun:
    """Make one gated image per slot: generate in batches of ``config.batch_size``, measure each
    image (``gate_image`` with ``config.tolerance_for`` and ``scale``), retry a rejected slot with
    the next attempt's seed up to ``config.max_attempts``. ``prepare(request, seed)`` may fill in
    per-attempt choices (a photo style, a source image) from the attempt's seed. ``on_attempt`` sees
    every attempt (to save the image and log its provenance) before the next batch is made.
    ``progress`` (:mod:`fairskin.progress`) sees, after each batch, the slots settled (accepted or
    out of attempts) of all, with the attempts so far as the note."""
    run = GatedRun()
    estimator = gate_estimator(scale)  # built once: the scale is read and checked once per run
    todo = [(s, s.attempt) for s in slots if s.attempt <= config.max_attempts]
    n_slots = len(todo)
    root = None if root is None else Path(root)
    while todo:
        batch, todo = todo[:config.batch_size], todo[config.batch_size:]
        seeds = [slot_seed(config.seed, s.key, a) for s, a in batch]
        requests = [prepare(s.request, seed) if prepare else s.request for (s, _), seed in zip(batch, seeds)]
        images = generator.generate(requests, seeds, root=root)
        if len(images) != len(requests):
            raise InputError(f"generator {generator_label(generator)}: returned {len(images)} images for "
                             f"{len(requests)} requests; generate() must return one image per request")
        retry = []
        for (slot, a), req, seed, rgb in zip(batch, requests, seeds, images):
            rgb = np.asarray(rgb)
            if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                raise InputError(f"generator {generator_label(generator)}: images must be uint8 RGB arrays "
                                 f"(H x W x 3), got {rgb.dtype} {rgb.shape}")
            g = gate_image(rgb, req.fst, tolerance=config.tolerance_for(req.fst), estimator=estimator)
            run.attempts += 1
            again = not g.accepted and a < config.max_attempts
            rec = GatedAttempt(slot=slot, request=req, attempt=a, seed=seed, rgb=rgb, gate=g, final=not again,
                               provenance=provenance_record(generator, req, seed, a, g))
            if g.accepted:
                run.accepted.append(rec)
            else:
                run.rejected += 1
                if again:
                    retry.append((slot, a + 1))
                else:
                    run.failed += 1
            if on_attempt:
                on_attempt(rec)
        todo = retry + todo
        report(progress, "generating", len(run.accepted) + run.failed, n_slots, f"{run.attempts} attempts")
    return run


def generate_synthetic(requests: Sequence[GenerationRequest], *, generator, out: str | Path,
                       root: str | Path | None, seed: int = 0, prefix: str = "syn", max_attempts: int = 4,
                       scale=None, batch_size: int = 16,
                       progress: Progress | None = None) -> pd.DataFrame:
    """Generate one gated image per request into ``out/images``; returns the synthetic manifest
    (accepted images, paths relative to ``out``; the manifest columns plus the provenance columns;
    ``attrs['attempts']`` counts every try, ``attrs['rejected']`` the rejections). Requests whose
    every attempt is rejected are left out and counted in ``attrs['failed']``. ``progress``: as
    :func:`generate_gated`'s."""
    from PIL import Image

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    config = GenerateConfig(max_attempts=max_attempts, seed=seed, batch_size=batch_size)
    rows = []

    def keep(rec: GatedAttempt) -> None:
        if not rec.gate.accepted:
            return
        image_id = ids[rec.slot.key]
        name = f"images/{image_id}.png"
        Image.fromarray(rec.rgb).save(out / name)
        rows.append({**{c: pd.NA for c in MANIFEST_COLUMNS}, **rec.provenance, "image": name, "image_id": image_id,
                     "source": "synthetic", "status": "ok", "reason": ""})

    slots = [Slot(f"{prefix}-{i}", r) for i, r in enumerate(requests)]  # seeds as before: slot "<prefix>-<i>"
    ids = {s.key: f"{prefix}-{i:05d}" for i, s in enumerate(slots)}
    run = generate_gated(slots, generator=generator, root=root, config=config, scale=scale, on_attempt=keep,
                         progress=progress)
    columns = list(MANIFEST_COLUMNS) + list(SYNTHETIC_COLUMNS)
    df = pd.DataFrame(rows, columns=columns).replace({"": pd.NA})
    df["malignant"] = df["malignant"].astype("boolean")
    for c in ("fst", "fst_requested", "fst_measured", "attempt", "seed"):
        df[c] = pd.to_numeric(df[c]).astype("Int64")
    for c in ("ita_requested", "ita_measured"):
        df[c] = pd.to_numeric(df[c]).astype("Float64").round(3)
    df = df.sort_values("image_id", kind="stable").reset_index(drop=True)
    df.attrs.update(root=str(out.resolve()), attempts=run.attempts, rejected=run.rejected, failed=run.failed)
    return df
