"""Dawid-Skene consensus, the majority vote, the even allocation and the ordinal alpha, on
simulated annotators of known confusion."""

from __future__ import annotations

import numpy as np
import pytest

from fairskin.annotate import (Annotator, annotator_confusion, calibration_error, dawid_skene, majority_vote,
                               simulate_annotations)
from fairskin.errors import InputError


def _fit(st, **kw):
    n = len(st.truth)
    return dawid_skene(st.items, st.annotators, st.labels, n_items=n, n_annotators=st.confusion.shape[0],
                       n_classes=st.confusion.shape[1], **kw)


def test_consensus_beats_the_majority_vote_on_a_mixed_panel():
    gains = []
    for seed in range(4):
        st = simulate_annotations(400, seed=seed)
        c = _fit(st)
        mv, _ = majority_vote(st.items, st.labels, n_items=400, n_classes=6, seed=seed)
        gains.append((c.labels == st.truth).mean() - (mv == st.truth).mean())
    assert min(gains) > 0.03, gains


def test_posteriors_are_distributions_and_confusions_are_recovered():
    panel = (Annotator(0.4), Annotator(0.5), Annotator(0.8), Annotator(1.0), Annotator(0.6, spam=0.9))
    st = simulate_annotations(1500, panel=panel, per_image=3, prior=(1, 1, 1, 1, 1, 1), seed=1)
    c = _fit(st)
    assert np.allclose(c.posterior.sum(axis=1), 1) and np.allclose(c.confusion.sum(axis=2), 1)
    acc = c.annotator_accuracy()
    true_acc = np.array([np.mean(np.diag(annotator_confusion(a, 6))) for a in panel])
    assert np.abs(acc - true_acc).max() < 0.08, (acc, true_acc)
    assert list(np.argsort(acc)) == list(np.argsort(true_acc))  # the annotators are ranked right, the spammer last


def test_an_image_without_labels_gets_the_prior():
    c = dawid_skene([0, 0, 1], [0, 1, 0], [2, 2, 3], n_items=3, n_annotators=2, n_classes=6)
    assert np.allclose(c.posterior[2], c.prior)
    assert c.labels[0] == 2


def test_bad_indices_are_refused():
    with pytest.raises(InputError, match="label indices"):
        dawid_skene([0], [0], [6], n_items=1, n_annotators=1, n_classes=6)
    with pytest.raises(InputError, match="no labels"):
        dawid_skene([], [], [], n_items=1, n_annotators=1, n_classes=6)


def test_calibration_error_of_a_calibrated_forecast_is_small():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.2, 1, 20000)
    assert calibration_error(p, rng.random(20000) < p) < 0.02
    assert calibration_error(np.full(1000, 0.9), np.zeros(1000)) == pytest.approx(0.9)


def test_even_allocation_feeds_rare_strata_first():
    from fairskin.annotate._create import allocate_even

    assert allocate_even({1: 100, 2: 50, 5: 3, 6: 1}, 20) == {1: 8, 2: 8, 5: 3, 6: 1}
    assert sum(allocate_even({1: 5, 2: 5, 3: 5}, 7).values()) == 7
    with pytest.raises(InputError, match="n=20"):
        allocate_even({1: 5, 2: 5}, 20)


def test_ordinal_alpha_and_its_intervals():
    from fairskin.annotate._analyze import ordinal_alpha

    rng = np.random.default_rng(0)
    truth = rng.integers(1, 7, 60).astype(float)
    close = np.stack([np.clip(truth + rng.integers(-1, 2, 60), 1, 6) for _ in range(4)])
    noise = rng.integers(1, 7, (4, 60)).astype(float)
    a_close = ordinal_alpha(close, n_boot=200, seed=0, level=0.95)
    a_noise = ordinal_alpha(noise, n_boot=200, seed=0, level=0.95)
    assert a_close["value"] > 0.7 and abs(a_noise["value"]) < 0.2
    lo, hi = a_close["intervals"]["annotators x images"]
    assert lo < a_close["value"] < hi
    # resampling annotators as well as images can only add width here
    w_img = np.diff(a_close["intervals"]["images"])[0]
    assert np.diff(a_close["intervals"]["annotators x images"])[0] >= 0.8 * w_img


def test_the_flat_prior_posterior_gives_rare_types_back():
    st = simulate_annotations(600, seed=3)
    c = _fit(st)
    flat = c.flat_prior_posterior()
    assert np.allclose(flat.sum(axis=1), 1)
    dark = st.truth >= 4
    assert (flat.argmax(axis=1) >= 4).sum() > (c.labels >= 4).sum()  # more images called V-VI
    assert (flat.argmax(axis=1) == st.truth)[dark].mean() >= (c.labels == st.truth)[dark].mean()


def test_consensus_probabilities_are_calibrated_on_a_simulation_of_known_truth():
    """3 simulated panels of 400 images (seeds 0-2; 6 annotators, 3 per image, a skewed type mix).
    With ``analyze``'s settings (neighbour prior, bootstrap temperature, which uses no truth) mean
    probability minus accuracy is within 0.03 and the pooled ECE (10 bins, 1200 images) within 0.04
    (measured: +0.017 and 0.031); the earlier model (off-diagonal mass spread evenly, no temperature)
    misses both by far (+0.11, 0.12), so the tolerance discriminates. The temperature moves the
    probabilities only: every consensus type is the plug-in one."""
    from fairskin.annotate import AnnotateAnalyzeConfig, calibrated_dawid_skene

    d = AnnotateAnalyzeConfig()
    probs, oks, old_probs, old_oks = [], [], [], []
    for seed in range(3):
        st = simulate_annotations(400, seed=seed)
        kw = dict(smoothing=d.smoothing, diagonal=d.diagonal, neighbour=d.neighbour)
        cal = calibrated_dawid_skene(st.items, st.annotators, st.labels, n_items=400, n_annotators=6, n_classes=6,
                                     n_boot=10, seed=seed, **kw)
        plain = _fit(st, **kw)
        assert np.array_equal(cal.labels, plain.labels) and 0 < cal.temperature < 1
        assert np.allclose(cal.posterior.sum(axis=1), 1)
        probs.append(cal.probability)
        oks.append(cal.labels == st.truth)
        old = _fit(st, smoothing=1.0, diagonal=5.0, neighbour=0.0)
        old_probs.append(old.probability)
        old_oks.append(old.labels == st.truth)
    q, ok = np.concatenate(probs), np.concatenate(oks)
    p, ok_old = np.concatenate(old_probs), np.concatenate(old_oks)
    assert abs(q.mean() - ok.mean()) < 0.03, q.mean() - ok.mean()
    assert calibration_error(q, ok) < 0.04
    assert p.mean() - ok_old.mean() > 0.08 and calibration_error(p, ok_old) > 0.08
    assert ok.mean() >= ok_old.mean()  # and the consensus is no less accurate


def test_calibration_boot_checks_its_argument():
    from fairskin.annotate import bootstrap_temperature

    st = simulate_annotations(50, seed=0)
    with pytest.raises(InputError, match="calibration_boot"):
        bootstrap_temperature(_fit(st), st.items, st.annotators, n_boot=0)
