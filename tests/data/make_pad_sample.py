"""Make the PAD-UFES-20 test copy shipped in ``tests/data/pad-ufes-20-sample`` from the full sample.

The full sample (61 photos at up to 512 px, 21 MB) is too large to ship with the code, so the
tests use this copy: the same 61 photos, their masks and metadata rows, reduced to at most
192 px on the long side (Lanczos; masks nearest-neighbour to the same size), stored as RGB PNG
(every RGBA photo of the sample is fully opaque). Deterministic: rerunning it gives the same
files. Usage: ``python tests/data/make_pad_sample.py FULL_SAMPLE_FOLDER``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent / "pad-ufes-20-sample"
SIDE = 192


def main(src: Path) -> None:
    for sub in ("images", "masks"):
        (OUT / sub).mkdir(parents=True, exist_ok=True)
    for p in sorted((src / "images").glob("*.png")):
        im = Image.open(p)
        if im.mode == "RGBA" and (np.asarray(im)[..., 3] < 255).any():
            raise SystemExit(f"{p}: has transparent pixels; this script assumes opaque photos")
        im = im.convert("RGB")
        im.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
        im.save(OUT / "images" / p.name, optimize=True)
        mask = src / "masks" / f"{p.stem}_mask.png"
        if mask.is_file():
            Image.open(mask).convert("L").resize(im.size, Image.Resampling.NEAREST).save(
                OUT / "masks" / mask.name, optimize=True)
    shutil.copyfile(src / "metadata.csv", OUT / "metadata.csv")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "images").is_dir():
        raise SystemExit("usage: python tests/data/make_pad_sample.py FULL_SAMPLE_FOLDER (with images/ and masks/)")
    main(Path(sys.argv[1]))
