"""Loading user images safely: every failure becomes a status and a reason, never a crash.

Handled: EXIF orientation, palette, RGBA/LA (transparent pixels are marked invalid),
16-bit PNG/TIFF, embedded ICC profiles (converted to sRGB), decompression bombs, truncated
and zero-byte files. Refused with a reason: grayscale (skin tone needs colour), CMYK without
a profile to convert it by, files that are not images.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from fairskin.data._names import fs_path
from fairskin.data._png import StripTooLarge, decode_reduced, strip_decodable

__all__ = ["LoadedImage", "ImageLoadError", "load_rgb", "load_mask", "IMAGE_EXTENSIONS", "MAX_PIXELS", "MAX_DECODE_PIXELS"]

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


#: Formats other than JPEG and 8-bit PNG are decoded whole before they are made smaller; above this
#: many pixels (256 MB at Pillow's 4 bytes per pixel) they are refused instead, with a reason.
MAX_DECODE_PIXELS = 64_000_000
#: 8-bit PNGs larger than this are decoded a strip at a time (:mod:`fairskin.data._png`)
STRIP_DECODE_PIXELS = 4_000_000
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_ORIENTATION = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                8: Image.Transpose.ROTATE_90}


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation, read without decoding pixels (Pillow's PNG getexif() decodes the whole
    image to look for an eXIf chunk after the image data; only one before it is read here)."""
    try:
        if im.format == "PNG":
            exif = Image.Exif()
            exif.load(im.info.get("exif", b""))
        else:
            exif = im.getexif()
        return int(exif.get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block: read as upright, as browsers do
        return 1


def _target(size: tuple[int, int], max_side: int | None) -> tuple[int, int] | None:
    if not max_side or max(size) <= max_side:
        return None
    scale = max(size) / max_side
    return max(1, round(size[0] / scale)), max(1, round(size[1] / scale))


def _decode(path: Path, im: Image.Image, max_side: int | None) -> Image.Image:
    """Pixels of ``im``, at most ``max_side`` on the long side when given, with as little memory as the
    format allows: JPEG decodes at a reduced scale, 8-bit PNG a strip at a time; the rest whole,
    within :data:`MAX_DECODE_PIXELS`."""
    w, h = im.size
    new = _target(im.size, max_side)
    if new is not None and im.format == "JPEG" and im.mode in ("RGB", "YCbCr", "CMYK"):
        scale = max(w, h) / max_side
        if scale >= 2:
            im.draft(im.mode, (int(w / scale) + 1, int(h / scale) + 1))
    elif new is not None and im.format == "PNG" and w * h > STRIP_DECODE_PIXELS and strip_decodable(path):
        try:
            return decode_reduced(path, max(1, int(max(w, h) / max_side)))
        except StripTooLarge as exc:
            raise ImageLoadError("too_large", str(exc)) from None
    elif w * h > MAX_DECODE_PIXELS:
        raise ImageLoadError("too_large", f"{w}x{h} {im.format or 'image'} = {w * h:,} pixels: decoding it whole "
                             f"would need {4 * w * h / 1e6:,.0f} MB, above the limit of {MAX_DECODE_PIXELS:,} pixels "
                             "for this format (JPEG and 8-bit PNG are read at reduced size); save it as JPEG or "
                             "8-bit PNG, or make it smaller")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncated EXIF chunks etc.
        im.load()
    return im


@contextlib.contextmanager
def _decoding(im: Image.Image, what: str):
    """Close ``im`` at the end; a damaged file's error (whatever Pillow or zlib raises) becomes an
    :class:`ImageLoadError` with a reason."""
    try:
        yield
    except ImageLoadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error) as exc:
        raise ImageLoadError("unreadable", f"{what} data is corrupt or truncated ({exc})") from None
    except Image.DecompressionBombError:
        raise ImageLoadError("too_large", f"{what} dimensions exceed the decompression-bomb limit") from None
    finally:
        im.close()


