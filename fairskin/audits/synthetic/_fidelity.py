"""Distances between a synthetic and a real feature set: Fréchet distance (FID in Inception
space), KID, precision/recall, density/coverage; within-set diversity; LPIPS from local weights.

All functions take cached feature matrices (n x d numpy arrays), so that the numbers can be
checked against torch-fidelity's own functions on the same features (tests do).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from fairskin.errors import InputError
from fairskin.weights import load_weights, weights_only_loads

__all__ = [
    "feature_statistics", "frechet_distance", "frechet_distance_from_statistics", "fid_min_images",
    "KidResult", "kid", "precision_recall", "density_coverage", "feature_diversity",
    "load_lpips", "lpips_diversity", "ALEXNET_WEIGHTS_FILE",
]

#: torchvision's AlexNet ImageNet weights, whose ``features.*`` layers LPIPS('alex') uses
ALEXNET_WEIGHTS_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_WEIGHTS_URL = "https://download.pytorch.org/models/" + ALEXNET_WEIGHTS_FILE


def _check(name: str, x: np.ndarray, min_rows: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"{name}: expected a 2-D (images x features) array, got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise InputError(f"{name}: need at least {min_rows} feature vectors, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise InputError(f"{name}: features contain NaN or inf (drop the images that failed to load first)")
    return x


def feature_statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (n-1)-normalised covariance, as torch-fidelity and the TTUR reference compute them."""
    x = _check("features", x, 2)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _clip_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with round-off removed: negatives and those below
    1e-12 x the largest are the null space of a singular covariance, set to 0 (their square
    roots, ~1e-7 each, would otherwise add up to a visible error)."""
    top = float(np.max(np.abs(w))) if w.size else 0.0
    return np.where(w > top * 1e-12, w, 0.0)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(_clip_eigenvalues(w))) @ v.T


def frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2).

    tr((S1 S2)^1/2) is computed as the sum of the square roots of the eigenvalues of the
    symmetric PSD matrix S1^1/2 S2 S1^1/2 (same spectrum as S1 S2), which needs no complex
    arithmetic and stays exact when a covariance is singular (fewer images than dimensions).
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise InputError(f"features: the two sets have different dimensions ({mu1.shape[0]} vs {mu2.shape[0]})")
    r1 = _sqrt_psd(sigma1)
    m = r1 @ sigma2 @ r1
    tr_covmean = float(np.sqrt(_clip_eigenvalues(np.linalg.eigvalsh((m + m.T) / 2))).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID when the features are
    Inception-v3 pool3)."""
    a, b = _check("features_a", a, 2), _check("features_b", b, 2)
    if a.shape[1] != b.shape[1]:
        raise InputError(f"features: the two sets have different dimensions ({a.shape[1]} vs {b.shape[1]})")
    return frechet_distance_from_statistics(*feature_statistics(a), *feature_statistics(b))


def fid_min_images(dim: int, floor: int = 500) -> int:
    """Smallest set size for which fairskin reports a Fréchet distance: ``max(dim + 1, floor)``.

    Below ``dim + 1`` images the covariance estimate is singular and the Fréchet distance is
    dominated by its small-sample bias, which grows like ``1/n`` (Bińkowski et al. 2018, ICLR,
    fig. 1; Chong & Forsyth 2020, CVPR): for Inception (2048-d) this bias at a few hundred images
    exceeds typical differences between generators. The floor keeps the same rule for
    low-dimensional extractors. Smaller cells get KID only, which is unbiased at any size.
    """
    return max(int(dim) + 1, int(floor))


@dataclass(frozen=True)
class KidResult:
    value: float  # mean of the subset estimates
    std: float  # see std_method
    subsets: int
    subset_size: int
    estimator: str
    #: "subsets": standard deviation across subsets (torch-fidelity's kid_std), when both sets are
    #: larger than the subset size; "jackknife": the two-sample jackknife standard error of the
    #: unbiased MMD² on the whole sets, when a set fits in one subset (subsets then repeat the
    #: same images and their spread says nothing about sampling error)
    std_method: str = "subsets"


def _poly_kernel(x, y, degree, gamma, coef0):
    return (x @ y.T * gamma + coef0) ** degree


