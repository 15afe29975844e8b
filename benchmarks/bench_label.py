"""Benchmark: `fairskin label` throughput, memory, and the ratio against derm-ita.

    python benchmarks/bench_label.py [--n 400] [--peer-n 60] [--workdir bench-out/label]

Prints:
- images/s of ``label_dataset`` on HAM10000-sized (600 x 450) JPEG phantoms, 1 and 2 workers;
- seconds per image of PyPI's derm-ita (``get_ita`` on the whole image and its
  ``get_structured_patches_ita`` patch strategy) on the same images, and fairskin's ratio;
- peak RSS of a labelling run over 1,000 and 10,000 images (hard links to the same files),
  each in a fresh process: memory should stay flat.

derm-ita 0.0.8 needs ``patchify``, whose metadata pins numpy<2 (it runs fine on 2.x):
``pip install --no-deps derm-ita==0.0.8 patchify``. Without it the peer lines are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, n: int) -> list[Path]:
    from fairskin.data._phantoms import DEMO_DIAGNOSES, PhantomSpec, render_phantom, sample_ita

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
        p = folder / f"img_{i:05d}.jpg"
        paths.append(p)
        if p.exists():
            continue
        fst = int(rng.integers(1, 7))
        spec = PhantomSpec(ita=sample_ita(fst, rng), diagnosis=str(rng.choice(list(DEMO_DIAGNOSES))), size=600,
                           style="dermoscopy" if rng.random() < 0.6 else "clinical", hair=int(rng.integers(0, 20)),
                           glare=2, seed=i)
        Image.fromarray(render_phantom(spec)[75:525]).save(p, quality=92)
    return paths


def time_fairskin(folder: Path, workers: int) -> tuple[float, float]:
    from fairskin.label import label_dataset

    out = folder.parent / f"labels_w{workers}.csv"
    out.unlink(missing_ok=True)
    t = time.perf_counter()
    res = label_dataset(folder, out=out, workers=workers, progress=False, n_boot=0)
    dt = time.perf_counter() - t
    n = int((res.labels["status"] == "ok").sum())
    return len(res.labels) / dt, n


def time_estimate_image(paths: list[Path]) -> float:
    """Seconds per image of fairskin's per-image call, in the same loop as the peer's."""
    from fairskin.label import estimate_image

    for p in paths[:3]:
        estimate_image(p)
    t = time.perf_counter()
    for p in paths:
        estimate_image(p)
    return (time.perf_counter() - t) / len(paths)


def time_derm_ita(paths: list[Path]) -> dict[str, float] | None:
    try:
        import derm_ita
    except ImportError as exc:
        print(f"derm-ita not importable ({exc}); install with: pip install --no-deps derm-ita==0.0.8 patchify")
        return None
    out = {}
    for name, fn in (("get_ita", derm_ita.get_ita), ("get_structured_patches_ita", derm_ita.get_structured_patches_ita)):
        t = time.perf_counter()
        for p in paths:
            with Image.open(p) as im:
                fn(im.convert("RGB"))
        out[name] = (time.perf_counter() - t) / len(paths)
    return out


_MEM_CHILD = """
import resource, sys
from fairskin.label import label_dataset
label_dataset(sys.argv[1], out=sys.argv[2], workers=1, progress=False, n_boot=0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss(folder: Path, out: Path) -> float:
    out.unlink(missing_ok=True)
    r = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(folder), str(out)], capture_output=True, text=True, check=True)
    return int(r.stdout.strip().splitlines()[-1]) / 1024  # MiB


def link_copies(src: list[Path], folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        dst = folder / f"c_{i:06d}.jpg"
        if not dst.exists():
            os.link(src[i % len(src)], dst)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--peer-n", type=int, default=60)
    ap.add_argument("--workdir", type=Path, default=Path("bench-out/label"))
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    folder = args.workdir / "images"
    paths = make_images(folder, args.n)
    print(f"{args.n} JPEG phantoms, 600x450, in {folder}; {os.cpu_count()} CPUs")
    results = {}
    for w in (1, 2):
        rate, ok = time_fairskin(folder, w)
        results[f"fairskin_images_per_s_w{w}"] = rate
        print(f"fairskin label, {w} worker(s): {rate:7.1f} images/s ({ok} labelled)")
    peer = time_derm_ita(paths[: args.peer_n])
    if peer:
        # like for like: one call per image on the same files, decode included
        ours = time_estimate_image(paths[: args.peer_n])
        batch = 1.0 / results["fairskin_images_per_s_w1"]
        results["fairskin_estimate_image_s_per_image"] = ours
        print(f"fairskin estimate_image: {1 / ours:7.1f} images/s (per-image call, same loop as the peer)")
        for name, sec in peer.items():
            results[f"derm_ita_{name}_s_per_image"] = sec
            results[f"ratio_vs_{name}"] = sec / ours
            results[f"ratio_batch_run_vs_{name}"] = sec / batch
            print(f"derm-ita {name}: {1 / sec:7.1f} images/s; fairskin is {sec / ours:.1f}x faster per image "
                  f"({sec / batch:.1f}x counting the whole 1-worker labelling run: CSV, resume log, summary)")
    if not args.skip_memory:
        for n in (1000, 10000):
            f = args.workdir / f"mem_{n}"
            link_copies(paths, f, n)
            mib = peak_rss(f, args.workdir / f"mem_{n}.csv")
            results[f"peak_rss_mib_{n}"] = mib
            print(f"peak RSS labelling {n:,} images: {mib:.0f} MiB")
    print(json.dumps({k: round(v, 3) for k, v in results.items()}))


if __name__ == "__main__":
    main()
