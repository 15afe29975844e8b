"""The hard-case loop: generate images aimed at what the model gets wrong, and compare with
untargeted generation of the same count.

Round 0 trains on the real images. Each round then, on each of two tracks:

* targeted: the misclassified images of the **validation** split (never the test split) are the
  sources; ``per_round`` images are generated image-to-image from them in turn, with the same
  skin type and diagnosis, through the ITA gate;
* untargeted: as many images as the targeted track accepted, from training images drawn at random
  (seeded), same generator and gate;

each track's pool grows by its new images, a model is retrained (same seed) on real + pool, and
both models are audited on the held-out test set (paired two-level bootstrap, one seed each).

Caveat, recorded in the output: targeted images start from validation images, and the validation
split still selects the epoch, so validation scores of the targeted track are optimistic; the test
set is untouched and is what the comparison uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.errors import InputError
from fairskin.experiment._data import exact_type
from fairskin.experiment._runs import score_test, training_seed
from fairskin.outputs import write_csv
from fairskin.skintone import types_of

__all__ = ["hard_case_loop"]


def _requests_from(rows: list[dict], n: int, tag: str, rng: np.random.Generator | None = None):
    from fairskin.conditioning import style_of
    from fairskin.conditioning import GenerationRequest

    reqs = []
    for i in range(n):
        row = rows[i % len(rows)] if rng is None else rows[int(rng.integers(len(rows)))]
        t = exact_type(row)
        if t is None:
            types = types_of(str(row.get("fst_group_human") or ""))
            if not types:
                continue  # no skin type to ask for
            t = types[i % 2]
        mal = str(row.get("malignant")).strip().lower() in ("true", "1")
        reqs.append(GenerationRequest(fst=int(t), diagnosis=str(row.get("diagnosis") or ("malignant" if mal else
                                                                                           "benign")),
                                      malignant=mal, source_image=str(row["image"]), style=style_of(row.get("style")),
                                      tag=tag))
    return reqs


def hard_case_loop(*, out: Path, cfg, train_df: pd.DataFrame, test_df: pd.DataFrame, test_frame: pd.DataFrame,
                   syn_df, generator, say) -> dict:
    from fairskin.audits.classifier import default_criteria
    from fairskin.balance import generate_synthetic
    from fairskin.experiment._stats import arm_statistics
    from fairskin.train import train_classifier

    if generator is None:
        raise InputError("rounds: the hard-case loop generates images while it trains; give conditioning=DIR "
                         "(fairskin train-conditioning) or run the built-in demo")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = train_df.attrs["root"]
    val_rows = train_df[train_df["split"] == "val"].to_dict("records")
    by_image = {str(r["image"]): r for r in val_rows}
    train_rows = train_df[train_df["split"] == "train"].to_dict("records")
    kw = cfg.train_options(seed=training_seed(0))
    level = "type" if (test_frame["fst_type"] > 0).all() else "group"
    criteria = default_criteria(level, min_gain=cfg.min_gain, max_drop=cfg.max_drop)
    rng = np.random.default_rng(cfg.split_seed)

    def fit(name: str, pool):
        res = train_classifier(train_df, out=out / name / "model.pt", synthetic=pool if pool is not None and len(pool)
                               else None, test=test_df, **kw)
        s = score_test(res.model_path, test_df, cfg)
        s = pd.Series(s, index=test_df["image"].astype(str).to_numpy()).reindex(test_frame["image"]).to_numpy(float)
        return res, s

    say("hard-case loop: round 0 (real only)")
    res0, s0 = fit("round-0", None)
    st0 = arm_statistics(test_frame, {"real": s0[None]}, baseline="real", criteria=criteria, threshold=cfg.threshold,
                         n_boot=cfg.n_boot, seed=cfg.split_seed)
    round0 = {"round": 0, "val_auroc": res0.best_val_auroc,
              "test": {g["group"]: g["metrics"]["auroc"] for g in st0["arms"]["real"]["groups"]}}
    tracks = {"targeted": {"res": res0, "scores": s0, "pool": None},
              "untargeted": {"res": res0, "scores": s0, "pool": None}}
    rounds = []
    for r in range(1, cfg.rounds + 1):
        hard = tracks["targeted"]["res"].val_predictions
        hard = hard[~hard["correct"]]
        hard_rows = [by_image[i] for i in hard["image"].astype(str) if i in by_image]
        if not hard_rows:
            say(f"round {r}: no misclassified validation image left; the loop stops")
            break
        t_reqs = _requests_from(hard_rows, cfg.per_round, f"hard-case round {r}")
        t_new = generate_synthetic(t_reqs, generator=generator, out=out / f"round-{r}" / "targeted", root=root,
                                   seed=1000 + r, prefix=f"t{r}")
        u_reqs = _requests_from(train_rows, len(t_new), f"untargeted round {r}", rng=rng)
        u_new = generate_synthetic(u_reqs, generator=generator, out=out / f"round-{r}" / "untargeted", root=root,
                                   seed=2000 + r, prefix=f"u{r}")
        write_csv(t_new, out / f"round-{r}" / "targeted" / "manifest.csv")
        write_csv(u_new, out / f"round-{r}" / "untargeted" / "manifest.csv")
        rec = {"round": r, "hard_cases": len(hard_rows), "requested": len(t_reqs),
               "targeted_accepted": len(t_new), "untargeted_accepted": len(u_new)}
        for name, new in (("targeted", t_new), ("untargeted", u_new)):
            new = new.copy()
            new["image"] = [str(Path(new.attrs["root"]) / p) for p in new["image"]]
            pool = tracks[name]["pool"]
            pool = new if pool is None else pd.concat([pool, new], ignore_index=True)
            pool.attrs = {"root": "/"}
            say(f"round {r}: {name}: {len(new)} new images ({len(pool)} in all); retraining")
            res, s = fit(f"round-{r}/{name}", pool)
            tracks[name] = {"res": res, "scores": s, "pool": pool}
            rec[f"{name}_val_auroc"] = res.best_val_auroc
        st = arm_statistics(test_frame, {"untargeted": tracks["untargeted"]["scores"][None],
                                         "targeted": tracks["targeted"]["scores"][None]},
                            baseline="untargeted", criteria=criteria, threshold=cfg.threshold,
                            n_boot=cfg.n_boot, seed=cfg.split_seed)
        rec["test"] = {arm: {g["group"]: g["metrics"]["auroc"] for g in a["groups"]} for arm, a in st["arms"].items()}
        rec["targeted_vs_untargeted"] = [d for d in st["comparisons"][0]["deltas"] if d["metric"] == "auroc"]
        rounds.append(rec)
        (out / "rounds.json").write_text(json.dumps(rounds, indent=2, default=str), encoding="utf-8")
    return {"per_round": cfg.per_round, "seed": training_seed(0), "generator": generator.name, "round_0": round0, "rounds": rounds,
            "caveat": "targeted images start from validation images while validation still selects the epoch: "
                      "validation AUROC of the targeted track is optimistic; compare on the test set"}
