"""Benchmark: the known answers of the counterfactual skin-tone edit and of DullRazor hair removal.

    python benchmarks/bench_why.py [--n 30] [--size 256] [--hairs 40] [--hair-width 1.5]

Prints
- counterfactual: each of ``n`` phantoms per type re-toned to the five other types with its true
  lesion mask; the share the label estimator puts in the requested type (per target and overall,
  with a Wilson interval) and the largest absolute pixel difference inside the lesion mask;
- DullRazor: ``n`` hairy phantoms per type rendered with and without their hair (same random
  draws); the label estimator's ITA error with and without hair removal, against the true ITA
  and against the estimate on the same phantom without hair (the error the hair causes), their
  ratio, and how much removal moves ITA on the hairless renders.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def phantoms(n: int, size: int, rng: np.random.Generator, **kw):
    from fairskin.data import DEMO_DIAGNOSES, PhantomSpec, render_phantom_layers
    from fairskin.data._phantoms import sample_ita

    for t in range(1, 7):
        for i in range(n):
            ita = sample_ita(t, rng)
            spec = PhantomSpec(ita=ita, size=size, diagnosis=list(DEMO_DIAGNOSES)[i % len(DEMO_DIAGNOSES)],
                               style="dermoscopy" if i % 2 else "clinical", background=i % 4 == 1,
                               seed=int(rng.integers(2**31)), **kw)
            yield t, ita, render_phantom_layers(spec)


def counterfactual(n: int, size: int) -> None:
    from fairskin.audits.why._counterfactual import retone_many

    rng = np.random.default_rng(0)
    hits, tot, worst = np.zeros(7, int), np.zeros(7, int), 0
    t0 = time.perf_counter()
    for t, _, lay in phantoms(n, size, rng, hair=int(rng.integers(0, 20))):
        targets = [k for k in range(1, 7) if k != t]
        for r in retone_many(lay.rgb, targets, lesion=lay.lesion):
            tot[r.target_fst] += 1
            hits[r.target_fst] += r.landed
            worst = max(worst, int(np.abs(r.rgb.astype(int) - lay.rgb)[lay.lesion].max(initial=0)))
    secs = time.perf_counter() - t0
    lo, hi = wilson(int(hits.sum()), int(tot.sum()))
    print(f"counterfactual skin tone: {n} phantoms per type ({size} px), each re-toned to the 5 other types")
    print("  landed in the requested type: " + ", ".join(f"{['', 'I', 'II', 'III', 'IV', 'V', 'VI'][k]} "
                                                         f"{hits[k]}/{tot[k]}" for k in range(1, 7)))
    print(f"  overall {hits.sum()}/{tot.sum()} = {hits.sum() / tot.sum():.1%} (Wilson 95% {lo:.1%}-{hi:.1%}); "
          f"max |difference| inside the lesion mask: {worst}; {tot.sum() / secs:.1f} re-toned images/s")


def dullrazor(n: int, size: int, hairs: int, width: float) -> None:
    from fairskin.label import LabelConfig, estimate_rgb

    on = LabelConfig(hair_removal=True)
    rng = np.random.default_rng(1)
    rows = {t: [] for t in range(1, 7)}
    for t, ita, lay in phantoms(n, size, rng, hair=hairs, hair_width=width):
        rows[t].append([ita, estimate_rgb(lay.rgb_hairless).ita, estimate_rgb(lay.rgb).ita,
                        estimate_rgb(lay.rgb, config=on).ita, estimate_rgb(lay.rgb_hairless, config=on).ita])
    print(f"DullRazor: {n} phantoms per type ({size} px, {hairs} hairs, width x{width:g}), label estimator's ITA "
          "(mean |error| in degrees)")
    print("  type | vs true ITA: hairless  hairy  hairy+removal | vs the hairless render: hairy  hairy+removal  ratio "
          "| hairless +removal: mean / max change | no ITA: hairy / +removal")
    allr = []
    for t, r in rows.items():
        a = np.array(r, float)
        tr, clean, hairy, removed, clean_removed = a.T
        e_h, e_r = np.nanmean(abs(hairy - clean)), np.nanmean(abs(removed - clean))
        allr.append(a)
        print(f"  {['', 'I', 'II', 'III', 'IV', 'V', 'VI'][t]:>4s} | {np.nanmean(abs(clean - tr)):8.2f} "
              f"{np.nanmean(abs(hairy - tr)):6.2f} {np.nanmean(abs(removed - tr)):14.2f} | {e_h:29.2f} {e_r:14.2f} "
              f"{e_r / e_h:6.2f} | {np.nanmean(abs(clean_removed - clean)):20.2f} / {np.nanmax(abs(clean_removed - clean)):.2f}"
              f" | {int(np.isnan(hairy).sum())} / {int(np.isnan(removed).sum())}")
    a = np.concatenate(allr)
    tr, clean, hairy, removed, clean_removed = a.T
    print(f"  all  | {np.nanmean(abs(clean - tr)):8.2f} {np.nanmean(abs(hairy - tr)):6.2f} "
          f"{np.nanmean(abs(removed - tr)):14.2f} | {np.nanmean(abs(hairy - clean)):29.2f} "
          f"{np.nanmean(abs(removed - clean)):14.2f} {np.nanmean(abs(removed - clean)) / np.nanmean(abs(hairy - clean)):6.2f}"
          f" | {np.nanmean(abs(clean_removed - clean)):20.2f} / {np.nanmax(abs(clean_removed - clean)):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--hairs", type=int, default=40)
    ap.add_argument("--hair-width", type=float, default=1.5)
    args = ap.parse_args()
    counterfactual(args.n, args.size)
    dullrazor(args.n, args.size, args.hairs, args.hair_width)


if __name__ == "__main__":
    main()
