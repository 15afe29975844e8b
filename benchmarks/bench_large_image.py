"""Peak memory of loading one large image the way ``fairskin label`` does (``load_rgb(path,
max_side=192)``), for a fairskin source tree given on the command line.

Each case runs in a fresh process; the figure is the process's peak resident memory (``VmHWM``)
after the load minus its peak before it (imports included), so it is what the one image costs.
Images are written once to ``--work`` (default: a temporary folder): 9000 x 9000 RGB PNG, RGBA PNG
and palette PNG (a photograph-like gradient with noise, so the PNG is not trivially small), and the
same RGB as JPEG for reference.

Run: ``python benchmarks/bench_large_image.py --tree .`` and ``--tree /path/to/another/checkout``
to compare; ``--side 4000`` for a quicker run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, sys, time
from fairskin.data import load_rgb
def hwm():  # peak resident set of this process (kB); unlike ru_maxrss, not inherited across exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
before = hwm()
t0 = time.perf_counter()
img = load_rgb(sys.argv[1], max_side=192)
seconds = time.perf_counter() - t0
after = hwm()
print(json.dumps({"before_mb": before / 1024, "after_mb": after / 1024, "seconds": seconds,
                  "shape": list(img.rgb.shape)}))
"""


def make_images(work: Path, side: int) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    work.mkdir(parents=True, exist_ok=True)
    paths = {k: work / f"{k}-{side}.{ext}" for k, ext in
             (("png-rgb", "png"), ("png-rgba", "png"), ("png-palette", "png"), ("jpeg", "jpg"))}
    if all(p.is_file() for p in paths.values()):
        return paths
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rgb = np.stack([180 + 40 * x, 120 + 50 * y, 90 + 30 * (x * y)], -1)
    rgb += rng.normal(0, 6, rgb.shape).astype(np.float32)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    del x, y
    im = Image.fromarray(rgb)
    im.save(paths["png-rgb"])
    im.save(paths["jpeg"], quality=90)
    rgba = im.convert("RGBA")
    rgba.putalpha(255)
    rgba.save(paths["png-rgba"])
    del rgba
    im.convert("P", palette=Image.Palette.ADAPTIVE).save(paths["png-palette"])
    return paths


def measure(tree: Path, path: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    # cwd elsewhere: `python -c` puts the working folder before PYTHONPATH on sys.path
    r = subprocess.run([sys.executable, "-c", _CHILD, str(path)], env=env, capture_output=True, text=True,
                       cwd=tempfile.gettempdir())
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    d = json.loads(r.stdout.strip().splitlines()[-1])
    d["cost_mb"] = d["after_mb"] - d["before_mb"]
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", default=None, help="fairskin source tree (repeatable; default .)")
    ap.add_argument("--side", type=int, default=9000)
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args()
    trees = [Path(t) for t in (a.tree or ["."])]
    work = a.work or Path(tempfile.gettempdir()) / "fairskin-bench-large-image"
    t0 = time.perf_counter()
    paths = make_images(work, a.side)
    print(f"images {a.side}x{a.side} in {work} ({time.perf_counter() - t0:.0f} s to make)")
    for kind, path in paths.items():
        for tree in trees:
            d = measure(tree, path)
            if "error" in d:
                print(f"{kind:12s} {str(tree):30s} error: {d['error']}")
            else:
                print(f"{kind:12s} {str(tree):30s} peak +{d['cost_mb']:7.1f} MB (process peak {d['after_mb']:.0f} MB)"
                      f"  {d['seconds']:.2f} s  -> {d['shape'][1]}x{d['shape'][0]}")


if __name__ == "__main__":
    main()
