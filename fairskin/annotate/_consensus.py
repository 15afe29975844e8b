"""Consensus of several annotators' skin types: the Dawid-Skene model, and the majority vote.

Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using the EM
algorithm", Applied Statistics 28:20-28. Each image has an unknown true class ``t`` with prior
``pi[t]``; annotator ``a`` answers ``l`` with probability ``theta[a, t, l]`` (their confusion
matrix), independently given ``t``. EM alternates the posterior over each image's class (E) and
the prior and every annotator's confusion from those posteriors (M). The M-step adds a Dirichlet
pseudo-count to every confusion cell and prior class, and more to the diagonal (a MAP estimate
with a prior that annotators tend to be right, as in Passonneau & Carpenter 2014, TACL 2:311),
and ``neighbour`` on the two cells next to the diagonal: on an ordinal scale annotators mostly
confuse neighbouring types, and a prior that spreads the off-diagonal mass evenly instead gives,
with a few labels per row of a rare type, posteriors far too sure (benchmarks/bench_annotate.py:
the neighbour prior both raises the accuracy and removes most of the overconfidence); an
optional ``pooling`` shrinks each annotator towards the panel's pooled confusion. Without the
diagonal mass EM swaps or merges rare classes on some samples (measured: below the majority vote
on 3 of 10 simulated panels of 400 images); with a few dozen labels per annotator the unsmoothed maximum-likelihood
estimate puts zeros in the confusion rows and the posteriors become 0 / 1, overconfident where an
image was seen by two annotators who disagree. ``crowd-kit``'s DawidSkene is the unsmoothed
estimate; ``benchmarks/bench_annotate.py`` compares the two and the majority vote on simulated
annotators of known confusion.

Initialisation: the vote shares of each image (the usual start, Dawid & Skene section 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairskin.errors import InputError

__all__ = ["Consensus", "dawid_skene", "majority_vote", "vote_counts"]


@dataclass(frozen=True)
class Consensus:
    """Posterior over classes per image, and each annotator's estimated confusion."""

    posterior: np.ndarray  # (n_items, n_classes), rows sum to 1
    confusion: np.ndarray  # (n_annotators, n_classes, n_classes): [a, true, answered]
    prior: np.ndarray  # (n_classes,)
    n_iter: int
    converged: bool
    log_likelihood: float
    temperature: float = 1.0  # the posterior is the plug-in one ** temperature (annotate._calibrate)

    @property
    def labels(self) -> np.ndarray:
        """The most probable class of each image (0-based)."""
        return self.posterior.argmax(axis=1)

    @property
    def probability(self) -> np.ndarray:
        """The posterior probability of that class."""
        return self.posterior.max(axis=1)

    def flat_prior_posterior(self) -> np.ndarray:
        """The posterior with the class prior divided out (every type equally likely a priori):
        the estimated prior pulls an image of a rare type towards the common ones, so on a skewed
        mix this trades some overall accuracy for accuracy on the rare types (benchmarks/bench_annotate.py)."""
        with np.errstate(divide="ignore"):
            lp = np.log(np.maximum(self.posterior, 1e-300)) - self.temperature * np.log(self.prior)
        e = np.exp(lp - lp.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def annotator_accuracy(self) -> np.ndarray:
        """Each annotator's estimated probability of answering the true class (prior-weighted
        diagonal of their confusion)."""
        return np.einsum("t,att->a", self.prior, self.confusion)


def _check(items, annotators, labels, n_items, n_annotators, n_classes):
    items, annotators, labels = (np.asarray(x, dtype=np.int64) for x in (items, annotators, labels))
    if not (items.shape == annotators.shape == labels.shape) or items.ndim != 1:
        raise InputError("consensus: items, annotators and labels must be 1-d arrays of one length")
    for name, x, hi in (("item", items, n_items), ("annotator", annotators, n_annotators), ("label", labels, n_classes)):
        if x.size and (x.min() < 0 or x.max() >= hi):
            raise InputError(f"consensus: {name} indices must lie in 0..{hi - 1}")
    return items, annotators, labels


def vote_counts(items, labels, *, n_items: int, n_classes: int) -> np.ndarray:
    """Votes per image and class, (n_items, n_classes)."""
    counts = np.zeros((n_items, n_classes))
    np.add.at(counts, (np.asarray(items, np.int64), np.asarray(labels, np.int64)), 1.0)
    return counts


def majority_vote(items, labels, *, n_items: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(class, vote share) per image; ties broken at random (seeded), an image without votes gets -1."""
    counts = vote_counts(items, labels, n_items=n_items, n_classes=n_classes)
    rng = np.random.default_rng(seed)
    top = counts == counts.max(axis=1, keepdims=True)
    pick = np.array([rng.choice(np.flatnonzero(row)) for row in top])
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, counts[np.arange(n_items), pick] / total, np.nan)
    return np.where(total > 0, pick, -1), share


def dawid_skene(items, annotators, labels, *, n_items: int, n_annotators: int, n_classes: int,
                smoothing: float = 1.0, diagonal: float = 5.0, pooling: float = 0.0, prior_smoothing: float = 1.0,
                neighbour: float = 0.0,
                max_iter: int = 200, tol: float = 1e-6) -> Consensus:
    """Fit the Dawid-Skene model to labels given as parallel arrays of 0-based indices (one entry
    per answer: image, annotator, class). Images without an answer get the prior."""
    items, annotators, labels = _check(items, annotators, labels, n_items, n_annotators, n_classes)
    if items.size == 0:
        raise InputError("consensus: no labels to combine")
    counts = vote_counts(items, labels, n_items=n_items, n_classes=n_classes)
    seen = counts.sum(axis=1) > 0
    T = np.where(seen[:, None], counts / np.maximum(counts.sum(axis=1, keepdims=True), 1), 1.0 / n_classes)
    # the Dirichlet pseudo-counts of a confusion row: every cell, the diagonal, and (ordinal scales)
    # the two neighbouring types, which annotators of skin type confuse most
    pseudo = float(smoothing) + diagonal * np.eye(n_classes) + neighbour * (np.eye(n_classes, k=1) + np.eye(n_classes, k=-1))
    last, converged, it = -np.inf, False, 0
    for it in range(1, max_iter + 1):
        # M-step: prior and confusions from the current posteriors (MAP with Dirichlet pseudo-counts)
        prior = T[seen].sum(axis=0) + prior_smoothing
        prior = prior / prior.sum()
        soft = np.zeros((n_annotators, n_classes, n_classes))
        np.add.at(soft, (annotators, slice(None), labels), T[items])
        conf = soft + pseudo
        if pooling:  # shrink each annotator towards the panel's pooled confusion (pooling pseudo-labels per row)
            pooled = soft.sum(axis=0) + pseudo
            conf = conf + pooling * pooled / pooled.sum(axis=1, keepdims=True)
        conf = conf / np.maximum(conf.sum(axis=2, keepdims=True), 1e-300)
        # E-step: posterior of each image's class given its answers
        with np.errstate(divide="ignore"):
            log_conf = np.log(np.maximum(conf, 1e-300))
            logT = np.tile(np.log(prior), (n_items, 1))
        np.add.at(logT, items, log_conf[annotators, :, labels])
        mx = logT.max(axis=1, keepdims=True)
        e = np.exp(logT - mx)
        norm = e.sum(axis=1, keepdims=True)
        T = e / norm
        ll = float((np.log(norm) + mx)[seen].sum())
        if abs(ll - last) <= tol * max(1.0, abs(ll)):
            converged = True
            break
        last = ll
    return Consensus(posterior=T, confusion=conf, prior=prior, n_iter=it, converged=converged, log_likelihood=ll)
