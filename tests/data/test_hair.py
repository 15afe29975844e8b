"""DullRazor hair removal against phantoms rendered with and without their hair (same random draws)."""

from __future__ import annotations

import numpy as np
import pytest

from fairskin.data import HairRemovalConfig, PhantomSpec, hair_mask, remove_hair, render_phantom, render_phantom_layers
from fairskin.label import LabelConfig, estimate_rgb


def test_layers_differ_by_the_hair_alone_and_keep_render_phantom():
    spec = PhantomSpec(ita=20.0, size=128, hair=30, seed=5)
    lay = render_phantom_layers(spec)
    assert np.array_equal(lay.rgb, render_phantom(spec))
    changed = np.abs(lay.rgb.astype(int) - lay.rgb_hairless).max(-1) > 0
    assert changed.any() and lay.hair.any()
    # what changed is hair or its anti-aliased rim: within a pixel of the hair mask
    import cv2

    near = cv2.dilate(lay.hair.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert not (changed & ~near).any()
    assert np.array_equal(render_phantom_layers(PhantomSpec(ita=20.0, size=128, hair=0, seed=5)).rgb_hairless,
                          render_phantom(PhantomSpec(ita=20.0, size=128, hair=0, seed=5)))


@pytest.mark.parametrize("ita", [60.0, 30.0, 12.0, -25.0])
def test_hair_is_found_and_inpainted_towards_the_hairless_image(ita):
    lay = render_phantom_layers(PhantomSpec(ita=ita, size=160, hair=30, hair_width=1.5, style="clinical", seed=11))
    found = hair_mask(lay.rgb)
    # recall of the drawn hair (lowest on the darkest skin, where hair has the least contrast)
    assert (found & lay.hair).sum() / lay.hair.sum() > 0.75
    out = remove_hair(lay.rgb)
    err_before = np.abs(lay.rgb.astype(float) - lay.rgb_hairless)[lay.hair].mean()
    err_after = np.abs(out.astype(float) - lay.rgb_hairless)[lay.hair].mean()
    assert err_after < 0.3 * err_before
    assert np.array_equal(out[~found], lay.rgb[~found])  # nothing else is touched


def test_ita_error_from_hair_halves_and_hairless_images_stay():
    """The figure of benchmarks/bench_why.py in small: 4 phantoms per type."""
    from fairskin.data._phantoms import sample_ita

    rng = np.random.default_rng(3)
    on = LabelConfig(hair_removal=True)
    hairy, removed, moved = [], [], []
    for t in range(1, 7):
        for i in range(4):
            lay = render_phantom_layers(PhantomSpec(ita=sample_ita(t, rng), size=192, hair=40, hair_width=1.5,
                                                    style="dermoscopy" if i % 2 else "clinical",
                                                    seed=int(rng.integers(2**31))))
            clean = estimate_rgb(lay.rgb_hairless).ita
            hairy.append(abs(estimate_rgb(lay.rgb).ita - clean))
            removed.append(abs(estimate_rgb(lay.rgb, config=on).ita - clean))
            moved.append(abs(estimate_rgb(lay.rgb_hairless, config=on).ita - clean))
    assert np.mean(removed) <= 0.5 * np.mean(hairy)
    assert max(moved) < 1.0


def test_sizes_scale_with_the_image_and_errors_are_exact():
    small = render_phantom(PhantomSpec(ita=30.0, size=96, hair=20, seed=2))
    big = np.repeat(np.repeat(small, 2, 0), 2, 1)
    a = hair_mask(small)
    b = hair_mask(big)[::2, ::2]
    assert (a == b).mean() > 0.9 and (a & b).sum() / a.sum() > 0.85
    assert np.array_equal(remove_hair(np.full((32, 32, 3), 120, np.uint8)), np.full((32, 32, 3), 120, np.uint8))
    with pytest.raises(ValueError, match=r"rgb: expected an H x W x 3 image, got shape \(8, 8\)"):
        hair_mask(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="rgb: expected 8-bit sRGB \\(uint8\\), got float64"):
        remove_hair(np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match=r"mask: expected shape \(8, 8\), got \(4, 4\)"):
        remove_hair(np.zeros((8, 8, 3), np.uint8), mask=np.zeros((4, 4), bool))
    assert HairRemovalConfig().kernel > 0