def _mmd2(kxx, kxy, kyy, estimator):
    # the same sums as torch_fidelity.metric_kid.mmd2
    m = kxx.shape[0]
    diag_x, diag_y = np.diagonal(kxx), np.diagonal(kyy)
    kt_xx = (kxx.sum(axis=1) - diag_x).sum()
    kt_yy = (kyy.sum(axis=1) - diag_y).sum()
    kxy_sum = kxy.sum(axis=0).sum()
    if estimator == "biased":
        return (kt_xx + diag_x.sum() + kt_yy + diag_y.sum() - 2 * kxy_sum) / (m * m)
    out = (kt_xx + kt_yy) / (m * (m - 1))
    if estimator == "unbiased":
        return out - 2 * kxy_sum / (m * m)
    return out - 2 * (kxy_sum - np.trace(kxy)) / (m * (m - 1))


def kid(a: np.ndarray, b: np.ndarray, *, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        gamma: float | None = None, coef0: float = 1.0, seed: int = 2020,
        estimator: Literal["u-statistic", "unbiased", "biased"] = "u-statistic",
        sampling: Literal["paired", "torch-fidelity"] = "paired") -> KidResult:
    """Kernel Inception Distance: squared MMD with the cubic polynomial kernel
    ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets (Bińkowski et al. 2018).

    ``subset_size`` is lowered to the smaller set's size. ``sampling="torch-fidelity"`` draws
    the subsets exactly as ``torch_fidelity.metric_kid.kid_features_to_metric`` does (one
    ``RandomState(seed)``, first set then second) and with ``estimator="unbiased"`` gives its
    numbers. The default, ``"paired"`` with the ``"u-statistic"`` estimator, draws the same row
    indices for both sets and leaves out the paired terms k(x_i, y_i): it is unbiased for
    independent sets too, and a set compared with itself gives exactly 0 (torch-fidelity's
    default estimator gives a small negative number there, because it assumes the two sets are
    independent).
    """
    a, b = _check("features_a", a, 2), _check("features_b", b, 2)
    if a.shape[1] != b.shape[1]:
        raise InputError(f"features: the two sets have different dimensions ({a.shape[1]} vs {b.shape[1]})")
    if estimator not in ("u-statistic", "unbiased", "biased"):
        raise InputError(f"estimator: expected 'u-statistic', 'unbiased' or 'biased', got {estimator!r}")
    if sampling not in ("paired", "torch-fidelity"):
        raise InputError(f"sampling: expected 'paired' or 'torch-fidelity', got {sampling!r}")
    if subsets < 1:
        raise InputError(f"subsets: must be at least 1, got {subsets}")
    size = min(int(subset_size), len(a), len(b))
    if size < 2:
        raise InputError(f"subset_size: KID needs at least 2 images per set, got {size}")
    gamma = 1.0 / a.shape[1] if gamma is None else gamma
    rng = np.random.RandomState(seed)
    rng_b = np.random.RandomState(seed) if sampling == "paired" else rng
    vals = np.empty(subsets)
    for i in range(subsets):
        ia = rng.choice(len(a), size, replace=False)
        ib = rng_b.choice(len(b), size, replace=False)
        x, y = a[ia], b[ib]
        vals[i] = _mmd2(_poly_kernel(x, x, degree, gamma, coef0), _poly_kernel(x, y, degree, gamma, coef0),
                        _poly_kernel(y, y, degree, gamma, coef0), estimator)
    if size < min(len(a), len(b)):
        return KidResult(float(vals.mean()), float(vals.std()), subsets, size, estimator)
    se = kid_jackknife_se(a, b, degree=degree, gamma=gamma, coef0=coef0)
    return KidResult(float(vals.mean()), se, subsets, size, estimator, "jackknife")


