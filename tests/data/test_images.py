"""Every kind of image a user may hand us: read correctly or refused with a reason."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fairskin.data import ImageLoadError, load_rgb
from fairskin.label import estimate_image

SKIN = (205, 160, 135)


def _skin(h=60, w=80):
    rng = np.random.default_rng(0)
    a = np.empty((h, w, 3), np.uint8)
    a[...] = SKIN
    a = np.clip(a + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    return a


def _status(path):
    with pytest.raises(ImageLoadError) as ei:
        load_rgb(path)
    return ei.value.status, ei.value.reason


def test_rgba_transparent_pixels_are_invalid(tmp_path):
    a = np.dstack([_skin(), np.full((60, 80), 255, np.uint8)])
    a[:, :40, 3] = 0
    a[:, :40, :3] = (0, 0, 255)  # hidden blue must not count
    Image.fromarray(a, "RGBA").save(tmp_path / "x.png")
    img = load_rgb(tmp_path / "x.png")
    assert img.valid is not None and img.valid[:, :40].sum() == 0 and img.valid[:, 40:].all()
    est = estimate_image(tmp_path / "x.png")
    assert est.status == "ok" and est.skin_fraction > 0.5


def test_palette_image(tmp_path):
    Image.fromarray(_skin()).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png")
    assert load_rgb(tmp_path / "p.png").rgb.shape == (60, 80, 3)


def test_16_bit_png_reads_like_8_bit(tmp_path):
    import cv2

    a8 = _skin()
    a16 = a8.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "x16.png"), a16[..., ::-1])
    Image.fromarray(a8).save(tmp_path / "x8.png")
    e16, e8 = estimate_image(tmp_path / "x16.png"), estimate_image(tmp_path / "x8.png")
    assert e16.status == "ok"
    assert e16.ita == pytest.approx(e8.ita, abs=0.3)


def test_grayscale_refused(tmp_path):
    Image.fromarray(_skin()[..., 0]).save(tmp_path / "g.png")
    assert _status(tmp_path / "g.png") == ("grayscale", "grayscale image (mode L): skin tone needs colour")
    Image.fromarray(np.repeat(_skin()[..., :1], 3, axis=2)).save(tmp_path / "g3.png")
    assert _status(tmp_path / "g3.png")[0] == "grayscale"


def test_exif_orientation_is_applied(tmp_path):
    a = _skin(60, 80)
    a[:, :20] = (20, 20, 20)  # a dark strip on the left as stored
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    im.save(tmp_path / "r.jpg", exif=exif, quality=95)
    img = load_rgb(tmp_path / "r.jpg")
    assert img.rgb.shape[:2] == (80, 60)
    assert img.rgb[:20, :, 0].mean() < 60  # the strip is now on top


def test_cmyk_without_profile_refused(tmp_path):
    Image.fromarray(_skin()).convert("CMYK").save(tmp_path / "c.jpg")
    assert _status(tmp_path / "c.jpg") == ("unsupported", "CMYK image without an ICC profile: convert it to sRGB first")


def test_zero_byte_truncated_and_not_an_image(tmp_path):
    (tmp_path / "z.jpg").write_bytes(b"")
    assert _status(tmp_path / "z.jpg") == ("unreadable", "file is empty (0 bytes)")
    Image.fromarray(_skin(200, 200)).save(tmp_path / "t.jpg", quality=90)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 3])
    status, reason = _status(tmp_path / "t.jpg")
    assert status == "unreadable" and reason.startswith("image data is corrupt or truncated")
    (tmp_path / "n.png").write_text("hello, not an image")
    assert _status(tmp_path / "n.png") == ("unreadable", "not an image file Pillow can read")
    assert _status(tmp_path / "missing.png") == ("missing", f"file not found: {tmp_path / 'missing.png'}")


def test_decompression_bomb_refused_without_decoding(tmp_path):
    # a PNG header declaring 40,000 x 40,000 pixels with almost no data behind it
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    status, reason = _status(tmp_path / "bomb.png")
    assert status == "too_large"
    assert "decompression" in reason


def test_embedded_srgb_profile_goes_through_colour_management_unchanged(tmp_path):
    from PIL import ImageCms

    a = _skin()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    Image.fromarray(a).save(tmp_path / "s.png", icc_profile=srgb.tobytes())
    np.testing.assert_allclose(load_rgb(tmp_path / "s.png").rgb.astype(int), a.astype(int), atol=1)
