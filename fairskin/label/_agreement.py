"""Agreement between estimated and human skin types, with bootstrap intervals.

Human labels are noisy (two experts agree on FST with Pearson r ~0.85), so the figures are
descriptive: exact and within-one agreement, quadratic-weighted Cohen's kappa, Spearman's rho
between ITA and the human type (negative: higher ITA is lighter skin), a confusion matrix and
per-type rates. Each headline figure has a seeded percentile-bootstrap 95% interval, because
the sets with human labels are often small.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from fairskin.outputs import to_jsonable
from fairskin.skintone import FST_GROUPS, FST_TYPES

__all__ = ["agreement"]

_GROUP_INDEX = {g: i + 1 for i, g in enumerate(FST_GROUPS)}  # I-II -> 1, III-IV -> 2, V-VI -> 3


def _spearman(x, y):
    if len(x) < 3 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return float("nan"), float("nan")
    r = spearmanr(x, y)
    return float(r.statistic), float(r.pvalue)


def _kappa(h, e, labels):
    if np.unique(np.concatenate([h, e])).size < 2:
        return float("nan")
    return float(cohen_kappa_score(h, e, labels=labels, weights="quadratic"))


def agreement(estimated, human, *, ita=None, level: str = "type", n_boot: int = 1000, seed: int = 0) -> dict | None:
    """Agreement of estimated with human skin types.

    Parameters
    ----------
    estimated : estimated types 1-6 (for ``level="group"``, still types: they are grouped here).
    human : human types 1-6, or group names ``"I-II"``, ``"III-IV"``, ``"V-VI"`` when
        ``level="group"``.
    ita : the ITA of each image, for Spearman's rho between ITA and the human label.
    level : ``"type"`` (six types) or ``"group"`` (DDI's three groups).

    Rows where either label is missing are left out; returns None when none remain.
    """
    est = np.asarray(estimated, dtype=object)
    hum = np.asarray(human, dtype=object)
    if level == "group":
        est_i = np.array([(_GROUP_INDEX[[g for g, t in FST_GROUPS.items() if int(v) in t][0]]
                           if v is not None and v == v and 1 <= int(v) <= 6 else 0) for v in est])
        hum_i = np.array([_GROUP_INDEX.get(str(v), 0) for v in hum])
        labels = [1, 2, 3]
        names = list(FST_GROUPS)
    elif level == "type":
        def to_int(v):
            try:
                iv = int(v)
            except (TypeError, ValueError):
                return 0
            return iv if 1 <= iv <= 6 else 0

        est_i = np.array([to_int(v) for v in est])
        hum_i = np.array([to_int(v) for v in hum])
        labels = list(FST_TYPES)
        names = [str(k) for k in labels]
    else:
        raise ValueError(f"level must be 'type' or 'group', got {level!r}")
    keep = (est_i > 0) & (hum_i > 0)
    if ita is not None:
        ita_a = np.asarray(ita, dtype=float)
        keep &= np.isfinite(ita_a)
    if not keep.any():
        return None
    e, h = est_i[keep], hum_i[keep]
    it = ita_a[keep] if ita is not None else None
    diff = np.abs(e - h)

    def stats(idx):
        ee, hh = e[idx], h[idx]
        d = np.abs(ee - hh)
        out = [np.mean(d == 0), np.mean(d <= 1), _kappa(hh, ee, labels)]
        out.append(_spearman(it[idx], hh)[0] if it is not None else np.nan)
        return out

    point = stats(np.arange(e.size))
    rng = np.random.default_rng(seed)
    boots = np.array([stats(rng.integers(0, e.size, e.size)) for _ in range(n_boot)]) if n_boot else None

    def ci(j):
        if boots is None:
            return None
        col = boots[:, j]
        col = col[np.isfinite(col)]
        if col.size < n_boot * 0.5:
            return None
        return [float(np.percentile(col, 2.5)), float(np.percentile(col, 97.5))]

    cm = np.zeros((len(labels), len(labels)), dtype=int)
    for hh, ee in zip(h, e):
        cm[hh - 1, ee - 1] += 1
    per_type = {}
    for k, name in zip(labels, names):
        sel = h == k
        if sel.any():
            per_type[name] = {"n": int(sel.sum()), "exact": float(np.mean(diff[sel] == 0)),
                              "within_one": float(np.mean(diff[sel] <= 1))}
    rho_ita, p_ita = _spearman(it, h) if it is not None else (float("nan"), float("nan"))
    rho_fst, p_fst = _spearman(e, h)
    return {
        "level": level,
        "n": int(e.size),
        "exact": float(point[0]), "exact_ci": ci(0),
        "within_one": float(point[1]), "within_one_ci": ci(1),
        "weighted_kappa": to_jsonable(point[2]), "weighted_kappa_ci": ci(2), "kappa_weights": "quadratic",
        "spearman_ita": {"rho": to_jsonable(rho_ita), "p": to_jsonable(p_ita), "ci": ci(3)},
        "spearman_fst": {"rho": to_jsonable(rho_fst), "p": to_jsonable(p_fst)},
        "confusion": {"labels": names, "rows": "human", "cols": "estimated", "matrix": cm.tolist()},
        "per_type": per_type,
        "bootstrap": {"n_boot": n_boot, "seed": seed, "method": "percentile"},
    }
