"""Is synthesis better than the cheap fixes? The experiment on the demo's phantoms with every
cheap-fix arm (``resample``, ``reweight``, ``retone_aug``, ``ita_jitter``, ``group_dro``) beside
``real`` and a synthetic arm (``mixed``).

The synthetic images come from the ``phantom`` generator: new phantoms drawn by the demo data's
own renderer, a perfect-generator stand-in, so the synthetic arm's result is a ceiling for what
a generator could do on this data, not a measurement of a trained generator.

Printed: per arm, the V-VI AUROC with its interval, the change against ``real`` with its interval
(two-level bootstrap over test rows and seeds), and the answer "synthesis vs the best cheap fix"
(both sides chosen per bootstrap replicate; ``fairskin.experiment._versus``). The full
``experiment.json`` and ``report.html`` are written to ``--out``.

Run: ``python benchmarks/bench_cheap_fixes.py --out /tmp/cheap-fixes`` (resumable: the same
command skips finished runs); ``--seeds``, ``--epochs``, ``--arms`` for other settings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ARMS = ("real", "mixed", "resample", "reweight", "retone_aug", "ita_jitter", "group_dro")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="default: the demo's")
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--n-boot", type=int, default=1000)
    a = ap.parse_args(argv)

    from fairskin.experiment import DemoSetup, run_experiment
    from fairskin.reports import render_experiment_report

    demo = DemoSetup(generator="phantom")
    t0 = time.perf_counter()
    res = run_experiment(out=a.out, demo=demo, arms=a.arms.split(","), seeds=a.seeds, n_boot=a.n_boot,
                         epochs=a.epochs, progress=lambda m: print(m, flush=True))
    doc = res.to_dict()
    render_experiment_report(doc, a.out / "report.html")
    stats = doc["statistics"]
    print(f"\ndemo: {demo.n_train} training / {demo.n_test} test phantoms at {demo.size} px, {demo.arch} at "
          f"{demo.image_size} px, {doc['config']['epochs']} epochs (patience {doc['config']['patience']}), "
          f"{a.seeds} seeds, {a.n_boot} bootstrap replicates; {time.perf_counter() - t0:.0f} s")
    print(f"{'arm':12s} {'family':10s} {'AUROC V-VI (95% CI)':26s} {'change vs real (95% CI)':28s}")
    fam = doc["arm_families"]
    for arm, entry in stats["arms"].items():
        g = next(x for x in entry["groups"] if x["group"] == "V-VI")["metrics"]["auroc"]
        c = next((c for c in stats["comparisons"] if c["candidate"] == arm), None)
        d = next((x for x in c["deltas"] if x["group"] == "V-VI"), None) if c else None
        ch = f"{d['delta']:+.3f} ({d['ci_low']:+.3f} to {d['ci_high']:+.3f})" if d and d["delta"] is not None else "-"
        print(f"{arm:12s} {fam[arm]:10s} {g['value']:.3f} ({g['ci_low']:.3f} to {g['ci_high']:.3f})      {ch}")
    v = stats.get("synthesis_vs_cheap_fix", {})
    print("\n" + v.get("sentence", "no synthesis-vs-cheap-fix comparison"))
    print(json.dumps({k: v.get(k) for k in ("best_cheap_fix", "best_synthetic", "delta", "ci_low", "ci_high",
                                            "answer")}))


if __name__ == "__main__":
    main()
