"""Calibration of the Dawid-Skene consensus probabilities without ground truth: a parametric
bootstrap of the study's own design.

Why: the plug-in posterior treats each annotator's estimated confusion as exact, but with a few
dozen labels per confusion row the estimate is noisy and partly fitted to the very labels it then
scores, so the top-class probabilities come out too high (benchmarks/bench_annotate.py, on
simulated annotators of known confusion). What: draw ``n_boot`` studies of the *same* design
(which annotator labelled which image) from the fitted model (true types from the fitted type
mix, answers from the fitted confusions), refit Dawid-Skene to each with the same settings,
and choose the temperature ``tau`` that minimises the log loss of the refitted posteriors at
the drawn true types. The consensus posterior is then ``p ** tau`` renormalised: the most
probable type of every image is unchanged (so is the accuracy), only its probability moves.
The bootstrap reproduces the overconfidence that estimating the confusions from this many
labels causes; it cannot see a model that is wrong in other ways (e.g. annotators who are
dependent given the true type), and it under-corrects somewhat because the fitted confusions are
smoother than real ones (the benchmark reports how much is left).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.optimize import minimize_scalar

from fairskin.annotate._consensus import Consensus, dawid_skene
from fairskin.errors import InputError

__all__ = ["bootstrap_temperature", "calibrated_dawid_skene", "temper"]


def temper(posterior: np.ndarray, tau: float) -> np.ndarray:
    """``posterior ** tau``, each row renormalised (tau < 1 flattens, tau > 1 sharpens)."""
    logp = tau * np.log(np.maximum(np.asarray(posterior, float), 1e-300))
    e = np.exp(logp - logp.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def bootstrap_temperature(consensus: Consensus, items, annotators, *, n_boot: int = 20, seed: int = 0,
                          bounds: tuple[float, float] = (0.05, 2.0), **fit_kwargs) -> float:
    """The temperature that calibrates refits of ``consensus`` on ``n_boot`` studies simulated
    from it with the same design (see the module docstring). ``fit_kwargs`` are ``dawid_skene``'s."""
    if n_boot < 1:
        raise InputError(f"calibration_boot: expected at least 1 bootstrap study, got {n_boot}")
    items, annotators = np.asarray(items, np.int64), np.asarray(annotators, np.int64)
    n_items, K = consensus.posterior.shape
    seen = np.unique(items)
    rng = np.random.default_rng(seed)
    logs, truths = [], []
    for _ in range(n_boot):
        truth = rng.choice(K, size=n_items, p=consensus.prior)
        cum = consensus.confusion[annotators, truth[items]].cumsum(axis=1)
        labels = np.minimum((rng.random(len(items))[:, None] > cum).sum(axis=1), K - 1)
        fit = dawid_skene(items, annotators, labels, n_items=n_items, n_annotators=consensus.confusion.shape[0],
                          n_classes=K, **fit_kwargs)
        logs.append(np.log(np.maximum(fit.posterior[seen], 1e-300)))
        truths.append(truth[seen])
    L, t = np.concatenate(logs), np.concatenate(truths)
    rows = np.arange(len(t))

    def loss(log_tau: float) -> float:
        return float(-np.log(np.maximum(temper(np.exp(L), np.exp(log_tau))[rows, t], 1e-300)).mean())

    res = minimize_scalar(loss, bounds=tuple(np.log(bounds)), method="bounded")
    return float(np.exp(res.x))


def calibrated_dawid_skene(items, annotators, labels, *, n_items: int, n_annotators: int, n_classes: int,
                           n_boot: int = 20, seed: int = 0, **fit_kwargs) -> Consensus:
    """``dawid_skene`` with its posterior tempered by ``bootstrap_temperature`` (``n_boot = 0``:
    the plug-in posterior, temperature 1)."""
    c = dawid_skene(items, annotators, labels, n_items=n_items, n_annotators=n_annotators, n_classes=n_classes,
                    **fit_kwargs)
    if n_boot == 0:
        return c
    tau = bootstrap_temperature(c, items, annotators, n_boot=n_boot, seed=seed, **fit_kwargs)
    return replace(c, posterior=temper(c.posterior, tau), temperature=tau)
