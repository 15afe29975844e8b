"""Loading a classifier safely and scoring a data set with it.

Formats, detected from the file:

* TorchScript (``torch.jit.save``): loaded with ``torch.jit.load``, but only after its code was
  read and found to call nothing but tensor operators (:mod:`._program_check`): a TorchScript
  program can read and write files. Otherwise refused unless ``trust_model=True``.
* ``torch.export`` archives (``.pt2``): ``torch.export.load(...).module()``, with the same check
  (and no pickled payloads) unless ``trust_model=True``.
* A state dict (``torch.save(model.state_dict())``, ``.pt``/``.pth``/``.bin``) or a
  ``.safetensors`` file, rebuilt with ``arch`` (a timm model name, built with
  ``pretrained=False``: nothing is downloaded) and ``num_classes``. State dicts are read with
  ``torch.load(weights_only=True)``.
* Anything else (a pickled ``nn.Module``) is refused unless ``trust_model=True``: unpickling
  runs arbitrary code.

Metadata saved with the model (a JSON sidecar ``MODEL.json`` or ``MODEL.<ext>.json``, or
``fairskin.json`` in a TorchScript file's ``extra_files``) can give ``arch``, ``num_classes``,
``class_names``, ``positive_class``, ``output`` ("logits"/"probabilities"), ``threshold`` and
the preprocessing (``resize``, ``crop``, ``mean``, ``std``). Arguments override metadata;
the defaults follow DDI's evaluation: resize to 299, centre crop 299, ImageNet mean/std.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from fairskin.devices import choose_device
from fairskin.errors import InputError
from fairskin.progress import Progress, counter
from fairskin.weights import UnsafeWeightsError, captured_logs, load_weights, weights_only_loads

from ._program_check import check_export, check_torchscript

__all__ = ["Preprocess", "LoadedModel", "load_model", "predict", "choose_device", "crop_rgb", "to_tensor",
           "positive_log_odds",
           "HAM_MALIGNANT_CLASSES"]

#: HAM10000 diagnoses counted as malignant when a multi-class model names its classes that way
HAM_MALIGNANT_CLASSES = ("mel", "bcc", "akiec")
METADATA_KEY = "fairskin.json"


@dataclass(frozen=True)
class Preprocess:
    """Image preprocessing before the model (DDI's evaluation: resize 299, centre crop 299)."""

    resize: int = 299  # shorter side, bilinear
    crop: int = 299  # centre crop, square
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    #: DullRazor before anything else (:func:`fairskin.data.remove_hair`), as the model was trained
    hair_removal: bool = False


@dataclass
class LoadedModel:
    module: Any  # a callable torch module
    kind: Literal["torchscript", "export", "state_dict", "safetensors", "pickle", "onnx"]
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)


