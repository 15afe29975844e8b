"""Step "synthetic": the synthetic images the arms train on, given as a manifest or generated here.

Generated images bring the malignant share of FST V-VI in the training split up to that of the
other groups (:func:`plan_requests`), image-to-image from that split's own images through the ITA
gate (:func:`fairskin.experiment.generate_synthetic`); ``synthetic/plan.json`` records the plan, and
a rerun with the same plan reuses ``synthetic/manifest.csv``."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fairskin.errors import InputError
from fairskin.experiment._arms import ARMS, BASELINE, find_arm
from fairskin.experiment._config import DemoSetup, ExperimentConfig, ExperimentInputs
from fairskin.experiment._data import PreparedData, exact_type, fst_groups
from fairskin.experiment._runs import atomic_json, sha
from fairskin.outputs import write_csv
from fairskin.skintone import FITZPATRICK
from fairskin.train import is_synthetic, labels_of, read_manifest

__all__ = ["SyntheticImages", "pick_generator", "plan_requests", "synthetic_images"]


@dataclass
class SyntheticImages:
    """The synthetic images (``frame``; None when no arm needs them) and where they came from.

    ``origin``: ``"none"``, ``"given"`` (a manifest) or ``"generated"`` (here; ``record`` is
    ``synthetic/plan.json``: plan, generator, attempts, rejected, failed, seconds)."""

    frame: pd.DataFrame | None = None
    origin: str = "none"
    source: str | None = None
    record: dict[str, Any] | None = None
    base_model: list[str] | None = None  # of a given manifest
    note: str | None = None  # what the images are, when they are a stand-in or a toy model's

    def to_dict(self) -> dict[str, Any]:
        """experiment.json's ``synthetic``."""
        if self.origin == "none":
            return {"source": None}
        if self.origin == "given":
            doc = {"source": self.source, "generator": "given manifest", "base_model": self.base_model}
        else:
            doc = {"source": self.source, **(self.record or {})}
        if self.note is not None:
            doc["note"] = self.note
        doc["n"] = int(len(self.frame))
        return doc


def plan_requests(train: pd.DataFrame, *, group: str = FITZPATRICK.darkest_group, tag: str = "balance"):
    """Generation requests that bring the malignant share of ``group`` in the training split up to
    that of the other groups: ``ceil(r * B / (1 - r)) - M`` malignant images of ``group`` (``B``,
    ``M``: its benign and malignant training images; ``r``: the malignant share elsewhere), each
    image-to-image from one of the group's malignant training images in turn (same type and
    diagnosis)."""
    from fairskin.conditioning import style_of
    from fairskin.experiment._generate import GenerationRequest

    y = labels_of(train)
    g = fst_groups(train)
    inside = g == group
    others = (~inside) & (g != "")
    if not inside.any() or not others.any():
        raise InputError(f"synthetic: cannot plan generation: the training split needs images of {group} and of other "
                         "skin-type groups with human labels")
    r = float(y[others].mean())
    B, M = int((y[inside] == 0).sum()), int((y[inside] == 1).sum())
    need = max(0, math.ceil(r * B / (1 - r)) - M) if r < 1 else 0
    sources = train[inside & (y == 1)]
    if need and not len(sources):
        raise InputError(f"synthetic: the training split has no malignant {group} image to start image-to-image "
                         "generation from")
    reqs = []
    rows = sources.to_dict("records")
    for i in range(need):
        row = rows[i % len(rows)]
        t = exact_type(row) or (5 + i % 2)
        reqs.append(GenerationRequest(fst=t, diagnosis=str(row.get("diagnosis") or "malignant"), malignant=True,
                                      source_image=str(row["image"]), style=style_of(row.get("style")), tag=tag))
    return reqs, {"group": group, "malignant_share_elsewhere": r, "benign": B, "malignant": M, "requested": need}


def pick_generator(inputs: ExperimentInputs, cfg: ExperimentConfig, *, demo: DemoSetup, arms, needs_synthetic: bool):
    """The generator of this experiment, chosen before any data is read (so a missing one is said
    at once); None when images are given or not needed, and for the demo's tiny Stable Diffusion,
    which is trained on the training split later (:func:`synthetic_images`)."""
    if inputs.is_demo:
        if demo.generator == "phantom":
            from fairskin.experiment._generate import PhantomGenerator

            return PhantomGenerator(size=demo.size)
        if demo.generator not in ("tiny-sd", "ddpm"):
            raise InputError(f"generator: expected 'tiny-sd', 'ddpm' or 'phantom', got {demo.generator!r}")
        return None
    if inputs.synthetic is None and needs_synthetic:
        from fairskin.experiment._generate import experiment_generator

        return experiment_generator(inputs.generator or "stable-diffusion", conditioning=inputs.conditioning,
                                    generator_dir=inputs.generator_dir,
                                    device=None if cfg.device == "auto" else cfg.device,
                                    arms=", ".join(a for a in arms if a != BASELINE))
    return None


