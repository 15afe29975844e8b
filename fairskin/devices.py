"""Which torch device a stage runs on, decided in one place for every stage.

``"auto"`` (or ``None``, which the generation code passes for "not given") takes the first
accelerator torch can use: CUDA, then Apple's MPS, else the CPU. Anything else is the user's
choice and is passed on unchanged (``"cpu"``, ``"cuda:1"``), so torch reports a device it does
not know. torch is imported only when a device is chosen: importing this module stays light.
"""

from __future__ import annotations

__all__ = ["choose_device"]


def choose_device(device: str | None = "auto") -> str:
    """The device to run on: ``device`` itself, or for ``"auto"`` / ``None`` CUDA when available,
    else MPS when available, else ``"cpu"``."""
    if device is not None and device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
