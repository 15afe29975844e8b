"""The audit's engine: every metric of every group for the rows as given and for each bootstrap
resample, computed once and shared by the group entries, the gaps, the ratios and the model
comparisons (so a comparison is paired: both models see the same resamples)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairskin.audits._bootstrap import cluster_counts, delong_variance, stratified_counts
from fairskin.audits._metrics import METRICS, ROC_GRID_POINTS, SortedRows, weighted_metrics
from fairskin.skintone import FST_GROUPS, ROMAN

__all__ = ["Engine", "group_keys", "rows_of"]


def group_keys(frame: pd.DataFrame) -> tuple[list[tuple[str, str, tuple[int, ...]]], bool]:
    """[(level, name, types)] in report order (types I..VI when known, then groups I-II..V-VI);
    and whether every row has an exact type."""
    keys = []
    all_typed = bool((frame["fst_type"] > 0).all())
    if (frame["fst_type"] > 0).any():
        for t in range(1, 7):
            if (frame["fst_type"] == t).any():
                keys.append(("type", ROMAN[t - 1], (t,)))
    for g, ts in FST_GROUPS.items():
        if (frame["fst_group"] == g).any():
            keys.append(("group", g, ts))
    return keys, all_typed


def rows_of(frame: pd.DataFrame, level: str, name: str) -> np.ndarray:
    if level == "type":
        return np.flatnonzero(frame["fst_type"].to_numpy() == ROMAN.index(name) + 1)
    if level == "group":
        return np.flatnonzero(frame["fst_group"].to_numpy() == name)
    return np.arange(len(frame))


def _counts(scores: np.ndarray, y: np.ndarray, idx: np.ndarray, threshold: float) -> dict[str, int]:
    pred = scores[idx] >= threshold
    yy = y[idx]
    tp, fp = int((pred & yy).sum()), int((pred & ~yy).sum())
    P, n = int(yy.sum()), len(idx)
    return {"tp": tp, "fp": fp, "tn": n - P - fp, "fn": P - tp, "positives": P, "negatives": n - P, "n": n,
            "predicted_positive": tp + fp, "predicted_negative": n - tp - fp}


def _chunk(n_rows: int) -> int:
    """Resamples per block: ~32 M weights in flight (256 MB), at most 64."""
    return int(max(1, min(64, 2 ** 25 // max(n_rows, 1))))


class Engine:
    """Point values and bootstrap samples of every metric, of each bin's calibration gap and of
    the ROC curve (TPR on the fixed FPR grid), for every model and group.

    Rows are resampled within skin-type x label strata, so each resample keeps every group's
    size and malignant count. With ``clusters`` (a patient or lesion id per row, where some hold
    several rows), whole clusters are resampled within the skin type of their rows instead:
    images of one lesion are not independent, and resampling them one by one understates the
    uncertainty.
    """

    def __init__(self, frame: pd.DataFrame, scores: dict[str, np.ndarray], thresholds: dict[str, float], cfg,
                 *, clusters: np.ndarray | None = None, confusion=None):
        self.frame, self.cfg = frame, cfg
        self.keys, self.all_typed = group_keys(frame)
        self.keys.append(("all", "all", tuple(sorted(int(t) for t in set(frame["fst_type"]) if t > 0))
                          or tuple(t for g in sorted(set(frame["fst_group"])) for t in FST_GROUPS.get(g, ()))))
        y = frame["label"].to_numpy(bool)
        self.y = y
        type_key = np.where(frame["fst_type"].to_numpy() > 0, "t" + frame["fst_type"].astype(str),
                            "g" + frame["fst_group"].astype(str))
        self.rows = {(lvl, g): rows_of(frame, lvl, g) for lvl, g, _ in self.keys}
        self.scores = scores
        self.thresholds = thresholds
        self.clustered = False
        if clusters is not None:
            codes, uniq = pd.factorize(pd.Series(clusters).astype(str))
            self.clustered = len(uniq) < len(codes)
        if self.clustered:
            self.cluster_codes = codes
            self.n_clusters = len(uniq)
            # a cluster's stratum: the skin type of most of its rows
            by = pd.DataFrame({"c": codes, "t": type_key}).groupby("c")["t"].agg(lambda s: s.value_counts().index[0])
            self.cluster_strata = pd.factorize(by.sort_index().to_numpy())[0]
            self.mixed_clusters = int(pd.DataFrame({"c": codes, "t": type_key}).groupby("c")["t"].nunique().gt(1)
                                      .sum())
            self.resampling = "clusters"
        elif confusion is not None:
            # estimated types are themselves random (the labeller's error): resampling within them
            # would hold each estimated group's size fixed and miss that part of the variance
            self.strata = y.astype(int)
            self.resampling = "rows_within_label"
        else:
            self.strata = pd.factorize(type_key + np.where(y, ":1", ":0"))[0]
            self.resampling = "rows"
        self.prep = {m: {k: SortedRows.build(idx, s, y, threshold=thresholds[m], ece_bins=cfg.ece_bins)
                         for k, idx in self.rows.items()} for m, s in scores.items()}
        self.counts = {m: {k: _counts(s, y, idx, thresholds[m]) for k, idx in self.rows.items()}
                       for m, s in scores.items()}
        self.delong = {m: {k: delong_variance(s[idx], y[idx]) for k, idx in self.rows.items()}
                       for m, s in scores.items()}
        G = ROC_GRID_POINTS
        self.values, self.roc = {}, {}
        for m, d in self.prep.items():
            self.values[m], self.roc[m] = {}, {}
            for k, p in d.items():
                out = weighted_metrics(p, np.ones((p.n, 1)), roc_points=G)
                self.roc[m][k] = out.pop("roc_tpr")[0]
                self.values[m][k] = {name: (v[0] if name == "ece_bins" else float(v[0])) for name, v in out.items()}
        self.corrected: dict = {}
        self.correction_failed: dict = {}
        self._resample()
        if confusion is not None:
            from fairskin.audits._misclass import correct_engine

            correct_engine(self, confusion)

    def clusters_in(self, key, denominator: str = "n") -> int:
        """Clusters among a group's rows that enter a count's denominator (malignant rows for
        ``positives``, benign for ``negatives``, rows predicted positive for
        ``predicted_positive``...): the independent units behind a clustered proportion."""
        idx = self.rows[key]
        y = self.y[idx]
        pick = {"positives": y, "negatives": ~y}.get(denominator)
        if pick is None and denominator in ("predicted_positive", "predicted_negative"):
            m = next(iter(self.scores))
            pred = self.scores[m][idx] >= self.thresholds[m]
            pick = pred if denominator == "predicted_positive" else ~pred
        if pick is not None:
            idx = idx[pick]
        return int(len(np.unique(self.cluster_codes[idx])))

    @property
    def bootstrap_only(self) -> bool:
        """Whether intervals that assume independent rows of known type (Wilson, DeLong, MOVER) must
        give way to the bootstrap: clustered rows, or skin types corrected for labelling error."""
        return self.clustered or bool(self.corrected)

    def is_corrected(self, key, metric: str) -> bool:
        from fairskin.audits._misclass import CORRECTED_METRICS

        return key[0] in self.corrected and metric in CORRECTED_METRICS

    def weight_blocks(self):
        """The bootstrap's count matrices ``(n_rows, k)``, block by block; the same resamples on
        every call (the seed is the config's)."""
        rng = np.random.default_rng(self.cfg.seed)
        n = len(self.y)
        if self.clustered:
            return cluster_counts(self.cluster_codes, self.cluster_strata, n_boot=self.cfg.n_boot, rng=rng,
                                  chunk=_chunk(n))
        return stratified_counts(self.strata, n_boot=self.cfg.n_boot, rng=rng, chunk=_chunk(n))

    def _resample(self) -> None:
        cfg = self.cfg
        B, G = cfg.n_boot, ROC_GRID_POINTS
        self.samples = {m: {k: {name: np.empty(B) for name in METRICS} for k in d} for m, d in self.prep.items()}
        for m, d in self.prep.items():
            for k in d:
                self.samples[m][k]["ece_bins"] = np.empty((B, cfg.ece_bins))
        self.roc_samples = {m: {k: np.empty((B, G)) for k in d} for m, d in self.prep.items()}
        blocks = self.weight_blocks()
        done = 0
        # The only BLAS call (the ECE bin sums) is small; BLAS threads just fight for the cores.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            for W in blocks:
                k = W.shape[1]
                for m, d in self.prep.items():
                    for key, p in d.items():
                        out = weighted_metrics(p, W[p.index], roc_points=G)
                        self.roc_samples[m][key][done:done + k] = out.pop("roc_tpr")
                        for name, v in out.items():
                            self.samples[m][key][name][done:done + k] = v
                done += k

    @property
    def resampling_unit(self) -> str:
        """How the bootstrap resampled, in words (``meta.resampling``)."""
        if self.clustered:
            return (f"clusters ({self.n_clusters} ids for {len(self.y)} rows) resampled within the skin type of "
                    "their rows")
        if self.resampling == "rows_within_label":
            return ("rows resampled within malignant and within benign (estimated skin types vary between "
                    "resamples), and the labeller's calibration counts redrawn")
        return "rows resampled within each (skin type or group, label) stratum"
