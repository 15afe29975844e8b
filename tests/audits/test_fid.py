"""Known answers for the feature-space distances: zero on identical sets, closed forms for
Gaussians, and torch-fidelity's own functions on the same features; and the whole FID path
(reading, resizing, Inception, Fréchet distance) against torch-fidelity's on images of any size.

Without torch-fidelity the comparisons skip one by one, naming it (a failure under FAIRSKIN_CI=1),
and the known-answer tests still run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from fairskin.audits.synthetic import (
    InceptionExtractor, density_coverage, extract_features, feature_statistics, fid_min_images, frechet_distance,
    frechet_distance_from_statistics, kid, precision_recall,
)
from fairskin.data import PhantomSpec, render_phantom
from fairskin.errors import InputError


@pytest.fixture(scope="module")
def tf(torch_fidelity):
    """torch-fidelity's metric modules."""
    import torch_fidelity.metric_fid as fid
    import torch_fidelity.metric_kid as kid_
    import torch_fidelity.metric_prc as prc

    return SimpleNamespace(fid=fid, kid=kid_, prc=prc)


def _sets(n1=400, n2=300, d=32, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n1, d)) @ rng.standard_normal((d, d)) * 0.3 + 1.0
    b = rng.standard_normal((n2, d)) @ rng.standard_normal((d, d)) * 0.35 + 1.2
    return a, b


@pytest.mark.parametrize("n", [400, 20])  # 20 < d: singular covariance
def test_fid_of_a_set_with_itself_is_zero(n):
    a, _ = _sets(n1=n)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9 * max(1.0, np.trace(np.cov(a, rowvar=False))))


def test_fid_closed_form_for_known_gaussians():
    # N(0, I) vs N(m, 4I) in d dims: |m|^2 + d (1 + 4 - 2 * 2) = |m|^2 + d
    d = 16
    m = np.arange(d) / 4.0
    got = frechet_distance_from_statistics(np.zeros(d), np.eye(d), m, 4 * np.eye(d))
    assert got == pytest.approx(float(m @ m) + d, rel=1e-12)
    # non-commuting covariances: 1-D check of the (S1 S2)^1/2 term, (s1 - s2)^2
    assert frechet_distance_from_statistics([0.0], [[9.0]], [0.0], [[4.0]]) == pytest.approx(1.0)


@pytest.mark.parametrize("seed,d", [(0, 8), (1, 64), (2, 128)])
def test_fid_equals_torch_fidelity_on_the_same_features(tf, seed, d):
    a, b = _sets(d=d, seed=seed)
    ours = frechet_distance(a, b)
    s1 = tf.fid.fid_features_to_statistics(torch.from_numpy(a))
    s2 = tf.fid.fid_features_to_statistics(torch.from_numpy(b))
    theirs = tf.fid.fid_statistics_to_metric(s1, s2, verbose=False)[tf.fid.KEY_METRIC_FID]
    assert ours > 1.0  # the sets differ: not a trivial comparison of zeros
    assert ours == pytest.approx(theirs, rel=1e-6)
    mu, sigma = feature_statistics(a)
    np.testing.assert_allclose(mu, s1["mu"])
    np.testing.assert_allclose(sigma, s1["sigma"])


def test_kid_of_a_set_with_itself_is_zero():
    a, _ = _sets()
    r = kid(a, a, subsets=20, subset_size=100)
    assert r.value == pytest.approx(0.0, abs=1e-9)
    assert r.std == pytest.approx(0.0, abs=1e-9)


def test_kid_equals_torch_fidelity_with_its_sampling(tf):
    a, b = _sets(d=48)
    ours = kid(a, b, subsets=25, subset_size=150, seed=7, estimator="unbiased", sampling="torch-fidelity")
    theirs = tf.kid.kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=25,
                                           kid_subset_size=150, rng_seed=7, verbose=False)
    assert ours.value > 0.01
    assert ours.value == pytest.approx(theirs[tf.kid.KEY_METRIC_KID_MEAN], rel=1e-9)
    assert ours.std == pytest.approx(theirs[tf.kid.KEY_METRIC_KID_STD], rel=1e-9)


@pytest.mark.parametrize("estimator", ["u-statistic", "unbiased", "biased"])
def test_kid_estimators_equal_torch_fidelity_mmd2(tf, estimator):
    a, b = _sets(n1=60, n2=60, d=12)
    ours = kid(a, b, subsets=1, subset_size=60, estimator=estimator, sampling="paired")
    # paired sampling with the whole set: the rows are permuted identically, so compute
    # torch-fidelity's mmd2 on the same permutation
    idx = np.random.RandomState(2020).choice(60, 60, replace=False)
    x, y = a[idx], b[idx]
    k = lambda p, q: (p @ q.T / 12 + 1) ** 3  # noqa: E731
    theirs = tf.kid.mmd2(k(x, x), k(x, y), k(y, y), mmd_est=estimator)
    assert ours.value == pytest.approx(float(theirs), rel=1e-9)


def test_kid_detects_a_shift_and_is_near_zero_for_the_same_distribution():
    rng = np.random.default_rng(3)
    x, y, z = (rng.standard_normal((500, 16)) for _ in range(3))
    same = kid(x, y, subsets=50, subset_size=200)
    shifted = kid(x, z + 0.5, subsets=50, subset_size=200)
    assert abs(same.value) < 3 * same.std + 1e-3
    assert shifted.value > 10 * max(same.std, 1e-3)


