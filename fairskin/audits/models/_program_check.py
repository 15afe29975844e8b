"""Checking a TorchScript or ``torch.export`` model file before it is loaded.

Both formats hold a program, not only weights: TorchScript files carry source code (``code/``) that
``torch.jit.load`` compiles and may run while loading (a module's ``__setstate__``), and the
program may call operators that read or write files (``aten::from_file``, ``aten::save``), talk
to other machines (``prim::rpc_*``, ``c10d``) or come from native libraries. ``torch.export``
archives can hold pickled weights and constants, which ``torch.export.load`` unpickles with
``weights_only=False``. So such a file is code, and it is loaded without ``--trust-model`` only
when a look at the archive, before anything of it is run, finds nothing but tensor operators:

* every operator it names is registered in torch under a tensor namespace (:data:`OP_NAMESPACES`)
  and is not one of the file, network or process operators (:data:`DENIED_OPS`);
* nothing in it is pickled except by TorchScript's own restricted unpickler (no ``use_pickle``
  payloads, custom or opaque objects, legacy constant pickles);
* no native (torchbind) classes.

Anything else is refused with the reason, naming ``--trust-model``.
"""

from __future__ import annotations

import ast
import json
import zipfile
from functools import lru_cache
from pathlib import Path

from fairskin.errors import InputError

__all__ = ["check_torchscript", "check_export", "OP_NAMESPACES", "DENIED_OPS"]

#: operator namespaces of plain tensor computation
OP_NAMESPACES = ("aten", "prim", "prims", "quantized", "_quantized")
#: operators that reach outside the tensors: files, the network, other processes
DENIED_OPS = frozenset({"from_file", "save", "load", "load_tensor", "rpc_async", "rpc_sync", "rpc_remote",
                        "fork", "wait", "awaitable", "awaitable_wait", "_record_function_enter",
                        "_record_function_enter_new", "system", "popen", "open", "exec", "eval", "__import__"})
#: what a file may call other than operators: TorchScript's builtins and the file's own classes
_BUILTINS = frozenset({"annotate", "uninitialized", "unchecked_cast", "isinstance", "int", "float", "bool", "str",
                       "len", "range", "enumerate", "zip", "min", "max", "abs", "round", "list", "tuple", "dict",
                       "getattr", "hasattr", "print", "sorted", "sum", "all", "any", "divmod", "chr", "ord",
                       "Tensor", "Optional", "List", "Dict", "Tuple", "Union", "Final", "NoneType", "Future",
                       "Device", "Module", "RuntimeError", "ValueError", "AssertionError", "IndexError",
                       "KeyError", "TypeError", "NotImplementedError", "Exception", "hex", "oct", "bin",
                       "reversed", "complex", "slice", "id", "hash", "type", "iter", "next", "torch",
                       "ops", "__torch__", "math", "self", "Any", "CONSTANTS"})

_HINT = ("If you trust the file's source, pass trust_model=True; otherwise ask for a state dict or "
         "safetensors file with arch=...")


@lru_cache(maxsize=1)
def _registered() -> frozenset[str]:
    import torch

    return frozenset(s.name for s in torch._C._jit_get_all_schemas())


def _refuse(path: Path, what: str) -> InputError:
    return InputError(f"{path}: refusing to load without trust_model=True: {what}. A TorchScript or torch.export file "
                      f"is a program and fairskin runs one only when it uses nothing but tensor operators. {_HINT}")


