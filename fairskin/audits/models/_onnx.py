"""ONNX models in the audit: a classifier from any framework (Keras, JAX, scikit-learn, ...) scored
through onnxruntime.

Safety: an ONNX file is a protobuf graph of operators; reading it runs no Python and unpickles
nothing. The one way a graph can reach code outside the runtime is a custom operator, which
needs a shared library registered with the session; fairskin registers none, and refuses before
the session is made a file whose graph (its nodes, its functions' and subgraphs' nodes) uses an
operator domain other than ONNX's own (``""``/``ai.onnx``, ``ai.onnx.ml``), onnxruntime's built-in
contrib ops (``com.microsoft``) or a function the file itself defines from those. Tensors stored
outside the file (external data) must lie inside the model's folder.

Preprocessing: ``resize``, ``crop``, ``mean``, ``std`` (and ``class_names``, ``positive_class``,
``output``, ``threshold``) come from the arguments (``--crop``, ``--mean``, ...), else the file's
metadata (``metadata_props``: a ``fairskin.json`` entry holding a JSON object, or one entry per
key), else a JSON sidecar (``MODEL.onnx.json``). The crop defaults to the graph's fixed input side
and ``resize`` to the crop; ``mean`` and ``std`` have no default for an ONNX file, since the
framework it came from may expect anything (``0..1``, ``-1..1``, ``0..255``): the audit stops with
an error that names the options. A model that takes ``0..255`` pixels is given ``--mean 0,0,0
--std 0.00392156862745098,0.00392156862745098,0.00392156862745098`` (the audit computes
``(pixel / 255 - mean) / std``). Channels-first (``N,3,H,W``) and channels-last (``N,H,W,3``)
inputs are both read from the graph's input shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fairskin.errors import InputError

__all__ = ["ALLOWED_DOMAINS", "OnnxModule", "load_onnx", "onnx_domains"]

#: operator domains an ONNX graph may use (built into onnxruntime: no user code)
ALLOWED_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")
#: preprocessing an ONNX file must state (its metadata or the audit's options), having no safe default
REQUIRED = ("mean", "std")
_META_KEYS = ("resize", "crop", "mean", "std", "class_names", "positive_class", "output", "threshold", "num_classes")
_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _import_ort():
    try:
        import onnxruntime
    except ImportError:
        raise InputError("model: auditing an .onnx file needs onnxruntime; install it with pip install "
                         "'fairskin[audit]' (or pip install onnxruntime)") from None
    return onnxruntime


def _graphs(graph):
    """A graph and every subgraph of its nodes (If / Loop / Scan bodies)."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.g is not None and len(attr.g.node):
                yield from _graphs(attr.g)
            for g in attr.graphs:
                yield from _graphs(g)


def onnx_domains(model) -> dict[str, str]:
    """Every operator domain an ``onnx.ModelProto`` uses -> an example op type (opset imports included)."""
    seen: dict[str, str] = {}
    for imp in model.opset_import:
        seen.setdefault(imp.domain, "(opset import)")
    for graph in _graphs(model.graph):
        for node in graph.node:
            seen[node.domain] = node.op_type
    for fn in model.functions:
        for node in fn.node:
            seen.setdefault(node.domain, node.op_type)
    return seen


def _check_safe(path: Path):
    """Refuse custom operator domains and external data outside the model's folder; returns the
    ``onnx.ModelProto`` (weights not loaded)."""
    try:
        import onnx
    except ImportError:
        raise InputError("model: checking an .onnx file needs the onnx package; install it with pip install "
                         "'fairskin[audit]' (or pip install onnx)") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise InputError(f"{path}: not a readable ONNX file (truncated, damaged or another format): "
                         f"{str(exc).strip()[:200] or type(exc).__name__}") from None
    own = {fn.domain for fn in model.functions}
    bad = {d: op for d, op in onnx_domains(model).items() if d not in ALLOWED_DOMAINS and d not in own}
    if bad:
        d, op = next(iter(sorted(bad.items())))
        raise InputError(f"{path}: refusing to load: the graph uses the custom operator domain {d!r} (e.g. op "
                         f"{op!r}), which needs a custom-op library that could run any code; fairskin runs ONNX files "
                         f"with onnxruntime's own operators only ({', '.join(repr(x) for x in ALLOWED_DOMAINS)}). "
                         "Re-export the model with standard ONNX operators")
    folder = path.parent.resolve()
    for t in list(model.graph.initializer):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            loc = next((e.value for e in t.external_data if e.key == "location"), "")
            target = (folder / loc).resolve()
            if not target.is_relative_to(folder):
                raise InputError(f"{path}: refusing to load: tensor {t.name!r} is stored outside the model's folder "
                                 f"({loc!r}); keep external data beside the .onnx file")
    return model


