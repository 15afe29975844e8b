import numpy as np
import pytest
from skimage.color import lab2rgb, rgb2lab

from fairskin.label import ita_degrees, lab_to_srgb, srgb_to_lab


def test_matches_skimage_on_random_colours():
    rng = np.random.default_rng(0)
    x = rng.random((2000, 3)).astype(np.float32)
    np.testing.assert_allclose(srgb_to_lab(x), rgb2lab(x), atol=5e-4)
    u = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(srgb_to_lab(u), rgb2lab(u), atol=5e-4)


@pytest.mark.parametrize("rgb, lab", [
    # published sRGB -> CIELAB (D65) values
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0), (53.2408, 80.0925, 67.2032)),
    ((0.0, 0.0, 1.0), (32.2970, 79.1875, -107.8602)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
])
def test_published_values(rgb, lab):
    # published values are rounded to 4 decimals from a matrix given to 6: agree to 5e-3
    np.testing.assert_allclose(srgb_to_lab(np.array(rgb, np.float32)), lab, atol=5e-3)


def test_round_trip_and_skimage_inverse():
    rng = np.random.default_rng(1)
    lab = np.stack([rng.uniform(20, 90, 500), rng.uniform(-5, 25, 500), rng.uniform(-5, 35, 500)], -1)
    np.testing.assert_allclose(lab_to_srgb(lab), np.clip(lab2rgb(lab), 0, 1), atol=1e-4)


def test_ita_uses_atan2_not_atan():
    # b* < 0 (bluish, e.g. a vein or a cast): atan would fold the angle; atan2 does not
    assert ita_degrees(70.0, -10.0) == pytest.approx(180 - np.degrees(np.arctan(20 / 10)))
    assert ita_degrees(50.0, 10.0) == 0.0
    assert ita_degrees(60.0, 10.0) == pytest.approx(45.0)
    assert ita_degrees(40.0, 10.0) == pytest.approx(-45.0)


def test_wrong_channel_count_message():
    with pytest.raises(ValueError, match=r"size 3 along the last axis, got \(4, 4\)"):
        srgb_to_lab(np.zeros((4, 4)))
