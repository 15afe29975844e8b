"""The tone scales and the Monk Skin Tone reference colours, checked against the published hex
values, an independent colour conversion (OpenCV) and a simulation of the confidence."""

import math

import cv2
import numpy as np
import pytest

from fairskin.errors import InputError
from fairskin.skintone import FITZPATRICK, MONK, MONK_SWATCHES, get_tone_scale

#: the published MST sRGB reference colours, MST 1 -> MST 10 (skintone.google)
PUBLISHED = ["#f6ede4", "#f3e7db", "#f7ead0", "#eadaba", "#d7bd96", "#a07e56", "#825c43", "#604134", "#3a312a",
             "#292420"]


def test_swatches_are_the_published_colours_with_a_source():
    assert list(MONK_SWATCHES.hex) == PUBLISHED
    assert "skintone.google" in MONK_SWATCHES.source and "Monk" in MONK_SWATCHES.source


def test_swatch_lab_agrees_with_opencv():
    rgb = np.array([[[int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)] for h in PUBLISHED]], np.float32)
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[0]  # OpenCV: D65, float input -> L 0-100, a, b
    np.testing.assert_allclose(MONK_SWATCHES.lab, ref, atol=0.5)  # OpenCV's float path is ~0.3 off


def test_groups_cover_every_tone_once():
    assert MONK.tones == tuple(range(1, 11))
    assert [MONK.group_of(t) for t in MONK.tones] == ["1-3"] * 3 + ["4-7"] * 4 + ["8-10"] * 3
    assert MONK.describe_groups() == "1-3 / 4-7 / 8-10" and FITZPATRICK.describe_groups() == "I-II / III-IV / V-VI"
    assert MONK.label(10) == "MST 10" and FITZPATRICK.label(4) == "IV" and FITZPATRICK.column == "fst"
    with pytest.raises(InputError, match="monk tone must be 1-10, got 11"):
        MONK.group_of(11)
    with pytest.raises(InputError, match="unknown tone scale 'munk'; known: fitzpatrick, monk"):
        get_tone_scale("munk")


@pytest.mark.parametrize("k", range(1, 11))
def test_each_swatch_is_its_own_nearest(k):
    tone, de, conf = MONK_SWATCHES.nearest(MONK_SWATCHES.lab[k - 1])
    assert tone == k and de == pytest.approx(0, abs=1e-9)
    # the nearest other swatch decides: MST 1 and 2 are only 2.7 Delta E apart
    gap = np.sort(np.linalg.norm(MONK_SWATCHES.lab - MONK_SWATCHES.lab[k - 1], axis=1))[1]
    assert conf <= 0.5 * (1 + math.erf(gap / 2 / math.sqrt(2))) + 1e-12
    assert conf >= (0.9 if gap < 3 else 0.99)


@pytest.mark.parametrize("k", range(1, 10))
def test_between_two_swatches_confidence_is_a_half(k):
    mid = (MONK_SWATCHES.lab[k - 1] + MONK_SWATCHES.lab[k]) / 2
    tone, _, conf = MONK_SWATCHES.nearest(mid)
    assert tone in (k, k + 1) and conf == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("point, sd", [(0, 1.0), (0.3, 1.0), (0.45, 2.0), (0.8, 1.5)])
def test_confidence_matches_a_simulation(point, sd):
    """The product-of-half-planes confidence against the share of noisy colours that keep the
    same nearest swatch (MST 1 -> 2 and MST 4 -> 5 lines)."""
    rng = np.random.default_rng(7)
    for a, b in ((0, 1), (3, 4)):
        x = MONK_SWATCHES.lab[a] + point * (MONK_SWATCHES.lab[b] - MONK_SWATCHES.lab[a])
        tone, _, conf = MONK_SWATCHES.nearest(x, sd=sd)
        noisy = x + rng.normal(0, sd, (20000, 3))
        nearest = np.argmin(np.linalg.norm(noisy[:, None] - MONK_SWATCHES.lab[None], axis=2), axis=1) + 1
        assert conf == pytest.approx(np.mean(nearest == tone), abs=0.03)


def test_nearest_refuses_bad_input():
    with pytest.raises(InputError, match=r"CIELAB colour must be finite, got \[nan, 0.0, 0.0\]"):
        MONK_SWATCHES.nearest([math.nan, 0, 0])
    with pytest.raises(InputError, match="sd must be positive, got 0"):
        MONK_SWATCHES.nearest([50, 5, 10], sd=0)
