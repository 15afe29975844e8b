"""Synthetic images for the experiment: which generator, made through the one gated loop.

The requests (skin type, diagnosis, source image) are planned by the experiment; the images are
made by :func:`fairskin.balance.generate_synthetic` (generate -> ITA gate -> retry with a new seed,
the provenance schema of ``fairskin balance``) with a generator from the registry of
:mod:`fairskin.conditioning`:

* ``stable-diffusion`` (default): image-to-image from each request's source image with the
  skin-tone conditioning of ``fairskin train-conditioning`` (:func:`ConditionedImageGenerator`);
* ``ddpm``: the class-conditional DDPM of ``fairskin train-ddpm`` (type x diagnosis; the source
  image names the cell only);
* ``phantom``: new phantoms from the demo data's renderer, a perfect-generator stand-in whose
  effect is a ceiling (:class:`~fairskin.conditioning.PhantomGenerator`);
* a user's ``module:Class``.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from fairskin.balance import generate_synthetic
from fairskin.conditioning import (
    GenerationRequest, Generator, PhantomGenerator, SamplingConfig, create_generator, generator_entry,
)
from fairskin.errors import InputError

__all__ = ["ConditionedImageGenerator", "GenerationRequest", "ImageGenerator", "PhantomGenerator",
           "demo_ddpm", "experiment_generator", "generate_synthetic"]

#: the experiment's name for the generator protocol (kept for code written against it)
ImageGenerator = Generator


def ConditionedImageGenerator(conditioning: str | Path, *, strength: float = 0.6, steps: int = 25,  # noqa: N802
                              device: str | None = None):
    """Stable Diffusion with fairskin's skin-tone conditioning, image-to-image from each request's
    source image (the experiment's default generator)."""
    return create_generator("stable-diffusion", conditioning,
                            sampling=SamplingConfig(mode="image", strength=strength, steps=steps), device=device)


def experiment_generator(name: str, *, conditioning, generator_dir, device: str | None, arms: str):
    """The generator ``--generator NAME`` names, from its trained folder."""
    entry = generator_entry(name)
    if entry.name == "stable-diffusion":
        if conditioning is None:
            raise InputError(f"synthetic: arms {arms} need synthetic images: give synthetic=MANIFEST (fairskin "
                             "balance's manifest.csv) or conditioning=DIR (fairskin train-conditioning) to generate "
                             "them here")
        return ConditionedImageGenerator(conditioning, device=device)
    if conditioning is not None:
        raise InputError(f"conditioning: belongs to the stable-diffusion generator; generator={name!r} takes "
                         "generator_dir=DIR")
    if entry.train is not None and generator_dir is None:
        raise InputError(f"generator_dir: the {name} generator needs a trained folder (fairskin train-{name} DATA "
                         "--out DIR)")
    mode = "image" if "image" in entry.modes else "text"
    return create_generator(name, generator_dir, sampling=SamplingConfig(mode=mode), device=device)


def demo_ddpm(folder: Path, train, *, minutes: float, seed: int, device: str | None, say):
    """The built-in demo's DDPM, trained on the training split only (never on validation or test
    images) for ``minutes``, reused when ``folder`` already holds one trained on the same images."""
    from fairskin.conditioning import DdpmTrainConfig, labelled_manifest, train_ddpm

    images_sha = hashlib.sha256(json.dumps(sorted(train["image"].astype(str))).encode()).hexdigest()
    stamp = folder / "trained_on.json"
    sampling = SamplingConfig(mode="text")
    if (folder / "ddpm.json").is_file() and stamp.is_file() and \
            json.loads(stamp.read_text()).get("images_sha") == images_sha:
        say(f"generator: reusing the DDPM in {folder}")
        return create_generator("ddpm", folder, sampling=sampling, device=device)
    frame = labelled_manifest(train.drop(columns=["split"], errors="ignore"))
    say(f"generator: training the class-conditional DDPM on the {len(frame)} training-split images "
        f"({minutes:g} min, CPU; fairskin train-ddpm)")
    t0 = time.perf_counter()
    train_ddpm(frame, out=folder, config=DdpmTrainConfig(steps=100_000, max_minutes=minutes, seed=seed), device=device)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps({"images_sha": images_sha, "n_images": len(frame),
                               "seconds": time.perf_counter() - t0}), encoding="utf-8")
    tmp.replace(stamp)
    return create_generator("ddpm", folder, sampling=sampling, device=device)