def _check_op(path: Path, ns: str, name: str) -> None:
    if name in DENIED_OPS:
        raise _refuse(path, f"it calls {ns}::{name}, which reaches outside the model (files, network or processes)")
    if ns not in OP_NAMESPACES:
        raise _refuse(path, f"it calls {ns}::{name}, an operator outside the tensor namespaces "
                            f"({', '.join(OP_NAMESPACES)})")
    if f"{ns}::{name}" not in _registered():
        raise _refuse(path, f"it calls {ns}::{name}, which this torch does not register")


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _scan_source(path: Path, name: str, text: str, classes: set[str]) -> None:
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:  # torch would not compile it either: say it as torch.jit.load's failure
        import torch

        raise InputError(f"{path}: a TorchScript file torch {torch.__version__} cannot load (damaged, or saved by an "
                         f"incompatible torch): its code {name} is not valid ({exc.msg}, line {exc.lineno})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in DENIED_OPS:
            raise _refuse(path, f"its code {name} uses {node.attr!r}, which reaches outside the model "
                                "(files, network or processes)")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.split("::")[-1].split(".")[0] \
                in DENIED_OPS:  # getattr(torch, "from_file") and the like
            raise _refuse(path, f"its code {name} names {node.value!r}, which reaches outside the model")
        if isinstance(node, ast.Name) and node.id in DENIED_OPS:
            raise _refuse(path, f"its code {name} uses {node.id!r}, which reaches outside the model")
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.Lambda)):
            raise _refuse(path, f"its code {name} holds a {type(node).__name__} statement, not TorchScript")
        if isinstance(node, ast.Call):
            parts = _dotted(node.func)
            if parts is None:
                continue  # a call on an expression's result: a method; its name was checked above
            if parts[0] == "torch" and len(parts) == 2:
                ns = "prim" if f"prim::{parts[1]}" in _registered() and f"aten::{parts[1]}" not in _registered() \
                    else "aten"
                _check_op(path, ns, parts[1])
            elif parts[0] == "ops" and len(parts) == 3:
                _check_op(path, parts[1], parts[2])
            elif parts[:2] == ["torch", "ops"] and len(parts) >= 4:
                _check_op(path, parts[2], parts[3])
            elif parts[0] == "torch" and len(parts) > 2 and parts[1] == "classes":
                raise _refuse(path, f"it uses the native class {'.'.join(parts)}")
            elif parts[0] == "__torch__":
                if parts[1:3] == ["torch", "classes"]:
                    raise _refuse(path, f"it uses the native class {'.'.join(parts)}")
            elif len(parts) == 1 and parts[0] not in _BUILTINS and parts[0] not in classes:
                raise _refuse(path, f"its code {name} calls {parts[0]!r}, which is not a TorchScript builtin")


def check_torchscript(path: Path) -> None:
    """Refuse (InputError) a TorchScript archive whose code calls anything but tensor operators."""
    with zipfile.ZipFile(path) as z:
        sources = {n: z.read(n) for n in z.namelist() if "/code/" in f"/{n}" and n.endswith(".py")}
    texts: dict[str, str] = {}
    for n, raw in sources.items():
        try:
            texts[n] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _refuse(path, f"its code {n} is not UTF-8 text") from None
    classes: set[str] = set()
    for t in texts.values():
        try:
            classes |= {c.name for c in ast.walk(ast.parse(t)) if isinstance(c, (ast.ClassDef, ast.FunctionDef))}
        except SyntaxError:
            pass  # reported by _scan_source
    for n, t in texts.items():
        _scan_source(path, n, t, classes)


def _targets(node, out: list[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "target" and isinstance(v, str):
                out.append(v)
            else:
                _targets(v, out)
    elif isinstance(node, list):
        for v in node:
            _targets(v, out)


#: Python-level call targets a ``torch.export`` graph may hold besides operators
_EXPORT_TARGETS = frozenset({"_operator.getitem", "_operator.add", "_operator.sub", "_operator.mul",
                             "_operator.floordiv", "_operator.truediv", "_operator.mod", "_operator.neg",
                             "_operator.eq", "_operator.ne", "_operator.lt", "_operator.le", "_operator.gt",
                             "_operator.ge", "_operator.and_", "_operator.or_", "_operator.not_",
                             "torch.sym_int", "torch.sym_float", "torch.sym_max", "torch.sym_min",
                             "torch.sym_not", "torch._sym_sqrt", "math.sqrt", "torch.sym_sum"})


def check_export(path: Path) -> None:
    """Refuse (InputError) a ``torch.export`` archive holding pickles, custom objects or operators
    other than tensor ones."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        payloads = {n: z.read(n) for n in names if n.endswith(".json") and ("/models/" in n or "/data/" in n
                                                                             or n.endswith("exported_program.json"))}
    for n in names:
        inner = n.split("/", 1)[-1]
        if inner.startswith("data/constants/") and not inner.endswith(".json") and \
                not inner.split("/")[-1].startswith("tensor_"):
            raise _refuse(path, f"it holds {inner}, a custom or pickled object that loading would unpickle")
        if inner.startswith("constants/") and inner.endswith(".pt"):
            raise _refuse(path, f"it holds {inner}, a legacy pickle of constants")
    graphs = 0
    for n, raw in payloads.items():
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise _refuse(path, f"{n} is not valid JSON") from None
        if "/data/" in n:
            config = doc.get("config", {}) if isinstance(doc, dict) else {}
            for key, meta in (config.items() if isinstance(config, dict) else ()):
                if isinstance(meta, dict) and meta.get("use_pickle"):
                    raise _refuse(path, f"its payload {key!r} is pickled, and loading it would run its code")
            continue
        graphs += 1
        found: list[str] = []
        _targets(doc, found)
        for t in found:
            if t in _EXPORT_TARGETS:
                continue
            parts = t.split(".")
            if parts[:2] != ["torch", "ops"] or len(parts) < 4:
                raise _refuse(path, f"its graph calls {t}, which is not a tensor operator")
            _check_op(path, parts[2], parts[3])
    if not graphs:
        raise _refuse(path, "no exported graph was found in it to check")
