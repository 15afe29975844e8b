"""A balanced manifest with a known answer, built without the generator: real phantoms from
``fairskin.data.write_demo_dataset`` and "synthetic" phantoms rendered with other seeds, another
size, format and photo style (so a leak of size, format or metadata would be visible)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fairskin.data import DemoConfig, PhantomSpec, read_dataset, render_phantom, write_demo_dataset
from fairskin.skintone import FST_TYPES, get_scale

DIAGNOSES = ("melanocytic-nevi", "melanoma")


def type_ita(t: int) -> float:
    lo, hi = _interval(t)
    return (lo + hi) / 2


def _interval(t: int) -> tuple[float, float]:
    from fairskin.skintone import DEFAULT_SCALE

    lo, hi = get_scale(DEFAULT_SCALE).interval(t)
    return max(lo, -40.0), min(hi, 65.0)


def make_balanced(root: Path, *, n_real: int = 160, per_cell_syn: int = 6, types=FST_TYPES, seed: int = 3) -> Path:
    """``root/real`` (demo data set) and ``root/balanced/manifest.csv`` whose real rows point at it
    (paths relative to the manifest, as ``fairskin balance`` writes them) plus synthetic rows."""
    real = root / "real"
    write_demo_dataset(real, DemoConfig(n=n_real, size=64, seed=seed, fst_weights=(1, 1, 1, 1, 1, 1)))
    df = read_dataset(real)
    out = root / "balanced"
    (out / "images").mkdir(parents=True)
    rows = []
    for r in df.itertuples():
        if int(r.fst_true) in types and r.diagnosis in DIAGNOSES:
            rows.append({"image": f"../real/{r.image}", "synthetic": False, "fst": int(r.fst_true),
                         "diagnosis": r.diagnosis, "source": "ddi", "status": "ok"})
    rng = np.random.default_rng(seed)
    k = 0
    for t in types:
        for dx in DIAGNOSES:
            for i in range(per_cell_syn):
                lo, hi = _interval(t)
                rgb = render_phantom(PhantomSpec(ita=float(rng.uniform(lo, hi)), diagnosis=dx, size=96,
                                                 style="clinical", seed=10_000 + k))
                name = f"images/syn_{t}_{dx}_{i}.png"
                Image.fromarray(rgb).save(out / name)
                rows.append({"image": name, "synthetic": True, "fst": t, "diagnosis": dx, "source": "synthetic",
                             "status": "ok"})
                k += 1
    path = out / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
