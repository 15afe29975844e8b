"""Decoding a large PNG a strip of rows at a time, so that memory stays bounded.

Pillow decodes a PNG whole (4 bytes per pixel: 324 MB for 9000 x 9000) before it can be made
smaller. Here the zlib stream is inflated incrementally and every ``strip`` rows are handed to
Pillow as a small PNG of their own (the same header and colour chunks, the strip's still-filtered
scanlines, stored uncompressed), preceded by the previous strip's last row, unfiltered, so that
the rows whose filter refers to the row above decode exactly. Each strip is reduced (block
average) as soon as it is decoded; only the reduced image grows.

Supported: non-interlaced 8-bit RGB, RGBA, grey and palette PNGs (whose decoded pixels are their
scanline bytes). Others (16-bit, fewer than 8 bits, interlaced) are decoded whole by the caller.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["strip_decodable", "decode_reduced", "StripTooLarge", "MAX_STRIP_PIXELS"]

#: the most pixels one strip may hold, whatever the image's aspect ratio (about 64 MB decoded)
MAX_STRIP_PIXELS = 16_000_000


class StripTooLarge(ValueError):
    """The smallest strip this image can be reduced from holds more than :data:`MAX_STRIP_PIXELS`
    (a very wide image: one strip must hold ``factor`` whole rows)."""

    def __init__(self, width: int, height: int, pixels: int):
        super().__init__(f"{width}x{height} PNG: decoding it needs strips of {pixels:,} pixels, above the limit of "
                         f"{MAX_STRIP_PIXELS:,} (an image this wide cannot be read in small pieces); crop or resize it")
        self.width, self.height, self.pixels = width, height, pixels

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 6: 4}  # colour type -> samples per pixel (8-bit types handled here)
_COPIED = {b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT"}


class _Png:
    def __init__(self, fh):
        if fh.read(8) != _SIGNATURE:
            raise ValueError("not a PNG file")
        length, kind = struct.unpack(">I4s", fh.read(8))
        if kind != b"IHDR" or length != 13:
            raise ValueError("PNG without an IHDR header")
        ihdr = fh.read(13)
        fh.read(4)
        self.width, self.height, self.depth, self.colour, _, _, self.interlace = struct.unpack(">IIBBBBB", ihdr)
        self.ihdr = ihdr
        self.chunks: list[bytes] = []  # colour chunks before the image data, copied into every strip
        self.fh = fh
        self.first_idat: int | None = None
        while True:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("PNG ends before its image data")
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IDAT":
                self.first_idat = length
                return
            data = fh.read(length)
            fh.read(4)
            if kind in _COPIED:
                self.chunks.append(_chunk(kind, data))

    def idat(self, block: int = 1 << 20):
        """The compressed image data, in pieces of at most ``block`` bytes."""
        length = self.first_idat
        while True:
            while length > 0:
                piece = self.fh.read(min(block, length))
                if not piece:
                    raise ValueError("PNG image data is truncated")
                length -= len(piece)
                yield piece
            self.fh.read(4)  # crc
            head = self.fh.read(8)
            if len(head) < 8:
                return
            length, kind = struct.unpack(">I4s", head)
            if kind != b"IDAT":
                return


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def strip_decodable(path: str | Path) -> bool:
    """True for a PNG :func:`decode_reduced` can decode (non-interlaced, 8-bit RGB/RGBA/grey/palette)."""
    try:
        with open(path, "rb") as fh:
            png = _Png(fh)
    except (OSError, ValueError, struct.error):
        return False
    return png.depth == 8 and png.colour in _CHANNELS and png.interlace == 0


def decode_reduced(path: str | Path, factor: int, *, strip: int = 256) -> Image.Image:
    """The PNG at ``path`` reduced by ``factor`` (each ``factor`` x ``factor`` block averaged, as
    :meth:`PIL.Image.Image.reduce`), decoded a strip of rows at a time. Palette images come back
    as RGB or RGBA, the others in their own mode (L, RGB, RGBA).

    Raises ``ValueError`` for a damaged file (truncated, bad compressed data)."""
    factor = max(1, int(factor))
    with open(path, "rb") as fh:
        png = _Png(fh)
        if not (png.depth == 8 and png.colour in _CHANNELS and png.interlace == 0):
            raise ValueError("PNG kind not decodable in strips")
        # rows per strip: a multiple of the factor, as many as MAX_STRIP_PIXELS allows (a wide image: fewer)
        strip = max(factor, min(strip, MAX_STRIP_PIXELS // max(png.width, 1)) // factor * factor)
        if min(strip, png.height) * png.width > MAX_STRIP_PIXELS:
            raise StripTooLarge(png.width, png.height, min(strip, png.height) * png.width)
        row = 1 + png.width * _CHANNELS[png.colour]
        inflate = zlib.decompressobj()
        pending = bytearray()
        previous: bytes | None = None
        parts: list[Image.Image] = []
        done = 0
        pieces = png.idat()
        while done < png.height:
            want = min(strip, png.height - done) * row
            while len(pending) < want:
                if inflate.unconsumed_tail:
                    data = inflate.unconsumed_tail
                else:
                    data = next(pieces, None)
                    if data is None:
                        raise ValueError(f"PNG image data ends after {done + len(pending) // row} of "
                                         f"{png.height} rows (truncated file)")
                try:
                    pending += inflate.decompress(data, want - len(pending) + row)
                except zlib.error as exc:
                    raise ValueError(f"PNG image data is corrupt ({exc})") from None
            rows = bytes(pending[:want])
            del pending[:want]
            n = want // row
            im, last = _decode_strip(png, rows, n, previous)
            previous = last
            parts.append(_reduce(im, factor))
            done += n
    return _stack(parts)


def _decode_strip(png: _Png, rows: bytes, n: int, previous: bytes | None) -> tuple[Image.Image, bytes]:
    """Decode ``n`` filtered scanlines; ``previous`` is the unfiltered row above them."""
    extra = 0 if previous is None else 1
    ihdr = struct.pack(">II", png.width, n + extra) + png.ihdr[8:]
    body = (b"\x00" + previous if previous is not None else b"") + rows
    data = (_SIGNATURE + _chunk(b"IHDR", ihdr) + b"".join(png.chunks)
            + _chunk(b"IDAT", zlib.compress(body, 0)) + _chunk(b"IEND", b""))
    im = Image.open(io.BytesIO(data))
    im.load()
    if extra:
        im = im.crop((0, 1, png.width, n + 1))
    last = np.asarray(im.crop((0, n - 1, png.width, n))).tobytes()
    return im, last


def _reduce(im: Image.Image, factor: int) -> Image.Image:
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    return im.reduce(factor) if factor > 1 else im.copy()


def _stack(parts: list[Image.Image]) -> Image.Image:
    w = parts[0].width
    out = Image.new(parts[0].mode, (w, sum(p.height for p in parts)))
    y = 0
    for p in parts:
        out.paste(p, (0, y))
        y += p.height
    return out
