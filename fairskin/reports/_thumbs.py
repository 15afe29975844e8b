"""Thumbnails as small embedded JPEGs, with a hard cap on count and size per report.

A report never embeds more than ``max_count`` thumbnails of at most ``side`` pixels (long side),
whatever the size of the data set, so a report on 100,000 images stays a few MB.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from fairskin.data import ImageLoadError, load_rgb
from fairskin.reports._html import Markup, esc

__all__ = ["ThumbBudget", "resolve_image"]


def resolve_image(image, root) -> Path | None:
    """An image path from a dict, made absolute against ``root`` (None when it cannot be)."""
    if image is None or str(image) == "":
        return None
    p = Path(str(image))
    if p.is_absolute():
        return p
    if root is None:
        return None
    return Path(root) / p


@dataclass
class ThumbBudget:
    """Makes thumbnails until ``max_count`` have been embedded, then only counts."""

    max_count: int = 96
    side: int = 96
    quality: int = 70
    embedded: int = 0
    skipped: int = 0
    bytes: int = 0
    _cache: dict = field(default_factory=dict)

    def data_uri(self, path: Path) -> tuple[str, tuple[int, int]]:
        """Raise ImageLoadError if the image cannot be read."""
        loaded = load_rgb(path, max_side=self.side * 4)
        im = Image.fromarray(loaded.rgb)
        im.thumbnail((self.side, self.side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=self.quality, optimize=True)
        raw = buf.getvalue()
        self.bytes += len(raw)
        return "data:image/jpeg;base64," + base64.b64encode(raw).decode("ascii"), im.size

    def thumb(self, image, root, *, caption: str = "", alt: str = "") -> Markup | None:
        """A ``<figure class="thumb">`` or None when the cap is reached (counted in ``skipped``)."""
        if self.embedded >= self.max_count:
            self.skipped += 1
            return None
        self.embedded += 1
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        alt = alt or f"image {image}"
        path = resolve_image(image, root)
        if path is None:
            reason = "no image root given" if image else "no image path"
            return Markup(f'<figure class="thumb"><div class="missing" role="img" aria-label="{esc(alt)}: not shown">'
                          f"not shown: {esc(reason)}</div>{cap}</figure>")
        key = str(path)
        try:
            if key not in self._cache:
                self._cache[key] = self.data_uri(path)
            uri, (w, h) = self._cache[key]
        except ImageLoadError as exc:
            return Markup(f'<figure class="thumb"><div class="missing" role="img" aria-label="{esc(alt)}: '
                          f'{esc(exc.status)}">{esc(exc.status)}: {esc(exc.reason)}</div>{cap}</figure>')
        return Markup(f'<figure class="thumb"><img src="{uri}" width="{w}" height="{h}" alt="{esc(alt)}">{cap}</figure>')

    def strip(self, items, root, *, caption=lambda it: "", alt=lambda it: "", image=lambda it: it.get("image"),
              limit: int | None = None) -> Markup:
        """A row of thumbnails for ``items`` (at most ``limit``), with a note of what was left out,
        in one ``<div class="strip">`` (so that in a grid the note stays in the row's cell)."""
        items = list(items)
        shown = []
        left = 0
        for k, it in enumerate(items):
            if limit is not None and k >= limit:
                left += len(items) - k
                break
            t = self.thumb(image(it), root, caption=caption(it), alt=alt(it))
            if t is None:
                left += 1
            else:
                shown.append(t)
        out = '<div class="thumbs">' + "".join(shown) + "</div>"
        if left:
            out += f'<p class="note">{left:,} more not shown (at most {self.max_count} thumbnails per report).</p>'
        return Markup(f'<div class="strip">{out}</div>')  # one element: a grid cell holds the row and its note
