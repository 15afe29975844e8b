"""Loading weight files without running code that may hide in them.

A ``.pt`` / ``.pth`` / ``.bin`` file is a Python pickle: loading it with ``torch.load(weights_only=
False)`` runs whatever functions it names. fairskin reads such files only with
``weights_only=True`` (tensors and plain containers, nothing else), and only with torch 2.6 or
newer, since older releases can be made to run code even then (CVE-2025-32434). Third-party
loaders that call ``torch.load`` themselves (torch-fidelity's Inception, lpips, transformers'
``.bin`` checkpoints) run inside :func:`weights_only_loads`, which forces the same rule on them.
Safetensors files hold no code and are always safe to read. ``docs/security.md`` says what
fairskin loads, what it refuses and how to opt in (``--trust-model``, classifiers only).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from fairskin.errors import InputError

__all__ = ["SAFE_TORCH", "UnsafeWeightsError", "check_torch", "file_sha256", "load_weights", "weights_only_loads"]

#: the oldest torch whose ``weights_only=True`` is not known to be bypassable (CVE-2025-32434)
SAFE_TORCH = (2, 6)
_GUARD = threading.RLock()


class UnsafeWeightsError(InputError):
    """A weights file that holds more than tensors: loading it could run code, so it was not loaded."""


def _version(text: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def check_torch(arg: str) -> None:
    """Refuse to unpickle anything with a torch older than :data:`SAFE_TORCH`."""
    import torch

    if _version(torch.__version__) < SAFE_TORCH:
        raise InputError(f"{arg}: torch {torch.__version__} is older than 2.6, whose safe loading of weight files "
                         "can be bypassed to run code (CVE-2025-32434); upgrade torch (pip install 'torch>=2.6'), "
                         "or give the weights as a .safetensors file")


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _refusal(arg: str, path, exc: BaseException) -> InputError:
    """The error for a failed weights_only load: more than tensors in the pickle, or a damaged file."""
    text = str(exc).strip()
    if "WeightsUnpickler error:" in text:  # torch's long preamble, then what it found
        said = " ".join(text.split("WeightsUnpickler error:", 1)[1].split())
        said = said.split(" Please use", 1)[0].split(" Check the documentation", 1)[0][:200]
    else:
        said = text.splitlines()[0][:200] if text else type(exc).__name__
    if isinstance(exc, pickle.UnpicklingError) and ("Unsupported global" in text or _is_pickle(path)):
        return UnsafeWeightsError(f"{arg}: refusing to load {path}: it holds Python objects besides tensors, and "
                                  f"unpickling them could run arbitrary code (torch.load with weights_only=True "
                                  f"said: {said})")
    return InputError(f"{arg}: {path} is not a readable weights file (damaged, truncated or another format): {said}")


def _is_pickle(path) -> bool:
    """Starts with a pickle's protocol opcode (torch.save's zip files are told apart before)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(1) == b"\x80"
    except (OSError, TypeError):
        return False


def load_weights(path: str | os.PathLike, *, arg: str, map_location="cpu"):
    """``torch.load(path, weights_only=True)`` (a safetensors file through safetensors), with
    every failure an :class:`InputError` naming ``arg``: missing file, a folder, code in the
    pickle, a damaged file, or a torch too old to load safely."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{arg}: {path} is a folder; expected a weights file")
    if not path.is_file():
        raise InputError(f"{arg}: file not found: {path}")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types
            raise InputError(f"{arg}: {path} is not a readable safetensors file: {exc}") from None
    import torch

    check_torch(arg)
    try:
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError,
            KeyError, IndexError) as exc:
        raise _refusal(arg, path, exc) from None


@contextlib.contextmanager
def captured_logs(*names: str) -> Iterator[list[str]]:
    """Inside the block, records of the loggers ``names`` (and their children) are collected
    instead of printed: torch logs a loader's traceback as a warning before it raises, and a user
    should see one clear error, not a traceback. Yields the list of messages, each with the
    first line of the exception it carried, if any."""
    import logging

    got: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record):
            msg = record.getMessage().strip().splitlines()[0] if record.getMessage().strip() else ""
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                msg = f"{msg}: {type(exc).__name__}: {first}" if msg else f"{type(exc).__name__}: {first}"
            got.append(msg)

    keep = _Keep()
    loggers = [logging.getLogger(n) for n in names]
    saved = [(lg.propagate, list(lg.handlers)) for lg in loggers]
    for lg in loggers:
        lg.handlers = [keep]
        lg.propagate = False
    try:
        yield got
    finally:
        for lg, (prop, handlers) in zip(loggers, saved):
            lg.handlers = handlers
            lg.propagate = prop


@contextlib.contextmanager
def weights_only_loads(arg: str) -> Iterator[None]:
    """Inside the block every ``torch.load`` (also one a library makes with ``weights_only=False``)
    reads tensors only; a file that holds more is refused with an :class:`InputError` naming
    ``arg`` before any of its code runs."""
    import torch

    check_torch(arg)
    original = torch.load

    def guarded(f, *args, **kwargs):
        kwargs["weights_only"] = True
        try:
            return original(f, *args, **kwargs)
        except pickle.UnpicklingError as exc:
            raise _refusal(arg, f if isinstance(f, (str, os.PathLike)) else "the file", exc) from None

    with _GUARD:
        torch.load = guarded
        try:
            yield
        finally:
            torch.load = original