def test_precision_recall_equal_torch_fidelity(tf):
    a, b = _sets(n1=300, n2=250, d=16, seed=4)
    p, r = precision_recall(a, b, k=3)
    # torch-fidelity receives float32 features from its extractors
    theirs = tf.prc.prc_features_to_metric(torch.from_numpy(a).float(), torch.from_numpy(b).float(), prc_neighborhood=3,
                                           prc_batch_size=10000, save_cpu_ram=False, verbose=False)
    assert 0 < p < 1 and 0 < r < 1
    # torch-fidelity averages in float32; one image is 1/300, so 1e-6 still means the same count
    assert p == pytest.approx(theirs[tf.prc.KEY_METRIC_PRECISION], abs=1e-6)
    assert r == pytest.approx(theirs[tf.prc.KEY_METRIC_RECALL], abs=1e-6)


def test_precision_recall_density_coverage_known_answers():
    rng = np.random.default_rng(5)
    real = rng.standard_normal((200, 8))
    assert precision_recall(real, real) == (1.0, 1.0)
    assert density_coverage(real, real, k=5)[1] == 1.0
    far = real + 100.0  # nothing of the synthetic set is near the real one
    assert precision_recall(far, real) == (0.0, 0.0)
    assert density_coverage(far, real) == (0.0, 0.0)
    # collapse onto one real point: high precision, low recall
    collapsed = np.repeat(real[:1], 50, axis=0)
    p, r = precision_recall(collapsed, real)
    assert p == 1.0 and r < 0.1


def test_fid_min_images_rule():
    assert fid_min_images(2048) == 2049
    assert fid_min_images(45) == 500
    assert fid_min_images(45, floor=10) == 46


def test_metric_input_errors_name_the_argument():
    a, b = _sets(d=8)
    with pytest.raises(InputError, match=r"features: the two sets have different dimensions \(8 vs 4\)"):
        frechet_distance(a, b[:, :4])
    with pytest.raises(InputError, match="features_a: need at least 2 feature vectors, got 1"):
        kid(a[:1], b)
    with pytest.raises(InputError, match="subsets: must be at least 1, got 0"):
        kid(a, b, subsets=0)
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="features_a: features contain NaN or inf"):
        frechet_distance(bad, b)


def _phantom_folder(path, *, size, base, n=12):
    """n phantoms of falling ITA, ``size`` = (height, width): a square render cropped to the width."""
    path.mkdir()
    h, w = size
    for i in range(n):
        img = render_phantom(PhantomSpec(ita=60 - 6 * i - base / 4, size=max(h, w), seed=base + i))
        Image.fromarray(np.ascontiguousarray(img[:h, :w])).save(path / f"{i:02d}.png")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("size", [(299, 299), (128, 128), (512, 512), (300, 200)],
                         ids=["299px-no-resize", "128px-up", "512px-down", "300x200-not-square"])
def test_fid_path_equals_torch_fidelitys_calculate_metrics_at_any_size(torch_fidelity, random_inception_weights,
                                                                      tmp_path, size):
    """fairskin's features and Fréchet distance of two image folders against
    torch_fidelity.calculate_metrics on the same folders and weights file: reading and resizing to
    the network's 299 px must be torch-fidelity's too, or FID of any image not 299 px square is not
    the usual FID. PLUMBING ONLY: the weights are random (no real ones can be downloaded here), so
    the numbers are compared for equality, never reported."""
    from torch_fidelity.datasets import ImagesPathDataset

    dirs = [_phantom_folder(tmp_path / name, size=size, base=base) for name, base in (("a", 0), ("b", 40))]
    theirs = torch_fidelity.calculate_metrics(input1=str(dirs[0]), input2=str(dirs[1]), fid=True, cuda=False,
                                              cache=False, verbose=False, feature_extractor="inception-v3-compat",
                                              feature_extractor_weights_path=str(random_inception_weights))
    ext = InceptionExtractor(random_inception_weights)
    fa, fb = (extract_features(sorted(d.glob("*.png")), ext, progress=False).features for d in dirs)
    # per image: the same network on the images as torch-fidelity reads them (uint8, own size)
    files = sorted(str(p) for p in dirs[0].glob("*.png"))
    batch = torch.stack([ImagesPathDataset(files)[i] for i in range(len(files))])
    with torch.no_grad():
        (ref,) = ext.model(batch)
    np.testing.assert_allclose(fa, ref.double().numpy(), rtol=1e-4, atol=1e-5)
    assert frechet_distance(fa, fb) == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)


def test_kid_uncertainty_is_real_when_the_sets_fit_in_one_subset():
    """Subsets of sets no larger than the subset size are the same images, so their spread is ~0;
    the jackknife standard error is used instead and its 95% interval covers a known KID."""
    from fairskin.audits.synthetic._fidelity import _mmd2, _poly_kernel, kid

    d, shift = 16, 0.6

    def draw(rng, m, s):
        x = rng.standard_normal((m, d))
        x[:, 0] += s
        x[:, 1] *= 1 + s
        return x

    rng = np.random.default_rng(1)
    g = 1 / d
    truth = np.mean([_mmd2(_poly_kernel(x, x, 3, g, 1), _poly_kernel(x, y, 3, g, 1), _poly_kernel(y, y, 3, g, 1),
                           "unbiased") for x, y in ((draw(rng, 2000, 0), draw(rng, 2000, shift)) for _ in range(5))])
    hits, stds = [], []
    for r in range(120):
        k = kid(draw(rng, 50, 0), draw(rng, 80, shift), subsets=5, subset_size=1000, seed=r)
        assert k.std_method == "jackknife"
        hits.append(abs(k.value - truth) <= 1.96 * k.std)
        stds.append(k.std)
    assert min(stds) > 0.005  # the subset spread would be ~1e-17 here
    assert np.mean(hits) >= 0.90  # measured 0.96-1.0 over shifts 0-0.6 (jackknife is slightly conservative)
    big = kid(draw(rng, 300, 0), draw(rng, 300, shift), subsets=20, subset_size=100, seed=0)
    assert big.std_method == "subsets" and big.std > 0