def _sidecar(path: Path) -> dict[str, Any]:
    for cand in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if cand.is_file() and cand != path:
            try:
                meta = json.loads(cand.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise InputError(f"{cand}: model metadata is not valid JSON: {exc}") from None
            if not isinstance(meta, dict):
                raise InputError(f"{cand}: model metadata must be a JSON object, got {type(meta).__name__}")
            return meta
    return {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _damaged_zip(path: Path) -> bool:
    """Starts like a zip archive (as TorchScript, torch.export and torch.save files do) but cannot be read."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                return False
        with zipfile.ZipFile(path) as z:
            z.namelist()
        return False
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return True


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def _what_file_is(path: Path) -> str:
    """What a file that is no model looks like, from its first bytes (said instead of the loader's
    own message, which for a text file is an opaque "Unsupported operand 110")."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if size == 0:
        return "this file is empty"
    if head[:4] == b"PK\x03\x04":
        return f"this is a zip archive ({size:,} bytes) but not one torch wrote (damaged, or another kind of zip)"
    if head[:1] == b"\x80":
        return f"this is a Python pickle ({size:,} bytes) that holds no state dict fairskin can read (damaged?)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"this file ({size:,} bytes) starts with the bytes {head[:8].hex(' ')}"
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    return f"this is a text file ({size:,} bytes) starting {first!r}"


def _build_timm(arch: str | None, num_classes: int | None, path: Path, kind: str):
    if not arch:
        raise InputError(f"{path}: a {kind} holds weights only; give the architecture with arch=NAME (a timm "
                         "model name, e.g. resnet50) and num_classes=N, or save 'arch' in the model's metadata")
    import timm

    if not timm.is_model(arch):
        import difflib

        close = difflib.get_close_matches(arch, timm.list_models(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"arch: {arch!r} is not a timm model name (e.g. resnet18, resnet50, efficientnet_b0, "
                         f"vit_base_patch16_224; timm.list_models() lists them all).{hint}")
    return timm.create_model(arch, pretrained=False, num_classes=int(num_classes or 1))


def _load_state_dict(module, state: dict, path: Path, arch: str) -> None:
    import torch

    if not isinstance(state, dict) or not state:
        raise InputError(f"{path}: expected a state dict (parameter name -> tensor), got {type(state).__name__}")
    for key in ("state_dict", "model_state_dict", "model"):
        if key in state and isinstance(state[key], dict):
            state = state[key]
            break
    state = {k.removeprefix("module."): v for k, v in state.items()}
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise InputError(f"{path}: expected a state dict of tensors; {bad[0]!r} is a {type(state[bad[0]]).__name__}")
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise InputError(
            f"{path}: weights do not fit arch={arch}: {len(result.missing_keys)} missing "
            f"(e.g. {result.missing_keys[:2]}), {len(result.unexpected_keys)} unexpected (e.g. "
            f"{result.unexpected_keys[:2]}); check arch=... and num_classes=...")


def load_model(path: str | Path, *, arch: str | None = None, num_classes: int | None = None,
               trust_model: bool = False) -> LoadedModel:
    """Load a classifier without running pickled code (see the module docstring)."""
    import torch

    path = Path(path)
    if path.is_dir():
        raise InputError(f"model: {path} is a folder; expected a model file (TorchScript .pt, torch.export .pt2, "
                         "a state dict or .safetensors)")
    if not path.is_file():
        raise InputError(f"model: file not found: {path}")
    meta = _sidecar(path)
    arch = arch or meta.get("arch")
    num_classes = num_classes or meta.get("num_classes")
    suffix = path.suffix.lower()
    if suffix == ".onnx":  # onnxruntime, no Python run (audits/models/_onnx.py)
        from fairskin.audits.models._onnx import load_onnx

        return load_onnx(path, meta)
    if suffix == ".safetensors":
        module = _build_timm(arch, num_classes, path, "safetensors file")
        try:
            state = load_weights(path, arg="model")
        except InputError as exc:
            raise InputError(f"{path}: not a readable safetensors file: {str(exc).split(': ', 2)[-1]}") from None
        try:
            _load_state_dict(module, state, path, arch)
        except RuntimeError as exc:
            raise InputError(f"{path}: weights do not fit arch={arch} num_classes={num_classes}: "
                             f"{str(exc).splitlines()[0]}") from None
        return LoadedModel(module.eval(), "safetensors", path, meta)
    if _damaged_zip(path):
        raise InputError(f"{path}: not a readable model file: it starts like a zip archive (TorchScript, torch.export "
                         "or torch.save) but the archive cannot be read, so the file is truncated or damaged; copy "
                         "or export it again")
    inner = {n.split("/", 1)[1] for n in _zip_names(path) if "/" in n}  # names below the archive's folder
    is_export = "archive_format" in inner
    if not is_export and any(n.startswith("code/") for n in inner):
        extra = {METADATA_KEY: ""}
        if not trust_model:
            check_torchscript(path)  # its code, read before torch compiles or runs any of it
        try:
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except (RuntimeError, ValueError, OSError) as exc:
            raise InputError(f"{path}: a TorchScript file torch {torch.__version__} cannot load (damaged, or saved by "
                             f"an incompatible torch): {_first_line(exc)}") from None
        if extra[METADATA_KEY]:
            try:
                meta = {**json.loads(extra[METADATA_KEY]), **meta}
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: {METADATA_KEY} in the TorchScript file is not valid JSON: {exc}") from None
        return LoadedModel(module.eval(), "torchscript", path, meta)
    if suffix == ".pt2" or is_export:
        if not trust_model:
            check_export(path)
        with captured_logs("torch.export", "torch._export") as logged:  # torch logs its traceback, then raises
            try:
                if trust_model:
                    ep = torch.export.load(str(path))
                else:
                    with weights_only_loads("model"):  # no fallback to unpickling, whatever the archive says
                        ep = torch.export.load(str(path))
            except InputError:
                raise
            except Exception as exc:
                why = logged[-1] if logged and "warnings above" in str(exc) else _first_line(exc)
                raise InputError(f"{path}: not a torch.export archive torch {torch.__version__} can load (damaged, "
                                 f"or saved by an incompatible torch): {why[:300]}") from None
        return LoadedModel(ep.module(), "export", path, meta)
    try:
        obj = load_weights(path, arg="model")
    except UnsafeWeightsError as exc:  # a pickle with code in it: only on the user's word
        if not trust_model:
            said = str(exc).split("(torch.load with weights_only=True said: ", 1)[-1].rstrip(")")
            raise InputError(
                f"{path}: refusing to load: this file is not TorchScript, a torch.export archive, safetensors or a "
                "plain state dict, and unpickling it could run arbitrary code. Re-export the model (torch.jit.save "
                "or a state dict with arch=...), or pass trust_model=True only if you trust its "
                f"source. (torch.load with weights_only=True said: {said[:200]})") from None
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)  # opted in: --trust-model
        except Exception as exc2:
            raise InputError(f"{path}: cannot load the model even with trust_model=True: {exc2}") from None
        if isinstance(obj, torch.nn.Module):
            return LoadedModel(obj.eval(), "pickle", path, meta)
    except InputError:  # damaged, truncated, not a torch file at all
        raise InputError(f"{path}: not a model file fairskin can read. Expected TorchScript (torch.jit.save), a "
                         f"torch.export archive (.pt2), safetensors, or a state dict saved with torch.save; "
                         f"{_what_file_is(path)}") from None
    if isinstance(obj, torch.nn.Module):  # pragma: no cover - weights_only never returns modules
        return LoadedModel(obj.eval(), "pickle", path, meta)
    module = _build_timm(arch, num_classes, path, "state dict")
    try:
        _load_state_dict(module, obj, path, arch)
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not fit arch={arch} num_classes={num_classes}: "
                         f"{str(exc).splitlines()[0]}") from None
    return LoadedModel(module.eval(), "state_dict", path, meta)


def resolve_preprocess(meta: dict[str, Any], overrides: dict[str, Any]) -> Preprocess:
    missing = [k for k in meta.get("preprocess_required", ()) if overrides.get(k) is None]  # an ONNX file's
    if missing:
        raise InputError(f"model: the ONNX file's metadata does not give {', '.join(missing)}; give "
                         + ", ".join(f"{k}=..." for k in missing) + " (see docs/onnx.md)")
    vals = {}
    for f in fields(Preprocess):
        v = overrides.get(f.name)
        if v is None:
            v = meta.get(f.name)
        if v is not None:
            vals[f.name] = (tuple(float(x) for x in v) if f.name in ("mean", "std") else bool(v)
                            if f.name == "hair_removal" else int(v))
    p = replace(Preprocess(), **vals)
    if p.crop > p.resize:
        raise InputError(f"crop: {p.crop} is larger than resize {p.resize}; the centre crop must fit")
    if len(p.mean) != 3 or len(p.std) != 3 or min(p.std) <= 0:
        raise InputError(f"mean/std: expected three values each (std > 0), got mean={p.mean}, std={p.std}")
    return p


class _ImageSet:
    """torch Dataset of (tensor, row position, status, reason); failed loads give a zero image."""

    def __init__(self, root: Path, images: list[str], pre: Preprocess):
        self.root, self.images, self.pre = root, images, pre

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        import torch

        from fairskin.data import ImageLoadError, load_rgb, remove_hair

        p = self.pre
        try:
            rgb = load_rgb(self.root / self.images[i]).rgb
        except ImageLoadError as exc:
            return torch.zeros(3, p.crop, p.crop), i, exc.status, exc.reason
        if p.hair_removal:
            rgb = remove_hair(rgb)
        return to_tensor(crop_rgb(rgb, p), p), i, "ok", ""


def crop_rgb(rgb: np.ndarray, pre: Preprocess, *, mask: np.ndarray | None = None):
    """What the model sees of an image, as 8-bit RGB: the shorter side resized to ``pre.resize``
    (bilinear), then the centre ``pre.crop`` square. With ``mask`` (bool, the image's shape) returns
    (crop, the mask put through the same geometry, nearest neighbour)."""
    from PIL import Image

    im = Image.fromarray(rgb)
    w, h = im.size
    scale = pre.resize / min(w, h)
    size = (max(pre.resize, round(w * scale)), max(pre.resize, round(h * scale)))
    left, top = (size[0] - pre.crop) // 2, (size[1] - pre.crop) // 2
    box = (left, top, left + pre.crop, top + pre.crop)
    crop = np.asarray(im.resize(size, Image.BILINEAR).crop(box))
    if mask is None:
        return crop
    m = Image.fromarray(np.asarray(mask, bool).astype(np.uint8) * 255).resize(size, Image.NEAREST).crop(box)
    return crop, np.asarray(m) > 127


def to_tensor(crop: np.ndarray, pre: Preprocess):
    """An 8-bit RGB crop -> the normalised (3, crop, crop) float tensor the model takes."""
    import torch

    x = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (x - torch.tensor(pre.mean).view(3, 1, 1)) / torch.tensor(pre.std).view(3, 1, 1)


def _output_matrix(out, *, num_classes: int | None, path: Path):
    """A model's output as a float (batch, classes) tensor, checked."""
    import torch

    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise InputError(f"{path}: model output is a {type(out).__name__}, expected a tensor of shape (batch, classes)")
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        raise InputError(f"{path}: model output shape {tuple(out.shape)} does not fit: expected (batch, classes)")
    c = out.shape[1]
    if num_classes is not None and c != int(num_classes):
        raise InputError(f"{path}: model output shape {tuple(out.shape)} does not fit: expected (batch, {num_classes}) "
                         f"for num_classes={num_classes}")
    return out.float()


def _positive_columns(c: int, *, meta: dict, positive_class: str | None, class_names: list[str] | None,
                      path: Path) -> list[int]:
    """The output columns whose probabilities add up to the positive class's (a model with c >= 2 outputs)."""
    names = class_names or meta.get("class_names")
    if names is not None and len(names) != c:
        raise InputError(f"class_names: {len(names)} names given but the model has {c} outputs")
    pos = positive_class or meta.get("positive_class")
    if pos is not None:
        if names is None:
            raise InputError(f"positive_class: {pos!r} needs the class names (class_names=..., or "
                             "'class_names' in the model's metadata)")
        if pos not in names:
            raise InputError(f"positive_class: {pos!r} is not a class of {path}; classes: {', '.join(names)}")
        return [list(names).index(pos)]
    if c == 2:
        return [1]
    malignant = [i for i, n in enumerate(names or []) if str(n).lower() in HAM_MALIGNANT_CLASSES]
    if not malignant:
        raise InputError(
            f"{path}: model has {c} outputs; say which mean malignant: give class_names with HAM10000's "
            f"{', '.join(HAM_MALIGNANT_CLASSES)} (summed as malignant) or choose positive_class=...")
    return malignant


def to_probability(out, *, meta: dict, num_classes: int | None, positive_class: str | None,
                    class_names: list[str] | None, output: str, path: Path):
    """Model output (batch, C) or (batch,) -> probability of the positive class."""
    import torch

    out = _output_matrix(out, num_classes=num_classes, path=path)
    if out.shape[1] == 1:
        if positive_class:
            raise InputError(f"positive_class: {path} has a single output, there are no classes to choose from")
        return torch.sigmoid(out[:, 0]) if output == "logits" else out[:, 0]
    cols = _positive_columns(out.shape[1], meta=meta, positive_class=positive_class, class_names=class_names,
                             path=path)
    probs = torch.softmax(out, 1) if output == "logits" else out
    return probs[:, cols].sum(1)


def positive_log_odds(out, *, meta: dict, num_classes: int | None = None, positive_class: str | None = None,
                      class_names: list[str] | None = None, output: str = "logits", path: Path = Path("model")):
    """log(p / (1 - p)) of the positive class, from a model's output: the differentiable score that
    attribution methods explain (the audited probability is its sigmoid). From logits it is exact
    (log-sum-exp of the positive columns minus that of the others); from probabilities clipped at
    1e-7."""
    import torch

    out = _output_matrix(out, num_classes=num_classes, path=path)
    c = out.shape[1]
    if c == 1:
        if output == "logits":
            return out[:, 0]
        p = out[:, 0].clamp(1e-7, 1 - 1e-7)
        return torch.log(p) - torch.log1p(-p)
    cols = _positive_columns(c, meta=meta, positive_class=positive_class, class_names=class_names, path=path)
    rest = [i for i in range(c) if i not in cols]
    if output == "logits":
        return torch.logsumexp(out[:, cols], 1) - torch.logsumexp(out[:, rest], 1)
    return torch.log(out[:, cols].sum(1).clamp_min(1e-7)) - torch.log(out[:, rest].sum(1).clamp_min(1e-7))


def predict(model: LoadedModel, manifest: pd.DataFrame, *, root: str | Path | None = None, batch_size: int = 32,
            num_workers: int = 0, device: str = "auto", num_classes: int | None = None,
            positive_class: str | None = None, class_names: list[str] | None = None,
            output: Literal["logits", "probabilities"] | None = None, preprocess: dict[str, Any] | None = None,
            progress: Progress | None = None) -> tuple[np.ndarray, list[str], list[str]]:
    """Score every row of a manifest. Returns (probability per row, NaN where the image failed;
    status per row; reason per row). ``progress`` (:mod:`fairskin.progress`) sees the count of
    images scored."""
    import torch
    from torch.utils.data import DataLoader

    root = Path(root if root is not None else manifest.attrs.get("root") or ".")
    meta = model.metadata
    pre = resolve_preprocess(meta, preprocess or {})
    output = output or meta.get("output", "logits")
    if output not in ("logits", "probabilities"):
        raise InputError(f"output: expected 'logits' or 'probabilities', got {output!r}")
    num_classes = num_classes or meta.get("num_classes")
    dev = choose_device(device)
    module = model.module
    if hasattr(module, "to"):
        try:
            module = module.to(dev)
        except (RuntimeError, NotImplementedError):  # exported programs may not move
            dev = "cpu"
    ds = _ImageSet(root, manifest["image"].astype(str).tolist(), pre)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=False)
    scores = np.full(len(ds), np.nan)
    status = ["ok"] * len(ds)
    reason = [""] * len(ds)
    tick = counter(progress, f"scoring with {model.path.name} on {dev}", len(ds))
    with torch.inference_mode():
        for x, idx, st, rs in loader:
            idx = idx.numpy()
            ok = np.array([s == "ok" for s in st])
            for j in np.flatnonzero(~ok):
                status[idx[j]], reason[idx[j]] = st[j], rs[j]
            if ok.any():
                batch = x[torch.from_numpy(ok)].to(dev)
                try:
                    out = module(batch)
                except (RuntimeError, TypeError, ValueError) as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise InputError(f"{model.path}: the model failed on a batch of shape {tuple(batch.shape)} "
                                     f"(check resize/crop and the model's expected input): {first[:300]}") from None
                p = to_probability(out, meta=meta, num_classes=num_classes, positive_class=positive_class,
                                    class_names=class_names, output=output, path=model.path)
                scores[idx[ok]] = p.detach().cpu().double().numpy()
            tick(advance=len(idx))
    return scores, status, reason