def _demo_generator(cond_dir: Path, train: pd.DataFrame, demo: DemoSetup, cfg: ExperimentConfig, say):
    """The built-in tiny Stable Diffusion, trained on the training split only (never on validation
    or test images), reused when ``cond_dir`` already holds one trained on the same images."""
    from fairskin.conditioning import TrainConfig, labelled_manifest, train_conditioning
    from fairskin.experiment._generate import ConditionedImageGenerator

    device = None if cfg.device == "auto" else cfg.device
    images_sha = sha(sorted(train["image"].astype(str)))
    stamp = cond_dir / "trained_on.json"
    if (cond_dir / "conditioning.json").is_file() and stamp.is_file() and \
            json.loads(stamp.read_text()).get("images_sha") == images_sha:
        say(f"generator: reusing the tiny Stable Diffusion in {cond_dir}")
        return ConditionedImageGenerator(cond_dir, device=device)
    frame = labelled_manifest(train.drop(columns=["split"]))
    say(f"generator: training the built-in tiny Stable Diffusion on the {len(frame)} training-split images "
        f"({demo.generator_minutes:g} min, CPU; fairskin train-conditioning without --base-model)")
    t0 = time.perf_counter()

    def tick(event, _last=[0.0]):
        now = time.perf_counter()
        if now - _last[0] > 30:
            _last[0] = now
            say(f"  generator step {event.done}, {event.message}, {now - t0:.0f} s")

    vae_steps = TrainConfig.vae_steps if demo.generator_vae_steps is None else demo.generator_vae_steps
    train_conditioning(frame, out=cond_dir, device=device, progress=tick,
                       config=TrainConfig(steps=100_000, max_minutes=demo.generator_minutes, vae_steps=vae_steps,
                                          seed=demo.seed))
    atomic_json(stamp, {"images_sha": images_sha, "n_images": len(frame), "seconds": time.perf_counter() - t0})
    return ConditionedImageGenerator(cond_dir, device=device)


def _generated(data: PreparedData, cfg: ExperimentConfig, *, generator, out: Path, say) -> tuple[pd.DataFrame, dict]:
    syn_dir = out / "synthetic"
    manifest_csv = syn_dir / "manifest.csv"
    reqs, plan = plan_requests(data.train_split)
    made = json.loads((syn_dir / "plan.json").read_text()) if manifest_csv.is_file() else {}
    if made.get("plan") == plan and made.get("generator") == generator.name:  # same plan, same generator
        syn_df = read_manifest(manifest_csv, arg="synthetic")
        say(f"synthetic: reusing {len(syn_df)} images in {syn_dir}")
        return syn_df, made
    from fairskin.experiment._generate import generate_synthetic

    say(f"synthetic: generating {len(reqs)} malignant {plan['group']} images with {generator.name} "
        "(image-to-image from the training split, through the ITA gate)")
    t0 = time.perf_counter()
    syn_df = generate_synthetic(reqs, generator=generator, out=syn_dir, root=data.train.attrs["root"],
                                seed=cfg.split_seed)
    write_csv(syn_df, manifest_csv)
    record = {"plan": plan, "generator": generator.name, "attempts": syn_df.attrs["attempts"],
              "rejected": syn_df.attrs["rejected"], "failed": syn_df.attrs["failed"],
              "seconds": time.perf_counter() - t0}
    atomic_json(syn_dir / "plan.json", record)
    return read_manifest(manifest_csv, arg="synthetic"), record


def synthetic_images(inputs: ExperimentInputs, data: PreparedData, cfg: ExperimentConfig, *, generator,
                     demo: DemoSetup, arms, needs_synthetic: bool, out: Path, say) -> tuple[SyntheticImages, Any]:
    """Step "synthetic": the images (and the generator, which the hard-case loop reuses)."""
    if inputs.is_demo and generator is None and needs_synthetic and inputs.synthetic is None \
            and demo.generator == "ddpm":
        from fairskin.experiment._generate import demo_ddpm

        generator = demo_ddpm(out / "ddpm", data.train_split, minutes=demo.generator_minutes, seed=demo.seed,
                              device=None if cfg.device == "auto" else cfg.device, say=say)
    if inputs.is_demo and generator is None and needs_synthetic and inputs.synthetic is None:
        generator = _demo_generator(out / "conditioning", data.train_split, demo, cfg, say)
    if not needs_synthetic:
        return SyntheticImages(), generator
    if inputs.synthetic is not None:
        syn_all = read_manifest(inputs.synthetic, arg="synthetic")
        syn_df = syn_all[is_synthetic(syn_all)] if "synthetic" in syn_all.columns else syn_all
        syn_df.attrs = dict(syn_all.attrs)
        syn = SyntheticImages(syn_df, "given", str(inputs.synthetic),
                              base_model=sorted(set(syn_df["base_model"].dropna().astype(str)))
                              if "base_model" in syn_df else None)
    else:
        syn_df, record = _generated(data, cfg, generator=generator, out=out, say=say)
        syn = SyntheticImages(syn_df, "generated", str(out / "synthetic" / "manifest.csv"), record)
        if inputs.is_demo and demo.generator == "tiny-sd":
            syn.note = (f"synthetic images come from the built-in tiny Stable Diffusion (64 px, trained "
                        f"{demo.generator_minutes:g} CPU minutes from scratch on the training split): "
                        "real generated images through the ITA gate, but from a toy model; a full "
                        "Stable Diffusion fine-tuned on real photographs is what a study would use")
        if inputs.is_demo and demo.generator == "ddpm":
            syn.note = (f"synthetic images come from a class-conditional DDPM (trained {demo.generator_minutes:g} "
                        "CPU minutes from scratch on the training split, one class per skin type x diagnosis) "
                        "through the ITA gate: a toy model")
        if generator.name == "phantom-renderer":
            syn.note = ("synthetic images are new phantoms from the demo data's own renderer, NOT Stable "
                        "Diffusion: a perfect-generator stand-in with a known answer; the effect "
                        "measured is a ceiling, not what fairskin balance's generator achieves")
    if len(syn.frame):
        for name in dict.fromkeys(find_arm(a)[0].name for a in arms):
            if ARMS[name].check is not None:
                ARMS[name].check(syn.frame)
    if not len(syn.frame):
        raise InputError("synthetic: no synthetic image to train on (none given, or every generated image was "
                         "rejected by the ITA gate)")
    return syn, generator
