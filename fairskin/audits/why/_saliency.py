"""Saliency per image: which part of the image (lesion, healthy skin, background) the model's
malignancy score rests on, from class-activation maps of pytorch-grad-cam (PyPI ``grad-cam``).

The explained score is the log-odds of the audited probability
(:func:`fairskin.audits.classifier.positive_log_odds`), so a two-output model is explained by
its malignant-minus-benign logit and a HAM10000 model by its summed malignant classes. Maps are
non-negative and scaled to [0, 1] per image (the library's convention); an image's share of a
region is the map's sum over the region's pixels over its sum over the image.

The target layer is chosen automatically unless named: for a vision transformer (a model with
``patch_embed`` and ``blocks``, as timm builds them) the first norm of the last block, its
tokens reshaped to the patch grid without the class/register tokens; for any other network the
last module to produce a spatial feature map (4-D output with height and width above 1, run
once per forward), which is ``layer4`` of a ResNet, ``bn2`` of an EfficientNet and ``features``
of a VGG. A named layer whose output is tokens (3-D) is reshaped the same way.
"""

from __future__ import annotations

import base64
import difflib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fairskin.errors import InputError, MissingDependencyError

__all__ = ["SALIENCY_METHODS", "TargetLayer", "choose_target_layer", "attribution_maps", "region_shares",
           "overlay", "data_uri"]

#: method name (CLI) -> pytorch-grad-cam class; the gradient-free ones (eigencam, scorecam) work too
SALIENCY_METHODS: dict[str, str] = {
    "gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "hirescam": "HiResCAM", "xgradcam": "XGradCAM",
    "layercam": "LayerCAM", "eigencam": "EigenCAM", "scorecam": "ScoreCAM",
}


@dataclass
class TargetLayer:
    name: str
    module: object
    reshape: Callable | None  # tokens (B, N, C) -> (B, C, h, w), or None for a feature map
    chosen: str  # "given", "vision transformer: last block's first norm" or "last spatial feature map"


