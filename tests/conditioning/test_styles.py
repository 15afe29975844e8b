"""Photo styles in prompts: read from the manifest, drawn for generated images from their cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairskin.conditioning import StyleMix, image_styles, style_of
from fairskin.errors import InputError


def _frame():
    return pd.DataFrame({
        "fst": [5, 5, 5, 5, 6, 2, np.nan],
        "diagnosis": ["melanoma", "melanoma", "nevus", "nevus", "melanoma", "nevus", "nevus"],
        "style": ["clinical", " Clinical", "dermoscopy", "clinical", None, "", "clinical"],
    })


def test_styles_are_read_from_the_manifest():
    assert list(image_styles(_frame())) == ["clinical", "clinical", "dermoscopy", "clinical", "dermoscopy",
                                            "dermoscopy", "clinical"]
    assert list(image_styles(_frame().drop(columns="style"))) == ["dermoscopy"] * 7  # no column: as before
    with pytest.raises(InputError, match=r"column 'style': 'macro' is not an imaging style; use dermoscopy or clinical"):
        image_styles(_frame().assign(style=["macro"] + [""] * 6))
    assert style_of(float("nan")) == "dermoscopy"


def test_generated_images_take_their_cells_styles():
    mix = StyleMix(_frame())
    assert {mix.draw(5, "melanoma", s) for s in range(100)} == {"clinical"}  # the cell's real images
    nevus = [mix.draw(5, "nevus", s) for s in range(4000)]
    assert 0.45 < np.mean([st == "clinical" for st in nevus]) < 0.55  # one of two
    assert mix.draw(5, "nevus", 11) == mix.draw(5, "nevus", 11)  # fixed by the seed
    # a cell with no real image: its type's mix (3 clinical of 4), then the whole set's
    other = [mix.draw(5, "keratosis", s) for s in range(4000)]
    assert 0.70 < np.mean([st == "clinical" for st in other]) < 0.80
    assert {mix.draw(6, "nevus", s) for s in range(100)} == {"dermoscopy"}
    assert {mix.draw(3, "nevus", s) for s in range(200)} == {"clinical", "dermoscopy"}
    assert {StyleMix(_frame().drop(columns="style")).draw(5, "nevus", s) for s in range(50)} == {"dermoscopy"}
