"""Large images are never held whole where the format allows (issue 19, row 15): an 8-bit PNG is
decoded a strip at a time, other formats above a pixel budget are refused with a reason. The
memory figures are printed by benchmarks/bench_large_image.py, not asserted here."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import fairskin.data._images as images
from fairskin.data import ImageLoadError, load_rgb


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([170 + 40 * x / w, 120 + 50 * y / h, 90 + 30 * (x * y) / (h * w)], -1)
    return np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)


@pytest.fixture()
def no_whole_png_decode(monkeypatch):
    """Fail if Pillow is asked to decode a PNG of more than 4 million pixels whole."""
    real = PngImagePlugin.PngImageFile.load

    def load(self):
        assert self.size[0] * self.size[1] <= 4_000_000, f"whole decode of a {self.size} PNG"
        return real(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", load)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P"])
def test_a_large_png_is_decoded_in_strips_with_the_same_pixels(tmp_path, mode, no_whole_png_decode):
    rgb = _photo(2100, 2300)
    im = Image.fromarray(rgb)
    if mode == "RGBA":
        im = im.convert("RGBA")
        alpha = np.full(rgb.shape[:2], 255, np.uint8)
        alpha[:300] = 0  # a transparent band at the top
        im.putalpha(Image.fromarray(alpha))
    elif mode == "P":
        im = im.convert("P", palette=Image.Palette.ADAPTIVE)
    im.save(tmp_path / "big.png")
    got = load_rgb(tmp_path / "big.png", max_side=192)
    # the known answer: the same (losslessly saved) image held whole in memory, reduced by the same
    # block average, then resized
    ref = im.convert("RGB") if mode == "P" else im
    k = int(2300 / 192)
    small = ref.reduce(k)
    new = got.rgb.shape[1], got.rgb.shape[0]
    expect = np.asarray(small.convert("RGB").resize(new, Image.Resampling.BOX))
    assert got.rgb.shape == (round(2100 * 192 / 2300), 192, 3) and got.original_size == (2300, 2100)
    np.testing.assert_array_equal(got.rgb, expect)
    if mode == "RGBA":
        assert got.valid is not None and not got.valid[:20].any() and got.valid[40:].all()


def test_a_large_image_of_another_format_is_refused_above_the_budget(tmp_path, monkeypatch):
    Image.fromarray(_photo(500, 600)).save(tmp_path / "big.tif")
    monkeypatch.setattr(images, "MAX_DECODE_PIXELS", 200_000)
    with pytest.raises(ImageLoadError) as e:
        load_rgb(tmp_path / "big.tif", max_side=192)
    assert e.value.status == "too_large"
    assert e.value.reason == ("600x500 TIFF = 300,000 pixels: decoding it whole would need 1 MB, above the limit of "
                              "200,000 pixels for this format (JPEG and 8-bit PNG are read at reduced size); save it "
                              "as JPEG or 8-bit PNG, or make it smaller")
    monkeypatch.setattr(images, "MAX_DECODE_PIXELS", 64_000_000)
    assert load_rgb(tmp_path / "big.tif", max_side=192).rgb.shape == (160, 192, 3)


def test_a_truncated_large_png_is_a_row_reason_not_a_crash(tmp_path):
    Image.fromarray(_photo(2100, 2300)).save(tmp_path / "big.png")
    data = (tmp_path / "big.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError) as e:
        load_rgb(tmp_path / "cut.png", max_side=192)
    assert e.value.status == "unreadable" and "truncated" in e.value.reason
