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


def _wide_png(path, width: int, height: int, rgb=(200, 150, 120)) -> None:
    """An 8-bit RGB PNG written a row at a time (a few hundred KB on disk, never whole in memory)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_a_very_wide_png_is_refused_within_bounded_memory(tmp_path):
    """Issue 28 row 15: an 11,000,000 x 8 PNG (257 KB) took 1.24 GB per worker; strips hold whole
    rows, so the decoder's memory is bounded by pixels per strip, whatever the aspect ratio."""
    import subprocess
    import sys

    path = tmp_path / "wide.png"
    _wide_png(path, 11_000_000, 8)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageLoadError) as e:
        load_rgb(path, max_side=512)
    assert e.value.status == "too_large" and "11000000x8 PNG" in e.value.reason
    code = ("import resource, sys; from fairskin.data import load_rgb, ImageLoadError\n"
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    load_rgb(sys.argv[1], max_side=512)\nexcept ImageLoadError:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)")
    grown_kb = int(subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                                  check=True).stdout.strip())
    assert grown_kb < 200_000, f"decoding grew the process by {grown_kb / 1024:.0f} MB"


def test_a_too_narrow_image_says_it_has_too_few_pixels_not_too_little_skin():
    """Issue 28 row 15: the reason said "only 100.0% of the image is healthy skin (minimum 4%)"."""
    from fairskin.label._estimate import estimate_rgb

    rng = np.random.default_rng(0)
    rgb = np.clip(np.array((200, 150, 120))[None, None] + rng.normal(0, 4, (8, 4000, 3)), 0, 255).astype(np.uint8)
    est = estimate_rgb(rgb)
    assert est.status == "no_skin"
    assert "healthy-skin pixels at the working size" in est.reason and "minimum 200" in est.reason
    assert "100.0%" not in est.reason
