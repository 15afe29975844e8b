"""Benchmark: the synthetic-image audit's feature extraction and distance computations on CPU.

    python benchmarks/bench_synthetic.py [--n-images 96] [--n-features 10000] [--dim 2048]
                                         [--inception-weights PATH] [--workdir bench-out/synthetic]

Prints:
- feature extraction images/s on 512 x 512 PNG phantoms (the size Stable Diffusion 1.x writes)
  for each extractor that can run here: the non-learned colour-texture statistics, 32 x 32
  thumbnails (memorisation), and Inception-v3 (torch-fidelity's inception-v3-compat). Without
  ``--inception-weights`` / ``$FAIRSKIN_INCEPTION_WEIGHTS`` the Inception line times the same
  architecture with randomly initialised weights: speed does not depend on the weight values,
  and no metric is computed from those features. A second pass shows the cached rate.
- seconds for FID, KID (100 subsets of 1,000), precision/recall (k=3), density/coverage (k=5)
  and nearest-real search (memorisation, 3,072-d thumbnails) on N vs N feature vectors. The
  vectors are random (Gaussian, two slightly different distributions): timing only.

Measured 2026-11-22 on the 2-core development VM while other jobs ran (load average ~7, so
these are pessimistic), torch 2 threads, ``--n-images 64 --n-features 10000``:

    colour-texture statistics (non-learned)     45.7 images/s   cached rerun 3,421 images/s
    32x32 thumbnails                            71.6 images/s   cached rerun 2,687 images/s
    Inception-v3 (random weights, timing only)   1.2 images/s   cached rerun 1,329 images/s
    10,000 vs 10,000, 2048-d:  FID 35.2 s, KID 65.6 s, precision/recall 77.0 s,
                               density/coverage 36.5 s, nearest real (3,072-d) 55.8 s
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, n: int, size: int = 512) -> list[Path]:
    from fairskin.data._phantoms import DEMO_DIAGNOSES, PhantomSpec, render_phantom, sample_ita

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
        p = folder / f"syn_{i:05d}.png"
        paths.append(p)
        if p.exists():
            continue
        fst = int(rng.integers(1, 7))
        spec = PhantomSpec(ita=sample_ita(fst, rng), diagnosis=str(rng.choice(list(DEMO_DIAGNOSES))), size=size,
                           seed=i)
        Image.fromarray(render_phantom(spec)).save(p)
    return paths


def _timing_only_inception():
    """inception-v3-compat with random weights: FOR TIMING ONLY, never for a metric."""
    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    from fairskin.audits.synthetic._features import InceptionExtractor

    orig_url, orig_load = fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict
    fe.load_state_dict_from_url = lambda *a, **k: {}
    fe.FeatureExtractorInceptionV3.load_state_dict = lambda self, sd: None
    try:
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    finally:
        fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict = orig_url, orig_load
    ext = InceptionExtractor.__new__(InceptionExtractor)
    ext.model = net
    ext.id = "inception-v3-compat-RANDOM-TIMING-ONLY"
    ext.description = "Inception-v3 architecture, random weights (timing only)"
    return ext


def bench_extraction(paths: list[Path], inception_weights: str | None, workdir: Path) -> list[dict]:
    from fairskin.audits.synthetic._features import ColourTextureExtractor, InceptionExtractor, ThumbnailExtractor
    from fairskin.audits.synthetic._features import extract_features

    out = []
    extractors = [ColourTextureExtractor(), ThumbnailExtractor(32)]
    weights = inception_weights or os.environ.get("FAIRSKIN_INCEPTION_WEIGHTS")
    if weights:
        extractors.append(InceptionExtractor(weights))
    else:
        try:
            extractors.append(_timing_only_inception())
        except ImportError:
            pass
    for ext in extractors:
        with tempfile.TemporaryDirectory(dir=workdir) as cache:
            t = time.perf_counter()
            fs = extract_features(paths, ext, batch_size=32, cache_dir=cache, progress=False)
            cold = time.perf_counter() - t
            t = time.perf_counter()
            fs2 = extract_features(paths, ext, batch_size=32, cache_dir=cache, progress=False)
            warm = time.perf_counter() - t
        assert fs2.n_computed == 0 and np.array_equal(fs.features, fs2.features, equal_nan=True)
        out.append({"extractor": ext.description, "images": len(paths), "images_per_s": len(paths) / cold,
                    "cached_images_per_s": len(paths) / warm})
    return out


def bench_distances(n: int, dim: int) -> list[dict]:
    from fairskin.audits.synthetic._fidelity import density_coverage, frechet_distance, kid, precision_recall
    from fairskin.audits.synthetic._memorisation import nearest_real

    rng = np.random.default_rng(0)
    a = np.abs(rng.standard_normal((n, dim))).astype(np.float64)  # Inception pool3 is >= 0
    b = np.abs(rng.standard_normal((n, dim)) * 1.05 + 0.02)
    rows = []

    def timed(name, fn):
        t = time.perf_counter()
        value = fn()
        rows.append({"metric": name, "n": n, "dim": dim, "seconds": time.perf_counter() - t, "value": value})

    timed("FID (Fréchet distance, eigen method)", lambda: frechet_distance(a, b))
    timed("KID (100 subsets of 1,000, u-statistic)", lambda: kid(a, b).value)
    timed("precision/recall (k=3)", lambda: precision_recall(a, b, k=3))
    timed("density/coverage (k=5)", lambda: density_coverage(a, b, k=5))
    ta = rng.random((n, 3072), dtype=np.float32)
    tb = rng.random((n, 3072), dtype=np.float32)
    timed("memorisation nearest real (3,072-d thumbnails)", lambda: int(nearest_real(ta, tb).flagged.sum()))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=96)
    ap.add_argument("--n-features", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--inception-weights", default=None)
    ap.add_argument("--workdir", type=Path, default=Path("bench-out/synthetic"))
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()

    import torch

    args.workdir.mkdir(parents=True, exist_ok=True)
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads()}
    print(f"CPU: {info['cpu']}, {info['cores']} cores, torch threads {info['torch_threads']}")
    paths = make_images(args.workdir / "images", args.n_images)
    ext_rows = bench_extraction(paths, args.inception_weights, args.workdir)
    print(f"\nFeature extraction, {args.n_images} PNG images of 512 x 512 (batch 32):")
    for r in ext_rows:
        print(f"  {r['extractor']:<75} {r['images_per_s']:8.1f} images/s   cached rerun {r['cached_images_per_s']:8.0f} images/s")
    dist_rows = bench_distances(args.n_features, args.dim)
    print(f"\nDistances on {args.n_features:,} vs {args.n_features:,} random {args.dim}-d feature vectors (timing only):")
    for r in dist_rows:
        print(f"  {r['metric']:<50} {r['seconds']:8.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "extraction": ext_rows, "distances": dist_rows},
                                        indent=1, default=str))


if __name__ == "__main__":
    main()
