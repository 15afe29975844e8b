"""Synthetic images for the experiment: requests (skin type, diagnosis, source image), a generator,
the ITA gate, and a synthetic manifest with provenance.

Two generators:

* :class:`ConditionedImageGenerator` wraps :class:`fairskin.balance.ConditionedGenerator`
  (Stable Diffusion with the skin-tone conditioning of ``fairskin train-conditioning``) in
  image-to-image mode: each image starts from its request's source image.
* :class:`PhantomGenerator` renders a new phantom of the requested type, diagnosis and photo style
  with the demo data's renderer (:func:`fairskin.data.render_phantom`), at an ITA drawn inside the
  type (recorded as the row's ``ita_requested``). It is **not** a generative model:
  it is a stand-in with a known answer, a perfect generator that draws from the very distribution
  the demo data came from, so the experiment on it measures the ceiling of what synthetic images
  could do, not what Stable Diffusion does. Its rows say ``base_model = "phantom-renderer"``.

Every image passes :func:`fairskin.balance.gate_image` (measured skin type within the balance
stage's tolerance of the requested one); rejected requests are retried with a new seed up to
``max_attempts`` times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from fairskin.conditioning._prompts import STYLES
from fairskin.errors import InputError

__all__ = ["GenerationRequest", "ImageGenerator", "PhantomGenerator", "ConditionedImageGenerator",
           "generate_synthetic"]


#: columns of the synthetic manifest written here (the manifest schema plus provenance)
SYNTHETIC_ROW_COLUMNS = ["image", "image_id", "diagnosis", "malignant", "fst_human", "fst_group_human", "source",
                         "patient_id", "lesion_id", "status", "reason", "synthetic", "fst", "fst_source",
                         "fst_requested", "ita_requested", "ita_measured", "fst_measured", "gate", "attempt", "seed",
                         "base_model", "strength", "source_image", "request"]


@dataclass(frozen=True)
class GenerationRequest:
    fst: int  # Fitzpatrick type 1-6 asked for
    diagnosis: str
    malignant: bool
    source_image: str | None = None  # path relative to the real data root (image-to-image source)
    tag: str = ""  # why it was asked for (e.g. "hard-case round 1")
    style: str = STYLES[0]  # the source image's (its manifest's style column), named in the prompt


class ImageGenerator(Protocol):
    name: str

    def generate(self, requests: Sequence[GenerationRequest], seeds: Sequence[int], *, root: Path
                 ) -> list[np.ndarray]: ...

    # optional: ``ita_requested(request, seed) -> float | None``, the ITA (degrees) the image made
    # for ``request`` with ``seed`` is asked to have; a generator without it leaves the column empty


class PhantomGenerator:
    """New phantoms of the requested type, diagnosis and style (a known-answer stand-in, not a generative model)."""

    name = "phantom-renderer"
    strength = None

    def __init__(self, size: int = 64):
        self.size = int(size)

    def _spec(self, r: GenerationRequest, seed: int):
        """The phantom drawn for ``r`` by ``seed``: an ITA inside the requested type, the request's style."""
        from fairskin.data import PhantomSpec
        from fairskin.data._phantoms import sample_ita

        rng = np.random.default_rng(int(seed))
        derm = r.style == "dermoscopy"
        return PhantomSpec(ita=sample_ita(int(r.fst), rng), diagnosis=r.diagnosis, size=self.size, style=r.style,
                           hair=int(rng.integers(0, 25)) if rng.random() < 0.7 else 0,
                           glare=int(rng.integers(0, 4)), ruler=bool(rng.random() < 0.15),
                           background=bool(not derm and rng.random() < 0.4), seed=int(rng.integers(2**31)))

    def generate(self, requests, seeds, *, root: Path) -> list[np.ndarray]:
        from fairskin.data import render_phantom

        return [render_phantom(self._spec(r, s)) for r, s in zip(requests, seeds)]

    def ita_requested(self, request, seed) -> float | None:
        return float(self._spec(request, seed).ita)


