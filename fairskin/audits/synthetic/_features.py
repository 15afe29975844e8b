"""Image features for the synthetic-image audit: extractors, batched extraction, per-image cache.

Every extractor says what it is (``id`` for the cache, ``description`` for the report) and
whether it was trained (``learned``). Only Inception-v3 with torch-fidelity's converted
TensorFlow weights gives FID in the usual sense; any other space gives a Fréchet distance *in
that space*, and the report names the space. No extractor here is ever built with random
weights: learned extractors load a file the user names, and fail with a message saying which
file and where to get it.

Extractors
----------
``inception``      torch-fidelity's ``inception-v3-compat`` pool3 (2048-d), weights from a local file
``classifier``     penultimate layer of the audited classifier (TorchScript or timm checkpoint)
``hf``             a local DINO/DINOv2/CLIP/ViT checkpoint directory (transformers)
``colour-texture`` deterministic, non-learned colour and texture statistics (tests, smoke runs)
``thumbnail``      the image itself, down-sampled (used for memorisation: copies are close in pixels)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Protocol, Sequence

import cv2
import numpy as np

from fairskin.audits.synthetic._synthetic_config import ExtractorName
from fairskin.data import ImageLoadError, load_rgb
from fairskin.errors import InputError, MissingDependencyError, rename_arguments
from fairskin.progress import Progress, counter
from fairskin.weights import UnsafeWeightsError, file_sha256, load_weights, weights_only_loads

__all__ = [
    "FeatureExtractor", "FeatureSet", "ColourTextureExtractor", "ThumbnailExtractor",
    "InceptionExtractor", "ClassifierExtractor", "HFExtractor", "load_extractor",
    "extract_features", "INCEPTION_WEIGHTS_FILE", "INCEPTION_WEIGHTS_URL", "INCEPTION_ENV",
    "ExtractorName",
]


#: the file torch-fidelity's ``inception-v3-compat`` loads (TensorFlow FID weights, converted)
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS_FILE
)
#: the start of that file's SHA-256 (torch hub's naming): other weights are reported as such
INCEPTION_WEIGHTS_SHA256_PREFIX = "6726825d"
#: environment variable read when ``inception_weights`` is not given
INCEPTION_ENV = "FAIRSKIN_INCEPTION_WEIGHTS"


class FeatureExtractor(Protocol):
    id: str  # stable identifier: goes into the cache key
    description: str  # for the report
    dim: int
    #: images are resized to input_side x input_side before __call__; None: they reach __call__ at
    #: their own size (batched by size), for an extractor that resizes as its reference does
    input_side: int | None
    learned: bool
    is_fid: bool  # True only for Inception-v3 with the FID weights

    def __call__(self, images: np.ndarray) -> np.ndarray:  # (n, s, s, 3) uint8 -> (n, dim) float
        ...


def _sha256(path: Path, limit: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        read = 0
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            read += len(chunk)
            if limit and read >= limit:
                break
    return h.hexdigest()


def _file_id(path: Path) -> str:
    """Identify a weights file by its size and the hash of its first 16 MiB (fast, stable)."""
    return f"{path.stat().st_size}-{_sha256(path, 16 << 20)[:12]}"


# --------------------------------------------------------------------------- non-learned

@dataclass
class ColourTextureExtractor:
    """Non-learned colour and texture statistics (45-d); deterministic, needs no weights.

    Per CIELAB channel: mean, standard deviation and the 5/25/50/75/95th percentiles (21);
    the same channel means on a 2x2 grid (12); statistics of the L* gradient magnitude at two
    scales (mean, sd and 25/50/75th percentiles, 10); and two colourfulness terms (2). A Fréchet
    distance in this space is NOT FID: it is blind to shapes a trained network sees. All values
    are divided by 25.
    """

    side: int = 128
    id: str = "colour-texture-v2"
    description: str = "colour-texture statistics (non-learned, 45-d; not Inception: FD here is not FID)"
    dim: int = 45
    learned: bool = False
    is_fid: bool = False

    @property
    def input_side(self) -> int:
        return self.side

    def __call__(self, images: np.ndarray) -> np.ndarray:
        from fairskin.skintone import srgb_to_lab

        out = np.empty((len(images), self.dim), np.float64)
        for i, rgb in enumerate(images):
            lab = srgb_to_lab(rgb).astype(np.float64)
            f = []
            flat = lab.reshape(-1, 3)
            for c in range(3):
                v = flat[:, c]
                f += [v.mean(), v.std(), *np.percentile(v, [5, 25, 50, 75, 95])]
            h, w = lab.shape[:2]
            for ys in (slice(0, h // 2), slice(h // 2, h)):
                for xs in (slice(0, w // 2), slice(w // 2, w)):
                    f += list(lab[ys, xs].reshape(-1, 3).mean(axis=0))
            L = lab[..., 0].astype(np.float32)
            for scale in (1, 2):
                Ls = L if scale == 1 else cv2.resize(L, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
                gx = cv2.Sobel(Ls, cv2.CV_32F, 1, 0, ksize=3)
                gy = cv2.Sobel(Ls, cv2.CV_32F, 0, 1, ksize=3)
                g = np.hypot(gx, gy).ravel().astype(np.float64)
                f += [g.mean(), g.std(), *np.percentile(g, [25, 50, 75])]
            chroma = np.hypot(flat[:, 1], flat[:, 2])
            f += [chroma.mean(), chroma.std()]
            out[i] = f
        # CIELAB units and gradients are tens: a fixed 1/25 brings them to O(1), the scale KID's
        # polynomial kernel (x.y / d + 1)^3 is meant for (a data-independent constant)
        return out / 25.0


@dataclass
class ThumbnailExtractor:
    """The image down-sampled to ``side`` x ``side`` RGB in [0, 1], flattened: copies of an image
    (re-encoded, resized) stay close here, distinct images do not."""

    side: int = 32
    learned: bool = False
    is_fid: bool = False

    @property
    def id(self) -> str:
        return f"thumbnail-{self.side}-v1"

    @property
    def description(self) -> str:
        return f"{self.side}x{self.side} RGB thumbnail"

    @property
    def dim(self) -> int:
        return 3 * self.side * self.side

    @property
    def input_side(self) -> int:
        return self.side

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).astype(np.float32) / 255.0


# --------------------------------------------------------------------------- learned (local files)

class InceptionExtractor:
    """torch-fidelity's ``inception-v3-compat`` (the TensorFlow FID network), pool3 2048-d features,
    with weights from a local file.

    Images reach the network at their own size: it resizes them to 299 px itself, with TensorFlow
    1.x's bilinear interpolation, as torch-fidelity does for every image it reads. Resizing them
    first with another filter (area or cubic) gives other features and another FID for any image
    that is not 299 px square (``tests/audits/test_fid.py`` compares the whole path).
    """

    input_side = None
    dim = 2048
    learned = True
    is_fid = True

    def __init__(self, weights: str | os.PathLike | None = None):
        path = weights or os.environ.get(INCEPTION_ENV)
        if not path:
            raise InputError(
                f"inception_weights: no Inception weights given (and ${INCEPTION_ENV} is not set). "
                f"FID needs torch-fidelity's inception-v3-compat weights, the file {INCEPTION_WEIGHTS_FILE} "
                f"(91 MB), which fairskin never downloads: get it on a machine with internet from "
                f"{INCEPTION_WEIGHTS_URL} and pass its path with inception_weights=PATH or set "
                f"{INCEPTION_ENV}=PATH. Or name another extractor: extractor='classifier' classifier=MODEL, "
                f"or extractor='hf' hf_model=DIR (a local DINO/CLIP checkpoint)."
            )
        path = Path(path)
        if not path.is_file():
            raise InputError(
                f"inception_weights: file not found: {path}. Expected torch-fidelity's {INCEPTION_WEIGHTS_FILE} "
                f"(from {INCEPTION_WEIGHTS_URL})."
            )
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingDependencyError(
                "FID requires the torch-fidelity library, which is not installed. "
                "Install it with: pip install 'fairskin[audit]'"
            ) from exc
        # torch-fidelity unpickles the file itself with weights_only=False: it runs under a guard that
        # reads tensors only, so a crafted file is refused before any of its code runs
        try:
            with weights_only_loads("inception_weights"):
                self.model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                         feature_extractor_weights_path=str(path))
        except UnsafeWeightsError:
            raise
        except Exception as exc:  # a user's file: any failure to fit becomes one clear message
            raise InputError(
                f"inception_weights: {path} is not torch-fidelity's inception-v3-compat state dict "
                f"({INCEPTION_WEIGHTS_FILE}): {str(exc).splitlines()[0]}"
            ) from None
        self.weights = path
        self.sha256 = file_sha256(path)
        fid = f"{path.stat().st_size}-{self.sha256[:12]}"
        # "-native": fed at their own size (features cached before that were resized by cv2 first)
        self.id = f"inception-v3-compat-{fid}-native"
        # torch hub names a file after the start of its SHA-256: other weights give an FD, not the published FID
        published = self.sha256.startswith(INCEPTION_WEIGHTS_SHA256_PREFIX)
        self.is_fid = published
        self.description = (f"Inception-v3 pool3 (2048-d, torch-fidelity inception-v3-compat, weights {path.name}"
                            + ("" if published else f", SHA-256 {self.sha256[:12]}...: not the published FID "
                               f"weights {INCEPTION_WEIGHTS_FILE}") + ")")

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        with torch.no_grad():
            (feat,) = self.model(x)
        return feat.double().numpy()


def _normalise(images: np.ndarray, mean, std):
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


class ClassifierExtractor:
    """Penultimate layer of the audited classifier, loaded exactly as ``fairskin audit`` loads it
    (:func:`fairskin.audits.models._models.load_model`: TorchScript, torch.export, safetensors or a
    plain state dict with ``arch``; pickled modules only with ``trust_model``).

    The features are timm's pre-logits (``forward_head(forward_features(x), pre_logits=True)``)
    when the model has those methods (timm models, also scripted), else the input of the
    model's last ``nn.Linear`` (a forward hook). Preprocessing: the model's metadata ``mean``,
    ``std`` and ``crop`` (default ImageNet statistics, 299 px as in ``fairskin audit``).
    """

    learned = True
    is_fid = False

    def __init__(self, path: str | os.PathLike, *, arch: str | None = None, num_classes: int | None = None,
                 trust_model: bool = False, input_side: int | None = None):
        import torch

        from fairskin.audits.models import load_model

        path = Path(path)
        if not path.is_file():
            raise InputError(f"classifier: file not found: {path}")
        if path.suffix.lower() != ".safetensors" and not _is_torchscript_or_export(path):
            # a state dict saved with its architecture: {"arch": ..., "state_dict": ...}
            try:
                obj = load_weights(path, arg="classifier")
            except InputError:  # load_model below gives the precise message
                obj = None
            if isinstance(obj, dict):
                arch = arch or (obj.get("arch") if isinstance(obj.get("arch"), str) else None)
                if num_classes is None:
                    num_classes = _head_size(obj.get("state_dict", obj))
        elif path.suffix.lower() == ".safetensors" and num_classes is None:
            num_classes = _head_size(load_weights(path, arg="classifier"))
        try:
            lm = load_model(path, arch=arch, num_classes=num_classes, trust_model=trust_model)
        except InputError as exc:
            # load_model's arch is this extractor's classifier_arch
            raise InputError(f"classifier: {rename_arguments(str(exc), {'arch': 'classifier_arch'})}") from None
        self._model, self.kind, meta = lm.module, lm.kind, lm.metadata
        self._hook_out = None
        if not (hasattr(self._model, "forward_features") and hasattr(self._model, "forward_head")):
            linears = [m for m in getattr(self._model, "modules", lambda: [])() if isinstance(m, torch.nn.Linear)]
            if not linears or self.kind in ("torchscript", "export"):
                raise InputError(
                    f"classifier: cannot reach the penultimate layer of {path} ({lm.kind}): it has no "
                    "forward_features/forward_head methods (timm) and no nn.Linear head to hook")

            def hook(_module, inputs, _output):
                self._hook_out = inputs[0]

            linears[-1].register_forward_hook(hook)
        self.mean = tuple(meta.get("mean", (0.485, 0.456, 0.406)))
        self.std = tuple(meta.get("std", (0.229, 0.224, 0.225)))
        self.input_side = int(input_side or meta.get("crop") or 299)
        name = arch or meta.get("arch") or lm.kind
        self.dim = int(self(np.zeros((1, self.input_side, self.input_side, 3), np.uint8)).shape[1])
        self.id = f"classifier-{name}-{_file_id(path)}-{self.input_side}"
        self.description = f"classifier penultimate layer ({name}, {self.dim}-d, {path.name})"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        x = _normalise(images, self.mean, self.std)
        m = self._model
        with torch.no_grad():
            if hasattr(m, "forward_features") and hasattr(m, "forward_head"):
                f = m.forward_head(m.forward_features(x), pre_logits=True)
            else:
                m(x)
                f = self._hook_out
        return f.reshape(len(images), -1).double().numpy()


def _is_torchscript_or_export(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            inner = {n.split("/", 1)[1] for n in z.namelist() if "/" in n}
    except (zipfile.BadZipFile, OSError):
        return False
    return "archive_format" in inner or any(n.startswith("code/") for n in inner)


def _head_size(state) -> int | None:
    """Number of outputs of a state dict's classification head (timm names: fc, head, classifier)."""
    if not isinstance(state, dict):
        return None
    for key in ("fc.weight", "head.weight", "head.fc.weight", "classifier.weight", "last_linear.weight"):
        v = state.get(key, state.get("module." + key))
        if v is not None and getattr(v, "ndim", 0) == 2:
            return int(v.shape[0])
    return None