def kid_jackknife_se(a: np.ndarray, b: np.ndarray, *, degree: int = 3, gamma: float | None = None,
                     coef0: float = 1.0, block: int = 1024) -> float:
    """Two-sample delete-one jackknife standard error of the unbiased squared MMD between the whole
    sets ``a`` (m rows) and ``b`` (n rows), with the polynomial kernel of :func:`kid`.

    The jackknife variance of a U-statistic is consistent (Arvesen 1969); the leave-one-out values
    come from kernel row sums, computed in blocks of ``block`` rows, so memory stays O(block x (m+n)).
    Each sample contributes its own term: ``(m-1)/m * sum_i (t_-i - mean)^2`` for ``a``, likewise ``b``.
    """
    m, n = len(a), len(b)
    if m < 3 or n < 3:
        return float("nan")
    gamma = 1.0 / a.shape[1] if gamma is None else gamma

    def row_sums(x, y, same):
        out = np.empty(len(x))
        for s in range(0, len(x), block):
            k = _poly_kernel(x[s:s + block], y, degree, gamma, coef0)
            if same:
                k[np.arange(len(k)), s + np.arange(len(k))] = 0.0
            out[s:s + block] = k.sum(1)
        return out

    rx, ry = row_sums(a, a, True), row_sums(b, b, True)
    cx = row_sums(a, b, False)  # sum_j k(a_i, b_j)
    cy = row_sums(b, a, False)  # sum_i k(a_i, b_j)
    txx, tyy, txy = rx.sum(), ry.sum(), cx.sum()
    # leave a_i out: its row and column leave the a-a sum, its row the a-b sum
    loo_a = (txx - 2 * rx) / ((m - 1) * (m - 2)) + tyy / (n * (n - 1)) - 2 * (txy - cx) / ((m - 1) * n)
    loo_b = txx / (m * (m - 1)) + (tyy - 2 * ry) / ((n - 1) * (n - 2)) - 2 * (txy - cy) / (m * (n - 1))
    var = (m - 1) / m * ((loo_a - loo_a.mean()) ** 2).sum() + (n - 1) / n * ((loo_b - loo_b.mean()) ** 2).sum()
    return float(np.sqrt(var))