def load_rgb(path: str | os.PathLike, *, max_side: int | None = None) -> LoadedImage:
    """Read an image as 8-bit sRGB (H x W x 3 uint8), optionally down-scaled so its long side is
    at most ``max_side``. Large images are never held whole where the format allows: JPEGs are
    decoded at reduced scale and 8-bit PNGs a strip of rows at a time; other formats are decoded
    whole up to :data:`MAX_DECODE_PIXELS` and refused above it.

    Raises :class:`ImageLoadError` with a status (missing, unreadable, too_large,
    unsupported, grayscale) and a reason.
    """
    path = fs_path(path)  # a name carried escaped (not UTF-8) back to the file's
    im = _open(path)
    original_size = im.size
    mode = im.mode
    with _decoding(im, "image"):
        if mode in _GREY_MODES:
            raise ImageLoadError("grayscale", f"grayscale image (mode {mode}): skin tone needs colour")
        icc = im.info.get("icc_profile")
        if mode == "CMYK" and not icc:
            raise ImageLoadError("unsupported", "CMYK image without an ICC profile: convert it to sRGB first")
        orientation = _orientation(im)
        px = _decode(path, im, max_side)
        if px.mode == "P":
            px = px.convert("RGBA" if "transparency" in px.info else "RGB")
        alpha = None
        if px.mode in ("RGBA", "RGBa", "PA", "LA"):
            alpha = px.getchannel("A")
            px = px.convert("RGB")
        elif px.mode in ("I;16", "I;16B", "I;16L"):
            raise ImageLoadError("grayscale", f"grayscale image (mode {px.mode}): skin tone needs colour")
        new = _target(original_size, max_side)
        if new is not None and px.size != new:  # made small first: what follows touches few pixels
            px = px.resize(new, Image.Resampling.BOX)
            if alpha is not None:
                alpha = alpha.resize(new, Image.Resampling.NEAREST)
        if icc and px.mode in ("RGB", "CMYK"):
            px = _to_srgb(px, icc)
        if px.mode != "RGB":
            px = px.convert("RGB")
        if orientation in _ORIENTATION:
            px = px.transpose(_ORIENTATION[orientation])
            if alpha is not None:
                alpha = alpha.transpose(_ORIENTATION[orientation])
        rgb = np.asarray(px, dtype=np.uint8)
        alpha = None if alpha is None else np.asarray(alpha)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageLoadError("unsupported", f"unexpected pixel layout {rgb.shape}")
    if _no_colour(rgb):
        raise ImageLoadError("grayscale", "image has three channels but no colour (R = G = B): skin tone needs colour")
    valid = None
    if alpha is not None:
        valid = alpha > 127
        if not valid.any():
            raise ImageLoadError("unsupported", "image is fully transparent")
        if valid.all():
            valid = None
    return LoadedImage(rgb=rgb, valid=valid, original_size=original_size, mode=mode)


def _no_colour(rgb: np.ndarray, rows: int = 256) -> bool:
    """True when R, G and B differ by at most 1 everywhere (checked a block of rows at a time, so a
    full-size image needs no full-size temporary)."""
    for y in range(0, rgb.shape[0], rows):
        c = rgb[y:y + rows].astype(np.int16)
        if np.abs(c[..., 0] - c[..., 1]).max(initial=0) > 1 or np.abs(c[..., 1] - c[..., 2]).max(initial=0) > 1:
            return False
    return True


def load_mask(path: str | os.PathLike, *, max_side: int | None = None) -> np.ndarray:
    """A lesion mask file (white = lesion) as a bool array, at most ``max_side`` on its long side.

    Opened with the same checks as :func:`load_rgb` (size limits, decompression bombs, damaged
    files): a bad mask raises :class:`ImageLoadError`, never another exception."""
    path = fs_path(path)  # a name carried escaped (not UTF-8) back to the file's
    im = _open(path)
    with _decoding(im, "mask"):
        orientation = _orientation(im)
        px = _decode(path, im, max_side)
        px = px.convert("L")
        new = _target(im.size, max_side)
        if new is not None and px.size != new:
            px = px.resize(new, Image.Resampling.BOX)
        if orientation in _ORIENTATION:
            px = px.transpose(_ORIENTATION[orientation])
        arr = np.asarray(px)
    return arr > 127


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