class HFExtractor:
    """A local transformers checkpoint directory (DINO, DINOv2, CLIP, ViT): CLIP's image
    embedding, else the [CLS] token of the last hidden state. A checkpoint missing weights
    (which transformers would initialise randomly) is refused."""

    learned = True
    is_fid = False

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        if not (path / "config.json").is_file():
            raise InputError(f"hf_model: {path} is not a local transformers checkpoint directory "
                             "(no config.json); download it elsewhere with save_pretrained and copy it here")
        tr = _require("transformers", "the DINO/CLIP feature extractor")
        import torch

        cfg = tr.AutoConfig.from_pretrained(path, local_files_only=True)
        self.kind = cfg.model_type
        cls = tr.CLIPModel if self.kind == "clip" else tr.AutoModel
        # safetensors weights hold no code; a pytorch_model.bin is a pickle, read under the tensors-only guard
        with weights_only_loads("hf_model"):
            self._model, info = cls.from_pretrained(path, local_files_only=True, output_loading_info=True)
        self._model.eval()
        vcfg = cfg.vision_config if self.kind == "clip" else cfg
        # weights the checkpoint lacks are randomly initialised by transformers: refuse them
        # (except a pooler, which is not used: features are the [CLS] token)
        missing = [k for k in info.get("missing_keys", []) if "pooler" not in k and "text" not in k]
        if missing:
            raise InputError(f"hf_model: {path} lacks weights {missing[:3]} (transformers would initialise them "
                             "randomly); give the complete checkpoint")
        try:
            proc = tr.AutoImageProcessor.from_pretrained(path, local_files_only=True)
            self.mean, self.std = tuple(proc.image_mean), tuple(proc.image_std)
        except (OSError, ValueError):
            self.mean, self.std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        self.input_side = int(getattr(vcfg, "image_size", 224))
        self.path = path
        with torch.no_grad():
            self.dim = int(self(np.zeros((1, self.input_side, self.input_side, 3), np.uint8)).shape[1])
        weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
        wid = _file_id(weights[0]) if weights else "noweights"
        self.id = f"hf-{self.kind}-{wid}-{self.input_side}"
        self.description = f"{self.kind} ({self.dim}-d, local checkpoint {path.name})"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        x = _normalise(images, self.mean, self.std)
        with torch.no_grad():
            if self.kind == "clip":
                f = self._model.get_image_features(pixel_values=x)
                f = getattr(f, "pooler_output", f)
            else:  # the [CLS] token: DINO's and DINOv2's image feature (a pooler may be untrained)
                f = self._model(pixel_values=x).last_hidden_state[:, 0]
        return f.reshape(len(images), -1).double().numpy()