def import_cam(method: str):
    if method not in SALIENCY_METHODS:
        close = difflib.get_close_matches(method, list(SALIENCY_METHODS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"saliency: unknown method {method!r}; expected one of {', '.join(SALIENCY_METHODS)}.{hint}")
    try:
        import pytorch_grad_cam
    except ImportError:
        raise MissingDependencyError("saliency: needs pytorch-grad-cam: pip install grad-cam "
                                     "(or pip install 'fairskin[audit]')") from None
    return getattr(pytorch_grad_cam, SALIENCY_METHODS[method])


def _token_reshape(n_prefix: int, grid: tuple[int, int] | None):
    def reshape(t):
        tokens = t[:, n_prefix:, :]
        h, w = grid if grid is not None else (int(math.isqrt(tokens.shape[1])),) * 2
        return tokens.reshape(t.shape[0], h, w, t.shape[2]).permute(0, 3, 1, 2)

    return reshape


def _vit_reshape(module, n_tokens: int):
    n_prefix = getattr(module, "num_prefix_tokens", None)
    if n_prefix is None:
        n_prefix = n_tokens - math.isqrt(n_tokens) ** 2
    grid = getattr(getattr(module, "patch_embed", None), "grid_size", None)
    if grid is not None and int(grid[0]) * int(grid[1]) != n_tokens - n_prefix:
        grid = None
    return _token_reshape(int(n_prefix), None if grid is None else (int(grid[0]), int(grid[1])))


def _probe(module, input_size: int) -> list[tuple[str, tuple, int]]:
    """(name, output shape, calls) of every named submodule, in the order they finish."""
    import torch

    seen: dict[str, list] = {}
    order: list[str] = []
    handles = []
    for name, sub in module.named_modules():
        if not name:
            continue

        def hook(_m, _i, out, name=name):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
            if name in seen:
                seen[name][1] += 1
                order.remove(name)
            else:
                seen[name] = [shape, 1]
            order.append(name)

        handles.append(sub.register_forward_hook(hook))
    try:
        with torch.no_grad():
            module(torch.zeros(1, 3, input_size, input_size, device=_device(module)))
    finally:
        for h in handles:
            h.remove()
    return [(n, seen[n][0], seen[n][1]) for n in order]


def _device(module):
    try:
        return next(module.parameters()).device
    except StopIteration:
        return "cpu"


def choose_target_layer(module, *, input_size: int, name: str | None = None) -> TargetLayer:
    """The layer whose activations the map is built from (see the module docstring)."""
    if not hasattr(module, "register_forward_hook") or type(module).__name__ in ("RecursiveScriptModule",
                                                                                  "ScriptModule"):
        raise InputError("saliency: this model cannot be hooked (TorchScript or torch.export); give the weights as a "
                         "state dict or safetensors file with arch=..., which fairskin rebuilds as a timm model")
    named = dict(module.named_modules())
    if name is not None:
        if name not in named or not name:
            close = difflib.get_close_matches(name, [n for n in named if n], n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise InputError(f"saliency_layer: the model has no module {name!r}.{hint}")
        shape = next((s for n, s, _ in _probe(module, input_size) if n == name), ())
        if len(shape) == 3:
            return TargetLayer(name, named[name], _vit_reshape(module, shape[1]), "given")
        if len(shape) != 4:
            raise InputError(f"saliency_layer: {name!r} outputs shape {shape or 'no tensor'}; a saliency layer must "
                             "output a feature map (batch, channels, height, width) or tokens (batch, tokens, channels)")
        return TargetLayer(name, named[name], None, "given")
    blocks = getattr(module, "blocks", None)
    if hasattr(module, "patch_embed") and blocks is not None and len(blocks) and hasattr(blocks[-1], "norm1"):
        lname = f"blocks.{len(blocks) - 1}.norm1"
        shape = next((s for n, s, _ in _probe(module, input_size) if n == lname), ())
        if len(shape) == 3:
            return TargetLayer(lname, named[lname], _vit_reshape(module, shape[1]),
                               "vision transformer: last block's first norm")
    probe = _probe(module, input_size)
    maps = [n for n, s, calls in probe if len(s) == 4 and s[2] > 1 and s[3] > 1 and calls == 1]
    if not maps:
        raise InputError("saliency: found no layer with a spatial feature map to explain; name one with "
                         "saliency_layer=...: a module whose output is (batch, channels, height, "
                         "width)")
    return TargetLayer(maps[-1], named[maps[-1]], None, "last spatial feature map")


def attribution_maps(module, x, *, method: str, layer: TargetLayer, target: Callable) -> np.ndarray:
    """(batch, H, W) maps in [0, 1] for the input batch ``x``; ``target`` maps one output row to the
    scalar being explained."""
    cam_class = import_cam(method)
    for p in module.parameters():
        p.requires_grad_(True)
    x = x.to(_device(module))
    with cam_class(model=module, target_layers=[layer.module], reshape_transform=layer.reshape) as cam:
        maps = cam(input_tensor=x, targets=[target] * len(x))
    return np.nan_to_num(np.asarray(maps, dtype=np.float64), nan=0.0)


def region_shares(cam: np.ndarray, regions: dict[str, np.ndarray]) -> dict[str, float] | None:
    """Each region's share of the map's total (None when the map is zero everywhere)."""
    total = float(cam.sum())
    if not total > 0:
        return None
    return {k: float(cam[m].sum() / total) for k, m in regions.items()}


def overlay(crop: np.ndarray, cam: np.ndarray, *, lesion: np.ndarray | None = None, alpha: float = 0.5) -> np.ndarray:
    """The crop with the map blended over it (viridis: dark = low, yellow = high) and the lesion's
    outline in white; uint8 RGB."""
    import cv2

    heat = cv2.applyColorMap(np.clip(cam * 255 + 0.5, 0, 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)[..., ::-1]
    out = np.clip(crop.astype(np.float32) * (1 - alpha) + heat.astype(np.float32) * alpha + 0.5, 0, 255).astype(np.uint8)
    if lesion is not None and lesion.any():
        contours, _ = cv2.findContours(lesion.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        out = np.ascontiguousarray(out)
        cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, round(max(crop.shape[:2]) / 112)))
    return out


def data_uri(rgb: np.ndarray, *, side: int = 96, quality: int = 80) -> str:
    """A small JPEG of an image as a ``data:`` URI (what the report embeds)."""
    from PIL import Image

    im = Image.fromarray(rgb)
    scale = side / max(im.size)
    if scale != 1:  # small crops are enlarged pixel by pixel, large ones filtered down
        im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))),
                       Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
