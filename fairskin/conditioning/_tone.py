"""Tone requests: the FST embedding also takes the ITA asked of an image.

Skin type is a band of ITA, and a type token alone leaves the model to pick a tone inside (or
near) the band by chance. With a tone request the model is told which tone to make:

* in training, each image's request is the ITA measured (by ``fairskin label``'s estimator) on its
  VAE reconstruction, the tone its latents actually encode (the tiny VAE moves some tones by
  several degrees);
* in generation, an image of type k asks for an ITA drawn, by its seed, from the training images of
  type k whose measured ITA lies in k's band, so generated tones spread as the real ones do
  (``tone_request``; the balanced manifest records it as ``ita_requested``).

``benchmarks/bench_generation.py`` measures them; the figures behind these choices are in
``docs/generation-measurements.md``.
"""

from __future__ import annotations

import math

import numpy as np

from fairskin.settings import seed_stream
from fairskin.skintone import FST_TYPES

__all__ = ["TONE_FEATURES", "TONE_FREQUENCIES", "tone_features", "request_table", "draw_request"]

#: inputs of the FST embedding's tone network: ITA / 45 and three sine / cosine pairs of it
TONE_FEATURES = 7
#: the pairs' frequencies, in half-turns per 45 degrees of ITA (periods of 180, 90 and 45 degrees).
#: Conditionings written before these were recorded used (1, 2, 4) (periods down to 22.5 degrees).
#: Slower waves than (1, 2, 4): 40-odd type V images cannot pin down faster ones, and with these
#: the generated tones scatter less around what the model makes of a request
#: (``docs/generation-measurements.md``, "Slower tone features", has the runs).
TONE_FREQUENCIES = (0.5, 1.0, 2.0)
#: what a conditioning.json without ``fst_embedding.tone_frequencies`` was trained with
LEGACY_TONE_FREQUENCIES = (1.0, 2.0, 4.0)
#: ITA range used for the open ends of types I and VI when a type has too few measured images
_OPEN_END = (-50.0, 70.0)
#: fewer measured in-band images than this: requests are drawn uniformly over the band
_MIN_TABLE = 5


def tone_features(ita, frequencies=TONE_FREQUENCIES):
    """(n, TONE_FEATURES) features of ITA in degrees (a torch tensor with no NaN)."""
    import torch

    x = ita[:, None] / 45.0
    f = torch.tensor(frequencies, dtype=torch.float32, device=ita.device) * math.pi * x
    return torch.cat([x, torch.sin(f), torch.cos(f)], 1)


def request_table(ita: np.ndarray, fst: np.ndarray, scale) -> dict[str, list[float]]:
    """Per type, 101 quantiles of the measured ITAs of that type's images inside its band
    (uniform over the band when fewer than five are)."""
    table = {}
    for k in FST_TYPES:
        lo, hi = scale.interval(k)
        v = ita[(fst == k) & np.isfinite(ita)]
        v = v[(v > lo) & (v <= hi)]
        if len(v) < _MIN_TABLE:
            v = np.array([max(lo, _OPEN_END[0]), min(hi, _OPEN_END[1])])
        table[str(k)] = [round(float(q), 3) for q in np.quantile(v, np.linspace(0, 1, 101))]
    return table


def draw_request(table: list[float], seed: int) -> float:
    """The ITA asked of the image with this seed (the same seed always asks the same)."""
    u = np.random.default_rng(seed_stream(int(seed), 0x70E)).random()  # the key 0.1 drew with
    return float(np.interp(u * (len(table) - 1), np.arange(len(table)), table))