def _file_metadata(props: dict[str, str], path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if "fairskin.json" in props:
        try:
            meta = json.loads(props["fairskin.json"])
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: the metadata entry fairskin.json is not valid JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise InputError(f"{path}: the metadata entry fairskin.json must hold a JSON object")
    for k in _META_KEYS:
        if k in props and k not in meta:
            try:
                meta[k] = json.loads(props[k])
            except json.JSONDecodeError:
                meta[k] = props[k]  # a plain string (output, positive_class)
    return meta


class OnnxModule:
    """Calls an onnxruntime session like a torch module: a normalised float ``(n, 3, h, w)`` tensor
    in, the graph's first output as a torch tensor out."""

    def __init__(self, session, path: Path):
        self.session, self.path = session, path
        inp = session.get_inputs()
        if len(inp) != 1:
            raise InputError(f"{path}: the graph has {len(inp)} inputs ({', '.join(i.name for i in inp)}); the audit "
                             "feeds one image batch")
        self.input = inp[0]
        shape = list(self.input.shape)
        if len(shape) != 4:
            raise InputError(f"{path}: input {self.input.name!r} has shape {shape}; expected an image batch (N, 3, H, "
                             "W) or (N, H, W, 3)")
        if shape[1] == 3:
            self.channels_last, side = False, shape[2:]
        elif shape[3] == 3:
            self.channels_last, side = True, shape[1:3]
        else:
            raise InputError(f"{path}: input {self.input.name!r} has shape {shape}: no axis of 3 colour channels at "
                             "position 1 or 3")
        self.side = [s if isinstance(s, int) and s > 0 else None for s in side]
        if self.input.type not in _TYPES:
            raise InputError(f"{path}: input {self.input.name!r} is a {self.input.type}; expected float, float16 or "
                             "double pixels")
        self.dtype = _TYPES[self.input.type]

    def __call__(self, x):
        import torch

        if self.side[0] is not None and tuple(x.shape[-2:]) != tuple(s or x.shape[-1] for s in self.side):
            raise InputError(f"{self.path}: the graph takes {self.side[0]}x{self.side[1]} images, the audit gives "
                             f"{x.shape[-2]}x{x.shape[-1]}; set crop={self.side[0]} (or 'crop' in the metadata)")
        a = x.detach().cpu().numpy()
        if self.channels_last:
            a = a.transpose(0, 2, 3, 1)
        out = self.session.run(None, {self.input.name: np.ascontiguousarray(a, dtype=self.dtype)})[0]
        return torch.from_numpy(np.asarray(out, np.float32))


def load_onnx(path: Path, meta: dict[str, Any], *, device: str = "cpu"):
    """An ONNX file as a :class:`fairskin.audits.classifier.LoadedModel` (kind ``"onnx"``): checked
    (module docstring), opened in onnxruntime, with its metadata (``meta``: the sidecar's, which
    the file's own fills in) and the preprocessing it must state listed under ``preprocess_required``."""
    from fairskin.audits.models._models import LoadedModel

    _check_safe(path)
    ort = _import_ort()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    providers = (["CUDAExecutionProvider", "CPUExecutionProvider"]
                 if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers()
                 else ["CPUExecutionProvider"])
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph / NotImplemented
        raise InputError(f"{path}: onnxruntime {ort.__version__} cannot open this ONNX file: "
                         f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__}"
                         ) from None
    module = OnnxModule(session, path)
    meta = {**_file_metadata(dict(session.get_modelmeta().custom_metadata_map), path), **meta}
    if "crop" not in meta and module.side[0] is not None and module.side[0] == module.side[1]:
        meta["crop"] = module.side[0]
    if "resize" not in meta and "crop" in meta:
        meta["resize"] = meta["crop"]
    meta["preprocess_required"] = [k for k in ("crop", *REQUIRED) if k not in meta]
    return LoadedModel(module, "onnx", path, meta)