def _require(module: str, feature: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError(f"{feature} requires the {module} library, which is not installed. "
                                     "Install it with: pip install 'fairskin[generate]'") from exc


def load_extractor(name: ExtractorName, *, inception_weights=None, classifier=None, classifier_arch=None,
                   hf_model=None, trust_model: bool = False) -> FeatureExtractor:
    """Build the extractor the user named, from local files only."""
    if name == "inception":
        return InceptionExtractor(inception_weights)
    if name == "classifier":
        if classifier is None:
            raise InputError("classifier: extractor='classifier' needs the classifier file (classifier=PATH)")
        return ClassifierExtractor(classifier, arch=classifier_arch, trust_model=trust_model)
    if name == "hf":
        if hf_model is None:
            raise InputError("hf_model: extractor='hf' needs a local checkpoint directory (hf_model=DIR)")
        return HFExtractor(hf_model)
    if name == "colour-texture":
        return ColourTextureExtractor()
    import difflib

    valid = ["inception", "classifier", "hf", "colour-texture"]
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InputError(f"extractor: unknown extractor {name!r}; expected one of {', '.join(valid)}.{hint}")


# --------------------------------------------------------------------------- extraction + cache

@dataclass
class FeatureSet:
    """Features of a list of images; rows of images that could not be read are NaN."""

    paths: list[str]
    features: np.ndarray  # (n, d) float64
    status: list[str]
    reason: list[str]
    extractor: str
    n_cached: int = 0
    n_computed: int = 0

    @property
    def ok(self) -> np.ndarray:
        return np.array([s == "ok" for s in self.status], bool)


def _cache_file(cache_dir: Path, extractor_id: str, path: Path) -> Path | None:
    try:
        st = path.stat()
    except OSError:
        return None
    key = f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}|{extractor_id}"
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()
    return cache_dir / extractor_id / digest[:2] / f"{digest}.npy"


