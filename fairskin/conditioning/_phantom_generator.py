"""The phantom stand-in: new phantoms of the requested type, diagnosis and photo style, rendered
with the demo data's own renderer (:func:`fairskin.data.render_phantom`) at an ITA drawn inside the
type (recorded as the row's ``ita_requested``).

It is **not** a generative model: it is a perfect generator that draws from the very distribution
the demo data came from, so an experiment on it measures the ceiling of what synthetic images could
do, not what a diffusion model does. Its rows say ``base_model = "phantom-renderer"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fairskin.conditioning._generators import GenerationRequest

__all__ = ["PhantomGenerator"]


class PhantomGenerator:
    """New phantoms of the requested type, diagnosis and style (a known-answer stand-in)."""

    name = "phantom-renderer"
    registry_name = "phantom"
    strength = None

    def __init__(self, size: int = 64):
        self.size = int(size)

    def _spec(self, r: GenerationRequest, seed: int):
        """The phantom drawn for ``r`` by ``seed``: an ITA inside the requested type, the request's style."""
        from fairskin.data import PhantomSpec, sample_ita

        rng = np.random.default_rng(int(seed))
        derm = r.style == "dermoscopy"
        return PhantomSpec(ita=sample_ita(int(r.fst), rng), diagnosis=r.diagnosis, size=self.size, style=r.style,
                           hair=int(rng.integers(0, 25)) if rng.random() < 0.7 else 0,
                           glare=int(rng.integers(0, 4)), ruler=bool(rng.random() < 0.15),
                           background=bool(not derm and rng.random() < 0.4), seed=int(rng.integers(2**31)))

    def generate(self, requests: Sequence[GenerationRequest], seeds: Sequence[int], *, root: Path | None = None
                 ) -> list[np.ndarray]:
        from fairskin.data import render_phantom

        return [render_phantom(self._spec(r, s)) for r, s in zip(requests, seeds)]

    def ita_requested(self, request: GenerationRequest, seed: int) -> float | None:
        return float(self._spec(request, seed).ita)

    def describe(self) -> dict:
        return {"base_model": self.name, "size": self.size,
                "note": "the demo data's renderer: a known-answer stand-in, not a generative model"}

    def fingerprint(self) -> dict:
        return {"generator": "phantom", "size": self.size}
