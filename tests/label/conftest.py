"""Photos with a known skin type for the label tests: textured skin of a given ITA, a cut-out
lesion on a plain background, and PAD-UFES-20-layout folders of them (one photo per patient)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.label import lab_to_srgb

#: an ITA inside each type's interval of the default scale
CENTRES = {1: 60.0, 2: 45.0, 3: 32.0, 4: 22.0, 5: 12.0, 6: -5.0}


def skin(ita: float, size=96, seed=0, L=None) -> np.ndarray:
    """Textured skin of a given ITA (b* 18 unless ``L`` is given), 8-bit sRGB."""
    rng = np.random.default_rng(seed)
    b = 18.0
    L = 50 + b * np.tan(np.radians(ita)) if L is None else L
    lab = np.zeros((size, size, 3), np.float32)
    lab[..., 0] = L + rng.normal(0, 1.0, (size, size))
    lab[..., 1] = 11.0 + rng.normal(0, 0.8, (size, size))
    lab[..., 2] = b + rng.normal(0, 0.8, (size, size))
    return (np.clip(lab_to_srgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)


def cut_out(background: int, size=96) -> np.ndarray:
    """A lesion with a thin rim of skin pasted on a uniform background (the figures and
    segmentation cut-outs found among copies of PAD-UFES-20)."""
    img = np.full((size, size, 3), background, np.uint8)
    yy, xx = np.ogrid[:size, :size]
    blob = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.3) ** 2
    img[blob] = skin(30.0, size)[blob]
    return img


def pad_folder(root, n=48, seed=0, size=96, with_cut_out=True):
    """A PAD-UFES-20-layout folder: one photo per patient, skin of its type's ITA plus noise (types
    I-V), and, with ``with_cut_out``, one untyped cut-out on white (patient PAT_999)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        t = int(rng.choice([1, 2, 3, 4, 5], p=[0.2, 0.3, 0.25, 0.15, 0.1]))
        name = f"PAT_{i}_{i}_{i}.png"
        Image.fromarray(skin(CENTRES[t] + rng.normal(0, 3), size=size, seed=i)).save(root / "images" / name)
        rows.append({"patient_id": f"PAT_{i}", "lesion_id": i, "fitspatrick": float(t), "diagnostic": "NEV",
                     "img_id": name, "biopsed": False})
    if with_cut_out:
        Image.fromarray(cut_out(255, size)).save(root / "images" / "PAT_999_1_1.png")
        rows.append({"patient_id": "PAT_999", "lesion_id": 999, "fitspatrick": "", "diagnostic": "NEV",
                     "img_id": "PAT_999_1_1.png", "biopsed": False})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


@pytest.fixture(scope="session")
def photos():
    """The builders above, for the tests (test modules cannot import each other here)."""
    return SimpleNamespace(CENTRES=CENTRES, skin=skin, cut_out=cut_out, pad_folder=pad_folder)