def _prepare(path: Path, side: int | None) -> np.ndarray:
    """The image as 8-bit RGB, resized to ``side`` x ``side`` (area down, cubic up); None: as read."""
    if side is None:
        return load_rgb(path).rgb
    rgb = load_rgb(path, max_side=max(side * 2, 64)).rgb
    if rgb.shape[0] != side or rgb.shape[1] != side:
        interp = cv2.INTER_AREA if min(rgb.shape[:2]) > side else cv2.INTER_CUBIC
        rgb = cv2.resize(rgb, (side, side), interpolation=interp)
    return rgb


#: most pixels one call of an extractor that takes images at their own size receives (large
#: photographs go a few at a time, not a whole batch)
_MAX_BATCH_PIXELS = 1 << 24


def _features_by_size(extractor: FeatureExtractor, imgs: list[np.ndarray]) -> np.ndarray:
    """(len(imgs), dim) features; images of different sizes go to the extractor in separate calls."""
    out = np.empty((len(imgs), extractor.dim), np.float64)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for j, im in enumerate(imgs):
        by_shape.setdefault(im.shape, []).append(j)
    for shape, members in by_shape.items():
        step = max(1, _MAX_BATCH_PIXELS // (shape[0] * shape[1]))
        for k in range(0, len(members), step):
            part = members[k:k + step]
            out[part] = np.asarray(extractor(np.stack([imgs[j] for j in part])), dtype=np.float64)
    return out


def extract_features(paths: Sequence[str | os.PathLike], extractor: FeatureExtractor, *, batch_size: int = 32,
                     cache_dir: str | os.PathLike | None = None, progress: Progress | None = None,
                     description: str | None = None) -> FeatureSet:
    """Features of every image, in batches; cached per image. ``progress``
    (:mod:`fairskin.progress`) sees the count of images computed (not those read from the
    cache) as stage ``description`` (default ``features (<extractor id>)``).

    The cache key is the absolute path, modification time, size and the extractor's ``id``
    (which includes a hash of its weights), so an edited image or other weights recompute.
    Images resized to the extractor's square input with area (down) or cubic (up) interpolation,
    or passed at their own size to an extractor that resizes them itself (``input_side`` None).
    """
    if batch_size < 1:
        raise InputError(f"batch_size: must be at least 1, got {batch_size}")
    paths = [Path(p) for p in paths]
    n = len(paths)
    feats = np.full((n, extractor.dim), np.nan)
    status, reason = ["ok"] * n, [""] * n
    cache = Path(cache_dir) if cache_dir is not None else None
    todo: list[int] = []
    n_cached = 0
    for i, p in enumerate(paths):
        cf = _cache_file(cache, extractor.id, p) if cache is not None else None
        if cf is not None and cf.is_file():
            try:
                v = np.load(cf)
                if v.shape == (extractor.dim,):
                    feats[i] = v
                    n_cached += 1
                    continue
            except (OSError, ValueError):
                pass
        todo.append(i)

    tick = counter(progress if todo else None, description or f"features ({extractor.id})", len(todo))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        imgs, idx = [], []
        for i in chunk:
            try:
                imgs.append(_prepare(paths[i], extractor.input_side))
                idx.append(i)
            except ImageLoadError as exc:
                status[i], reason[i] = exc.status, exc.reason
        if imgs:
            out = _features_by_size(extractor, imgs)
            for j, i in enumerate(idx):
                feats[i] = out[j]
                if cache is not None:
                    cf = _cache_file(cache, extractor.id, paths[i])
                    if cf is not None:
                        cf.parent.mkdir(parents=True, exist_ok=True)
                        tmp = cf.with_suffix(f".{os.getpid()}.tmp.npy")
                        np.save(tmp, out[j])
                        os.replace(tmp, cf)
        tick(advance=len(chunk))
    return FeatureSet(paths=[str(p) for p in paths], features=feats, status=status, reason=reason,
                      extractor=extractor.id, n_cached=n_cached, n_computed=len(todo))