def _kth_nn_radius(x: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (the row itself excluded)."""
    import torch

    t = torch.from_numpy(x)
    out = []
    for s in range(0, len(x), block):
        d = torch.cdist(t[s:s + block], t)
        out.append(d.kthvalue(k + 1, dim=1).values)  # +1: the row itself is at distance 0
    return torch.cat(out).numpy()


def _inside_any_ball(q: np.ndarray, centres: np.ndarray, radii: np.ndarray, block: int = 2048) -> np.ndarray:
    import torch

    c, r = torch.from_numpy(centres), torch.from_numpy(radii)
    out = []
    for s in range(0, len(q), block):
        d = torch.cdist(torch.from_numpy(q[s:s + block]), c)
        out.append((d <= r).any(dim=1))
    return torch.cat(out).numpy()


def precision_recall(synthetic: np.ndarray, real: np.ndarray, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019), k-NN balls as torch-fidelity:
    precision = share of synthetic vectors inside some real vector's k-NN ball (fidelity),
    recall = share of real vectors inside some synthetic vector's k-NN ball (diversity).
    Distances in float32, as torch-fidelity computes them on its extractors' float32 features."""
    s, r = _check("synthetic", synthetic, k + 1), _check("real", real, k + 1)
    s, r = s.astype(np.float32), r.astype(np.float32)
    precision = _inside_any_ball(s, r, _kth_nn_radius(r, k)).mean()
    recall = _inside_any_ball(r, s, _kth_nn_radius(s, k)).mean()
    return float(precision), float(recall)


def density_coverage(synthetic: np.ndarray, real: np.ndarray, *, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020): like precision and recall but robust to real
    outliers; density can exceed 1, coverage is the share of real balls holding a synthetic vector."""
    import torch

    s, r = _check("synthetic", synthetic, 1), _check("real", real, k + 1)
    s, r = s.astype(np.float32), r.astype(np.float32)
    radii = torch.from_numpy(_kth_nn_radius(r, k))
    d = torch.cdist(torch.from_numpy(r), torch.from_numpy(s))  # real x synthetic
    inside = d <= radii[:, None]
    density = inside.sum().item() / (k * len(s))
    coverage = (d.min(dim=1).values <= radii).double().mean().item()
    return float(density), float(coverage)


def feature_diversity(x: np.ndarray, *, max_pairs: int = 2000, seed: int = 0) -> float | None:
    """Mean Euclidean distance between random pairs of distinct rows (None below 2 rows).

    Only ratios of two diversities in the same feature space are meaningful (the mode-collapse
    flag compares synthetic with real)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return None
    i, j = _pairs(len(x), max_pairs, seed)
    return float(np.mean(np.linalg.norm(x[i] - x[j], axis=1)))


def _pairs(n: int, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    total = n * (n - 1) // 2
    if total <= max_pairs:
        i, j = np.triu_indices(n, 1)
        return i, j
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, max_pairs)
    j = (i + rng.integers(1, n, max_pairs)) % n
    return i, j


# --------------------------------------------------------------------------- LPIPS

def load_lpips(backbone: str | os.PathLike, *, net: Literal["alex"] = "alex"):
    """LPIPS('alex') with the AlexNet backbone from a local file (lpips ships only its linear
    layers; the backbone normally comes from torchvision's download).

    ``backbone`` is torchvision's ``alexnet-owt-7be5be79.pth`` (the full AlexNet state dict,
    ``features.*`` keys are used) or a state dict with only the ``features.*`` keys.
    """
    try:
        import lpips
    except ImportError as exc:  # pragma: no cover
        from fairskin.errors import MissingDependencyError

        raise MissingDependencyError("LPIPS diversity requires the lpips library, which is not installed. "
                                     "Install it with: pip install 'fairskin[audit]'") from exc
    if net != "alex":
        raise InputError(f"net: only 'alex' is supported, got {net!r}")
    path = Path(backbone)
    if not path.is_file():
        raise InputError(f"lpips_backbone: file not found: {path}. LPIPS needs torchvision's AlexNet weights "
                         f"{ALEXNET_WEIGHTS_FILE} (from {ALEXNET_WEIGHTS_URL}); fairskin never downloads them.")
    state = load_weights(path, arg="lpips_backbone")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    if not feats:
        raise InputError(f"lpips_backbone: {path} has no 'features.*' tensors; expected torchvision's AlexNet "
                         f"state dict ({ALEXNET_WEIGHTS_FILE})")
    with weights_only_loads("lpips_backbone"):  # lpips reads its own linear layers with torch.load
        model = lpips.LPIPS(pretrained=True, net="alex", pnet_rand=True, verbose=False)
    # lpips splits torchvision's alexnet.features into slice1..slice5, keeping the layer indices
    slices = {}
    for name, mod in model.net.named_children():
        for idx, _ in mod.named_children():
            slices[idx] = name
    mapped = {}
    for key, v in feats.items():
        idx, rest = key.split(".", 1)
        if idx not in slices:
            raise InputError(f"lpips_backbone: unexpected layer features.{key} in {path}")
        mapped[f"{slices[idx]}.{idx}.{rest}"] = v
    expected = set(model.net.state_dict())
    if set(mapped) != expected:
        raise InputError(f"lpips_backbone: {path} does not hold AlexNet's feature layers "
                         f"(missing {sorted(expected - set(mapped))[:3]})")
    model.net.load_state_dict(mapped, strict=True)
    model.eval()
    model.backbone_file = str(path)
    return model


def lpips_distances(model, a: np.ndarray, b: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    """LPIPS between matching rows of two uint8 image stacks (n, s, s, 3)."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(a), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(a[s:s + batch_size])).permute(0, 3, 1, 2).float() / 127.5 - 1
            y = torch.from_numpy(np.ascontiguousarray(b[s:s + batch_size])).permute(0, 3, 1, 2).float() / 127.5 - 1
            out.append(model(x, y).reshape(-1))
    return torch.cat(out).numpy().astype(np.float64) if out else np.empty(0)


def lpips_diversity(model, images: np.ndarray, *, max_pairs: int = 200, seed: int = 0) -> float | None:
    """Mean LPIPS between random pairs of distinct images of one set (None below 2 images)."""
    if len(images) < 2:
        return None
    i, j = _pairs(len(images), max_pairs, seed)
    return float(np.mean(lpips_distances(model, images[i], images[j])))


def _nan_to_none(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
