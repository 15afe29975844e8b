"""Loading user images safely: every failure becomes a status and a reason, never a crash.

Handled: EXIF orientation, palette, RGBA/LA (transparent pixels are marked invalid),
16-bit PNG/TIFF, embedded ICC profiles (converted to sRGB), decompression bombs, truncated
and zero-byte files. Refused with a reason: grayscale (skin tone needs colour), CMYK without
a profile to convert it by, files that are not images.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

__all__ = ["LoadedImage", "ImageLoadError", "load_rgb", "IMAGE_EXTENSIONS", "MAX_PIXELS"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

#: Images with more pixels than this are refused as possible decompression bombs (about
#: 15,000 x 10,000; the largest dermatology photographs are ~6,000 x 4,000).
MAX_PIXELS = 150_000_000

_SRGB_PROFILE = ImageCms.createProfile("sRGB")


class ImageLoadError(Exception):
    """An image that cannot be used; ``status`` is a short code, ``reason`` a sentence."""

    def __init__(self, status: str, reason: str):
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


@dataclass
class LoadedImage:
    rgb: np.ndarray  # uint8, H x W x 3, sRGB-encoded
    valid: np.ndarray | None  # bool H x W, False where the image is transparent; None if all valid
    original_size: tuple[int, int]  # (width, height) as stored, before any down-scaling
    mode: str  # PIL mode of the file


def _open(path: Path) -> Image.Image:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageLoadError("missing", f"file not found: {path}") from None
    except OSError as exc:
        raise ImageLoadError("unreadable", f"cannot stat {path}: {exc.strerror}") from None
    if size == 0:
        raise ImageLoadError("unreadable", "file is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except UnidentifiedImageError:
            raise ImageLoadError("unreadable", "not an image file Pillow can read") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageLoadError("too_large", "image dimensions exceed the decompression-bomb limit") from None
        except OSError as exc:
            raise ImageLoadError("unreadable", f"cannot open image: {exc}") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise ImageLoadError("too_large", f"{w}x{h} = {w * h:,} pixels exceeds the limit of {MAX_PIXELS:,} (possible decompression bomb)")
    if w < 8 or h < 8:
        im.close()
        raise ImageLoadError("unsupported", f"image is only {w}x{h} pixels")
    return im


def load_rgb(path: str | os.PathLike, *, max_side: int | None = None) -> LoadedImage:
    """Read an image as 8-bit sRGB (H x W x 3 uint8), optionally down-scaled so its long side is
    at most ``max_side`` (JPEGs are decoded at reduced scale, which is much faster).

    Raises :class:`ImageLoadError` with a status (missing, unreadable, too_large,
    unsupported, grayscale) and a reason.
    """
    path = Path(path)
    im = _open(path)
    original_size = im.size
    mode = im.mode
    try:
        if mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            raise ImageLoadError("grayscale", f"grayscale image (mode {mode}): skin tone needs colour")
        icc = im.info.get("icc_profile")
        if mode == "CMYK" and not icc:
            raise ImageLoadError("unsupported", "CMYK image without an ICC profile: convert it to sRGB first")
        if max_side and im.format == "JPEG" and mode in ("RGB", "YCbCr", "CMYK"):
            w, h = im.size
            scale = max(w, h) / max_side
            if scale >= 2:
                im.draft(im.mode, (int(w / scale) + 1, int(h / scale) + 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # truncated EXIF chunks etc.
            im.load()
            im = ImageOps.exif_transpose(im)
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if icc and im.mode in ("RGB", "RGBA", "CMYK"):
            im = _to_srgb(im, icc)
        alpha = None
        if im.mode in ("RGBA", "RGBa", "PA"):
            alpha = np.asarray(im.getchannel("A"))
            im = im.convert("RGB")
        elif im.mode in ("I;16", "I;16B", "I;16L"):
            raise ImageLoadError("grayscale", f"grayscale image (mode {im.mode}): skin tone needs colour")
        elif im.mode != "RGB":
            im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            scale = max(im.size) / max_side
            new = (max(1, round(im.size[0] / scale)), max(1, round(im.size[1] / scale)))
            im = im.resize(new, Image.Resampling.BOX)
            if alpha is not None:
                alpha = np.asarray(Image.fromarray(alpha).resize(new, Image.Resampling.NEAREST))
        rgb = np.asarray(im, dtype=np.uint8)
    except ImageLoadError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError("unreadable", f"image data is corrupt or truncated ({exc})") from None
    finally:
        im.close()
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageLoadError("unsupported", f"unexpected pixel layout {rgb.shape}")
    c = rgb.astype(np.int16)
    if np.abs(c[..., 0] - c[..., 1]).max() <= 1 and np.abs(c[..., 1] - c[..., 2]).max() <= 1:
        raise ImageLoadError("grayscale", "image has three channels but no colour (R = G = B): skin tone needs colour")
    valid = None
    if alpha is not None:
        valid = alpha > 127
        if not valid.any():
            raise ImageLoadError("unsupported", "image is fully transparent")
        if valid.all():
            valid = None
    return LoadedImage(rgb=rgb, valid=valid, original_size=original_size, mode=mode)


def _to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """Convert an image with an embedded ICC profile to sRGB (e.g. Display P3 phone photos)."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError):
        if im.mode == "CMYK":
            raise ImageLoadError("unsupported", "CMYK image with an unreadable ICC profile") from None
        return im  # broken profile on an RGB image: assume sRGB, as browsers do
    out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
    try:
        return ImageCms.profileToProfile(im, src, _SRGB_PROFILE, outputMode=out_mode)
    except ImageCms.PyCMSError as exc:
        if im.mode == "CMYK":
            raise ImageLoadError("unsupported", f"cannot convert CMYK to sRGB: {exc}") from None
        return im
