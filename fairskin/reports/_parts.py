"""Pieces shared by the reports: skin swatches, reliability badges, figures, per-type sections."""

from __future__ import annotations

from collections.abc import Iterable

from fairskin.errors import InputError
from fairskin.reports._html import MIN_RELIABLE_N, Markup, esc
from fairskin.reports._palette import skin_swatch, style_for
from fairskin.skintone import type_label

__all__ = ["swatch", "monk_swatch", "type_badge", "figure", "type_section", "check_schema"]


def swatch(fst: str, ita: float) -> Markup:
    """A box of the skin colour of type ``fst`` at ``ita`` degrees, with its text alternative."""
    colour = skin_swatch(ita)
    return Markup(f'<span class="swatch" style="background:{colour}" role="img" '
                  f'aria-label="skin colour of type {esc(type_label(fst))} at ITA {ita:.0f} degrees ({colour})" '
                  f'title="ITA {ita:.0f}\u00b0, {colour}"></span>')


def monk_swatch(tone: int) -> Markup:
    """A box of Monk Skin Tone ``tone``'s published reference colour, with its text alternative."""
    from fairskin.skintone import MONK_SWATCHES

    colour = MONK_SWATCHES.hex[int(tone) - 1]
    return Markup(f'<span class="swatch" style="background:{colour}" role="img" '
                  f'aria-label="Monk Skin Tone {int(tone)} reference colour ({colour})" '
                  f'title="MST {int(tone)}, {colour}"></span>')


def type_badge(n, min_n: int = MIN_RELIABLE_N, *, flags: Iterable[str] = ()) -> Markup:
    """'unreliable: n<30' (plus any flags given) when ``n`` is below ``min_n`` or flags are set."""
    flags = [f for f in flags if f]
    small = n is not None and n < min_n
    if not small and not flags:
        return Markup("")
    text = f"unreliable: n<{int(min_n)}" if small else "unreliable"
    extra = [f for f in flags if f != "small_n"]
    if extra:
        text += " (" + ", ".join(extra).replace("_", " ") + ")"
    return Markup(f'<span class="badge unreliable">{esc(text)}</span>')


def figure(svg: Markup, caption: str) -> Markup:
    return Markup(f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>")


def type_section(fst: str, title: str, ita: float, badge: Markup, blocks: Iterable, *, sid: str | None = None) -> Markup:
    """One skin type's block: swatch + heading + badge, then ``blocks``; left border in the type's colour."""
    sid = sid or f"type-{fst}"
    head = (f'<div class="typehead">{swatch(fst, ita)}<h3 id="{esc(sid)}-h">{esc(title)}</h3>{badge}</div>')
    return Markup(f'<section id="{esc(sid)}" class="typesec" data-fst="{esc(fst)}" aria-labelledby="{esc(sid)}-h" '
                  f'style="border-left-color:{style_for(fst).colour}">' + head + "".join(esc(b) for b in blocks)
                  + "</section>")


def check_schema(data, want: str | tuple[str, ...], where: str) -> None:
    """Refuse a document whose ``schema`` is not ``want`` (or one of them: the versions the
    renderer reads)."""
    wants = (want,) if isinstance(want, str) else tuple(want)
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a dict (the parsed {wants[0]} JSON), got {type(data).__name__}")
    got = data.get("schema")
    if got not in wants:
        raise InputError(f"{where}: expected schema {' or '.join(repr(w) for w in wants)}, got {got!r}")
