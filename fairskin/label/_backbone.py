"""An optional pretrained image backbone for the learned estimator, read from a local weights file.

``fairskin fit-estimator DATA --out model.json --backbone resnet18 --backbone-weights FILE`` builds
the timm architecture ``resnet18`` without its classifier (``timm.create_model(name,
pretrained=False, num_classes=0)``: nothing is downloaded) and loads the state dict from FILE with
:func:`fairskin.weights.load_weights` (safetensors, or ``torch.load(weights_only=True)``), so a
weights file can never run code. Each photo's pooled embedding is taken of the **whole image**
(as read for the colour features, resized to a square of ``side`` pixels and normalised with the
architecture's mean and standard deviation), then reduced by a PCA fitted on the training photos
only (inside each cross-validation fold, and on all labelled photos for the saved model) and
appended to the colour features as ``bb_pc1..bb_pcK``.

The model JSON holds the backbone's name, the weights file's path and SHA-256 and the PCA (numbers
only). Loading the estimator checks the weights file (the one given, else the recorded path) against
that SHA-256 and refuses a different file: the PCA and the ordinal weights mean nothing with another
backbone's embeddings.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fairskin.errors import InputError
from fairskin.progress import Progress, counter
from fairskin.weights import file_sha256, load_weights

__all__ = ["BackboneSpec", "backbone_feature_names", "dataset_embeddings", "embed_images", "fit_pca",
           "load_backbone_model", "weights_digest"]

ARG = "backbone_weights"
PREFIX = "bb_pc"
_CACHE: dict[tuple[str, str], object] = {}
_LOCK = threading.Lock()


def backbone_feature_names(k: int) -> tuple[str, ...]:
    return tuple(f"{PREFIX}{i}" for i in range(1, k + 1))


def weights_digest(path: str | Path | None, *, arg: str = ARG) -> str:
    """SHA-256 of the weights file, with a clear error when it is missing or a folder."""
    if path is None:
        raise InputError(f"{arg}: a backbone needs a local weights file (safetensors or a tensors-only .pt/.pth); "
                         "nothing is downloaded")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{arg}: {path} is a folder; expected a weights file")
    if not path.is_file():
        raise InputError(f"{arg}: weights file not found: {path}")
    return file_sha256(path)


def load_backbone_model(name: str, weights: str | Path, *, arg: str = ARG):
    """The timm model ``name`` without classifier, its weights from the local file ``weights``
    (every parameter of the trunk must be in the file; the classifier's may be, and are ignored)."""
    import timm

    if not isinstance(name, str) or not timm.is_model(name):
        close = timm.list_models(f"*{name}*")[:5] if isinstance(name, str) else []
        raise InputError(f"backbone: {name!r} is not a timm architecture" +
                         (f" (similar: {', '.join(close)})" if close else ""))
    state = load_weights(weights, arg=arg)
    if not isinstance(state, dict):
        raise InputError(f"{arg}: {weights} holds a {type(state).__name__}, expected a state dict of tensors")
    state = state.get("state_dict", state) if isinstance(state.get("state_dict"), dict) else state
    model = timm.create_model(name, pretrained=False, num_classes=0)
    head = str(model.pretrained_cfg.get("classifier", "fc"))
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        what = (f"{len(missing)} of its {len(own)} tensors are missing (e.g. {missing[0]})" if missing
                else f"{len(wrong)} tensors have other shapes (e.g. {wrong[0]}: {tuple(state[wrong[0]].shape)} in the "
                     f"file, {tuple(own[wrong[0]].shape)} in {name})")
        raise InputError(f"{arg}: {weights} does not hold {name}'s weights: {what}")
    extra = [k for k in state if k not in own and not k.startswith(head + ".")]
    if extra:
        raise InputError(f"{arg}: {weights} holds tensors {name} has no place for (e.g. {extra[0]}); "
                         "is it another architecture's file?")
    model.load_state_dict({k: state[k] for k in own}, strict=True)
    model.eval()
    return model


def embed_images(model, images: list[np.ndarray], *, side: int = 224, batch: int = 16) -> np.ndarray:
    """(n, D) pooled embeddings of 8-bit sRGB images (H x W x 3), each resized to ``side`` x ``side``
    and normalised with the architecture's mean and standard deviation."""
    import cv2
    import torch

    cfg = model.pretrained_cfg
    mean = np.asarray(cfg.get("mean", (0.485, 0.456, 0.406)), np.float32)
    std = np.asarray(cfg.get("std", (0.229, 0.224, 0.225)), np.float32)
    out = []
    for i in range(0, len(images), batch):
        x = np.stack([(cv2.resize(im[..., :3], (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
                       - mean) / std for im in images[i:i + batch]])
        with torch.inference_mode():
            out.append(model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.num_features), np.float32)


def fit_pca(E: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, components)`` of a PCA of the rows of ``E`` (sklearn), at most ``k`` components and
    fewer than rows (the components are what the training rows span)."""
    from sklearn.decomposition import PCA

    E = np.asarray(E, float)
    k = int(min(k, E.shape[0] - 1, E.shape[1]))
    if k < 1:
        raise InputError(f"a backbone PCA needs at least 2 photos with an embedding, got {E.shape[0]}")
    pca = PCA(n_components=k, random_state=0).fit(E)
    return pca.mean_.copy(), pca.components_.copy()


def project(E: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    return (np.asarray(E, float) - mean) @ components.T


@dataclass(frozen=True)
class BackboneSpec:
    """The backbone part of a learned estimator: architecture, weights file (path and SHA-256),
    input side and the PCA that turns an embedding into ``bb_pc1..bb_pcK``."""

    name: str
    weights: str
    sha256: str
    side: int
    mean: np.ndarray = field(compare=False)
    components: np.ndarray = field(compare=False)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return backbone_feature_names(len(self.components))

    def model(self):
        """The torch model, loaded once per process from :attr:`weights` (checked against :attr:`sha256`)."""
        key = (self.name, self.sha256)
        with _LOCK:
            if key not in _CACHE:
                if weights_digest(self.weights) != self.sha256:
                    raise InputError(f"{ARG}: {self.weights} is not the weights file the estimator was fitted with "
                                     f"(SHA-256 differs from {self.sha256[:12]}...)")
                _CACHE[key] = load_backbone_model(self.name, self.weights)
            return _CACHE[key]

    def features(self, rgb: np.ndarray) -> dict[str, float]:
        z = project(embed_images(self.model(), [rgb], side=self.side), self.mean, self.components)[0]
        return dict(zip(self.feature_names, map(float, z)))

    def to_dict(self) -> dict:
        return {"name": self.name, "weights": self.weights, "sha256": self.sha256, "side": self.side,
                "embedding": "pooled, whole image", "pca_mean": self.mean.tolist(),
                "pca_components": self.components.tolist()}

    @classmethod
    def from_dict(cls, d, *, source: str, weights: str | Path | None = None) -> "BackboneSpec":
        """The spec saved in a model JSON; the weights file (``weights``, else the recorded path)
        must exist and have the recorded SHA-256."""
        keys = {"name", "weights", "sha256", "side", "embedding", "pca_mean", "pca_components"}
        if not isinstance(d, dict) or set(d) != keys:
            raise InputError(f"{source}: 'backbone' must be an object with keys {sorted(keys)}")
        mean, comps = d["pca_mean"], d["pca_components"]
        ok = (isinstance(mean, list) and mean and all(_num(x) for x in mean) and isinstance(comps, list) and comps
              and all(isinstance(r, list) and len(r) == len(mean) and all(_num(x) for x in r) for r in comps))
        if not ok or not isinstance(d["side"], int) or d["side"] < 8:
            raise InputError(f"{source}: the backbone's PCA must be lists of finite numbers (components x "
                             f"{len(mean) if isinstance(mean, list) else '?'}) and 'side' an integer >= 8")
        path = str(weights) if weights is not None else d["weights"]
        got = weights_digest(path, arg=ARG if weights is not None else f"{source} (recorded backbone weights; "
                                                                          f"give {ARG}=FILE)")
        if got != d["sha256"]:
            raise InputError(f"{ARG}: {path} is not the weights file {source} was fitted with: its SHA-256 is "
                             f"{got[:12]}..., the model records {str(d['sha256'])[:12]}... ({d['name']})")
        return cls(name=str(d["name"]), weights=path, sha256=got, side=d["side"], mean=np.asarray(mean, float),
                   components=np.asarray(comps, float))


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def dataset_embeddings(paths: list[str], model, *, work_side: int, side: int = 224,
                       progress: Progress | None = None) -> np.ndarray:
    """(n, D) embeddings of the images at ``paths`` (read as for the colour features); NaN rows
    for images that cannot be read (their colour features say why). ``progress``
    (:mod:`fairskin.progress`) sees the count of images embedded."""
    from fairskin.data import ImageLoadError
    from fairskin.label._estimate import read_for_estimate

    D = int(model.num_features)
    out = np.full((len(paths), D), np.nan)
    tick = counter(progress, "backbone embeddings", len(paths))
    for i in range(0, len(paths), 16):
        imgs, rows = [], []
        for j in range(i, min(i + 16, len(paths))):
            try:
                img, _, _ = read_for_estimate(paths[j], work_side=work_side)
            except ImageLoadError:
                continue
            imgs.append(img.rgb)
            rows.append(j)
        if imgs:
            out[rows] = embed_images(model, imgs, side=side)
        tick(advance=min(16, len(paths) - i))
    return out
