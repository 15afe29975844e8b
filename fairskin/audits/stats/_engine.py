"""The audit's engine: every metric of every group for the rows as given and for each bootstrap
resample, computed once and shared by the group entries, the gaps, the ratios and the model
comparisons (so a comparison is paired: both models see the same resamples)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairskin.audits.stats._bootstrap import cluster_count_rows, delong_variance, stratified_count_rows
from fairskin.audits.stats._metrics import (
    METRICS,
    ROC_GRID_POINTS,
    Scratch,
    SortedRows,
    add_sums,
    count_sums,
    rank_metrics,
    rate_metrics,
    running_sums,
)
from fairskin.skintone import FITZPATRICK, ToneScale, get_tone_scale

__all__ = ["Engine", "group_keys", "rows_of"]


def group_keys(frame: pd.DataFrame, scale: ToneScale = FITZPATRICK
               ) -> tuple[list[tuple[str, str, tuple[int, ...]]], bool]:
    """[(level, name, tones)] in report order (tones I..VI, or MST 1..10, when known, then the
    scale's groups: I-II..V-VI, or 1-3..8-10); and whether every row has an exact tone.
    ``frame["tone"]`` holds the tone on ``scale``, 0 where only its group is known."""
    keys = []
    all_typed = bool((frame["tone"] > 0).all())
    if (frame["tone"] > 0).any():
        for t in scale.tones:
            if (frame["tone"] == t).any():
                keys.append(("type", scale.label(t), (t,)))
    for g, ts in scale.groups.items():
        if (frame["tone_group"] == g).any():
            keys.append(("group", g, ts))
    return keys, all_typed


def rows_of(frame: pd.DataFrame, level: str, name: str, scale: ToneScale = FITZPATRICK) -> np.ndarray:
    if level == "type":
        return np.flatnonzero(frame["tone"].to_numpy() == scale.tone_of(name))
    if level == "group":
        return np.flatnonzero(frame["tone_group"].to_numpy() == name)
    return np.arange(len(frame))


def _counts(scores: np.ndarray, y: np.ndarray, idx: np.ndarray, threshold: float) -> dict[str, int]:
    pred = scores[idx] >= threshold
    yy = y[idx]
    tp, fp = int((pred & yy).sum()), int((pred & ~yy).sum())
    P, n = int(yy.sum()), len(idx)
    return {"tp": tp, "fp": fp, "tn": n - P - fp, "fn": P - tp, "positives": P, "negatives": n - P, "n": n,
            "predicted_positive": tp + fp, "predicted_negative": n - tp - fp}


def _chunk(n_rows: int) -> int:
    """Resamples per block of draws: ~32 M counts (128 MB), at most 64. It fixes the order in which
    the generator's draws become resamples, so it stays what it was for the same seed to give the
    same resamples."""
    return int(max(1, min(64, 2 ** 25 // max(n_rows, 1))))


def _pass_rows(n_rows: int) -> int:
    """Resamples per pass of the metrics: the work arrays hold ~8 times the counts of one pass, so
    ~16 M counts per pass (~0.4 GB of work arrays) keeps a million rows well under 2 GB."""
    return int(max(1, min(64, 2 ** 24 // max(n_rows, 1))))


class Engine:
    """Point values and bootstrap samples of every metric, of each bin's calibration gap and of
    the ROC curve (TPR on the fixed FPR grid), for every model and group.

    Rows are resampled within skin-type x label strata, so each resample keeps every group's
    size and malignant count (``cfg.label_sampling == "fixed"``); or, where the malignant share
    of a type is random (``"cohort"``), within skin type only. With ``clusters`` (a patient or lesion id per row, where some hold
    several rows), whole clusters are resampled within the skin type of their rows instead:
    images of one lesion are not independent, and resampling them one by one understates the
    uncertainty.
    """

    def __init__(self, frame: pd.DataFrame, scores: dict[str, np.ndarray], thresholds: dict[str, float], cfg,
                 *, clusters: np.ndarray | None = None, confusion=None, chosen: dict[str, float] | None = None):
        self.frame, self.cfg = frame, cfg
        #: model -> target sensitivity its threshold was chosen for on these rows (threshold noise in the resamples)
        self.chosen = dict(chosen or {})
        #: the tone scale the rows are grouped on (Fitzpatrick, or Monk Skin Tone)
        self.scale = get_tone_scale(cfg.tone_scale)
        self.keys, self.all_typed = group_keys(frame, self.scale)
        self.keys.append(("all", "all", tuple(sorted(int(t) for t in set(frame["tone"]) if t > 0))
                          or tuple(t for g in sorted(set(frame["tone_group"])) for t in self.scale.groups.get(g, ()))))
        y = frame["label"].to_numpy(bool)
        self.y = y
        type_key = np.where(frame["tone"].to_numpy() > 0, "t" + frame["tone"].astype(str),
                            "g" + frame["tone_group"].astype(str))
        self.rows = {(lvl, g): rows_of(frame, lvl, g, self.scale) for lvl, g, _ in self.keys}
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
        elif getattr(cfg, "label_sampling", "fixed") == "cohort":
            # each type's malignant count is itself random (labels came with the rows): redraw it
            self.strata = pd.factorize(type_key)[0]
            self.resampling = "rows_within_type"
        else:
            self.strata = pd.factorize(type_key + np.where(y, ":1", ":0"))[0]
            self.resampling = "rows"
        self._layout(type_key, y, scores, thresholds, cfg)
        self.counts = {m: {k: _counts(s, y, idx, thresholds[m]) for k, idx in self.rows.items()}
                       for m, s in scores.items()}
        self.delong = {m: {k: delong_variance(s[idx], y[idx]) for k, idx in self.rows.items()}
                       for m, s in scores.items()}
        point = self._metrics(np.ones((1, len(y)), np.int32))
        self.values, self.roc = {}, {}
        for m, d in point.items():
            self.values[m], self.roc[m] = {}, {}
            for k, out in d.items():
                self.roc[m][k] = out.pop("roc_tpr")[0]
                self.values[m][k] = {name: (v[0] if name == "ece_bins" else float(v[0])) for name, v in out.items()}
        self.corrected: dict = {}
        self.correction_failed: dict = {}
        self._resample()
        if self.chosen:
            from fairskin.audits.stats._threshold import add_threshold_noise

            for m, target in self.chosen.items():
                add_threshold_noise(self, m, target)
        if confusion is not None:
            from fairskin.audits.stats._misclass import correct_engine

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
        from fairskin.audits.stats._misclass import CORRECTED_METRICS

        return key[0] in self.corrected and metric in CORRECTED_METRICS

    def _layout(self, type_key: np.ndarray, y: np.ndarray, scores: dict[str, np.ndarray], thresholds, cfg) -> None:
        """Order the bootstrap's count columns: rows grouped by cell (skin type, or group for rows
        with only a group) and label, each run in the first model's score order, so that a cell's
        rows are consecutive columns (views, no gathers) and every group is a union of cells
        whose additive sums (:func:`count_sums`) just add up."""
        cell = pd.factorize(type_key)[0]
        first = scores[next(iter(scores))]
        self.order = np.lexsort((first, y, cell))  # column j holds row order[j]
        self.column = np.empty_like(self.order)
        self.column[self.order] = np.arange(len(y))
        y_col = y[self.order]
        cells = {c: self.column[np.flatnonzero(cell == c)] for c in np.unique(cell)}
        self.key_cells = {}
        for key, idx in self.rows.items():
            cs = [int(c) for c in np.unique(cell[idx])]
            self.key_cells[key] = cs if sum(len(cells[c]) for c in cs) == len(idx) else None
        self.prep, self.cell_prep = {}, {}
        for m, s in scores.items():
            s_col = s[self.order]
            self.prep[m] = {k: SortedRows.build(self.column[idx], s_col, y_col, threshold=thresholds[m],
                                                ece_bins=cfg.ece_bins) for k, idx in self.rows.items()}
            self.cell_prep[m] = {}
            for c, cols in cells.items():
                same = next((k for k, cs in self.key_cells.items() if cs == [c]), None)
                self.cell_prep[m][c] = self.prep[m][same] if same else SortedRows.build(
                    cols, s_col, y_col, threshold=thresholds[m], ece_bins=cfg.ece_bins)
        # keys whose rows are one cell take that cell's rank metrics
        self.cell_keys = {c: [k for k, cs in self.key_cells.items() if cs == [c]] for c in cells}

    def _metrics(self, counts: np.ndarray, scratch: Scratch | None = None) -> dict:
        """model -> key -> metric name -> values, one per row of ``counts`` ``(k, n_rows)`` (columns
        in the engine's layout): every metric, ``ece_bins`` ``(k, n_bins)`` and ``roc_tpr`` ``(k, G)``."""
        out = {}
        scratch = scratch or Scratch()
        G = ROC_GRID_POINTS
        for m in self.scores:
            sums, ranks = {}, {}
            for c, rows in self.cell_prep[m].items():
                Wn, Wp = rows.split(counts, scratch=scratch)
                Cn, Cp = running_sums(Wn, scratch=scratch, role="Cn"), running_sums(Wp, scratch=scratch, role="Cp")
                sums[c] = count_sums(rows, Wn, Wp, Cn, Cp)
                if self.cell_keys[c]:
                    r = rank_metrics(rows, Wp, Cn, Cp, roc_points=G, scratch=scratch)
                    ranks.update({k: r for k in self.cell_keys[c]})
            out[m] = {}
            for key, rows in self.prep[m].items():
                cs = self.key_cells[key]
                if key not in ranks or cs is None:
                    Wn, Wp = rows.split(counts, scratch=scratch)
                    Cn, Cp = (running_sums(Wn, scratch=scratch, role="Cn"),
                              running_sums(Wp, scratch=scratch, role="Cp"))
                    ranks[key] = rank_metrics(rows, Wp, Cn, Cp, roc_points=G, scratch=scratch)
                    if cs is None:
                        sums[key] = count_sums(rows, Wn, Wp, Cn, Cp)
                d = rate_metrics(sums[key] if cs is None else add_sums([sums[c] for c in cs]))
                d.update(ranks[key])
                out[m][key] = d
        return out

    def count_blocks(self, *, reuse: bool = False):
        """The bootstrap's count rows ``(k, n_rows)`` int32, columns in the engine's layout
        (``self.column[i]`` holds row ``i``), block by block; the same resamples on every call
        (the seed is the config's). ``reuse``: see :func:`stratified_count_rows`."""
        rng = np.random.default_rng(self.cfg.seed)
        n = len(self.y)
        if self.clustered:
            return cluster_count_rows(self.cluster_codes, self.cluster_strata, n_boot=self.cfg.n_boot, rng=rng,
                                      chunk=_chunk(n), columns=self.column, reuse=reuse)
        return stratified_count_rows(self.strata, n_boot=self.cfg.n_boot, rng=rng, chunk=_chunk(n),
                                     columns=self.column, reuse=reuse)

    def weight_blocks(self):
        """The bootstrap's count matrices ``(n_rows, k)`` (rows in the data's order), block by block;
        the same resamples on every call (the seed is the config's)."""
        for block in self.count_blocks(reuse=True):
            yield np.take(block, self.column, axis=1).T.astype(float)

    def _resample(self) -> None:
        cfg = self.cfg
        B, G = cfg.n_boot, ROC_GRID_POINTS
        self.samples = {m: {k: {name: np.empty(B) for name in METRICS} for k in d} for m, d in self.prep.items()}
        for m, d in self.prep.items():
            for k in d:
                self.samples[m][k]["ece_bins"] = np.empty((B, cfg.ece_bins))
        self.roc_samples = {m: {k: np.empty((B, G)) for k in d} for m, d in self.prep.items()}
        done = 0
        # The only BLAS calls (the calibration bins' dot products) are small; BLAS threads just fight for the cores.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            scratch = Scratch()
            step = _pass_rows(len(self.y))
            for counts in self.count_blocks(reuse=True):
                for a in range(0, counts.shape[0], step):
                    part = counts[a:a + step]
                    at = slice(done + a, done + a + part.shape[0])
                    for m, d in self._metrics(part, scratch).items():
                        for key, out in d.items():
                            self.roc_samples[m][key][at] = out.pop("roc_tpr")
                            for name, v in out.items():
                                self.samples[m][key][name][at] = v
                done += counts.shape[0]

    @property
    def resampling_unit(self) -> str:
        """How the bootstrap resampled, in words (``meta.resampling``)."""
        if self.clustered:
            return (f"clusters ({self.n_clusters} ids for {len(self.y)} rows) resampled within the skin type of "
                    "their rows")
        if self.resampling == "rows_within_label":
            return ("rows resampled within malignant and within benign (estimated skin types vary between "
                    "resamples), and the labeller's calibration counts redrawn")
        if self.resampling == "rows_within_type":
            return ("rows resampled within each skin type (or group), labels with them: each type's malignant "
                    "count varies between resamples (label_sampling 'cohort')")
        return ("rows resampled within each (skin type or group, label) stratum: each type's malignant count held "
                "fixed (label_sampling 'fixed')")