class ConditionedImageGenerator:
    """Image-to-image with Stable Diffusion and fairskin's skin-tone conditioning (the balance stage's
    generator); every request needs a source image."""

    def __init__(self, conditioning: str | Path, *, strength: float = 0.6, steps: int = 25, device: str | None = None):
        from fairskin.balance import ConditionedGenerator, GenerateConfig
        from fairskin.conditioning import Conditioning

        self.cond = Conditioning.load(conditioning)
        self.gen = ConditionedGenerator(self.cond, config=GenerateConfig(mode="image", strength=strength, steps=steps),
                                        device=device)
        self.name = str(self.cond.base_model)
        self.strength = strength

    def generate(self, requests, seeds, *, root: Path) -> list[np.ndarray]:
        from PIL import Image

        from fairskin.conditioning import PromptFields, build_prompt
        from fairskin.data import load_rgb

        res = self.gen.resolution
        sources = []
        for r in requests:
            if not r.source_image:
                raise InputError(f"source_image: image-to-image generation needs a source image for {r}")
            im = Image.fromarray(load_rgb(Path(root) / r.source_image).rgb).resize((res, res), Image.BICUBIC)
            sources.append(np.asarray(im))
        prompts = [build_prompt(PromptFields(diagnosis=r.diagnosis, fst=r.fst, style=r.style)) for r in requests]
        return self.gen.generate(prompts, [r.fst for r in requests], list(seeds), sources=sources)

    def ita_requested(self, request, seed) -> float | None:
        return self.cond.tone_request(int(request.fst), int(seed))


def _rounded(ita: float | None):
    return pd.NA if ita is None else round(float(ita), 3)


def generate_synthetic(requests: Sequence[GenerationRequest], *, generator: ImageGenerator, out: str | Path,
                       root: str | Path, seed: int = 0, prefix: str = "syn", max_attempts: int = 4,
                       progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Generate one gated image per request; returns the synthetic manifest (accepted images, paths
    relative to ``out``; ``attrs['attempts']`` counts every try, ``attrs['rejected']`` the rejections).
    Requests whose every attempt is rejected are left out and counted in ``attrs['failed']``."""
    from PIL import Image

    from fairskin.balance import GenerateConfig, gate_image, slot_seed

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    gcfg = GenerateConfig()
    rows, attempts, rejected, failed = [], 0, 0, 0
    asked = getattr(generator, "ita_requested", lambda request, seed: None)
    todo = [(i, r, 1) for i, r in enumerate(requests)]
    while todo:
        batch, todo = todo[:16], todo[16:]
        seeds = [slot_seed(seed, f"{prefix}-{i}", a) for i, _, a in batch]
        images = generator.generate([r for _, r, _ in batch], seeds, root=Path(root))
        for (i, r, a), s, rgb in zip(batch, seeds, images):
            attempts += 1
            tol = gcfg.tolerance_for(int(r.fst))
            g = gate_image(rgb, int(r.fst), tolerance=tol)
            if not g.accepted:
                rejected += 1
                if a < max_attempts:
                    todo.append((i, r, a + 1))
                else:
                    failed += 1
                continue
            name = f"images/{prefix}-{i:05d}.png"
            Image.fromarray(rgb).save(out / name)
            rows.append({
                "image": name, "image_id": f"{prefix}-{i:05d}", "diagnosis": r.diagnosis, "malignant": bool(r.malignant),
                "fst_human": pd.NA, "fst_group_human": pd.NA, "source": "synthetic",
                "patient_id": pd.NA, "lesion_id": pd.NA, "status": "ok", "reason": "",
                "synthetic": True, "fst": int(r.fst), "fst_source": "requested", "fst_requested": int(r.fst),
                "ita_requested": _rounded(asked(r, s)),
                "ita_measured": round(float(g.ita), 3), "fst_measured": g.fst, "gate": "accepted", "attempt": a,
                "seed": int(s), "base_model": generator.name, "strength": getattr(generator, "strength", None),
                "source_image": r.source_image or pd.NA, "request": r.tag,
            })
        if progress:
            progress(len(rows), len(requests))
    df = pd.DataFrame(rows, columns=SYNTHETIC_ROW_COLUMNS)
    df.attrs.update(root=str(out.resolve()), attempts=attempts, rejected=rejected, failed=failed)
    return df
