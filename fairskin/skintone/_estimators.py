"""The skin-tone estimator seam: what an estimator is (:class:`SkinToneEstimator`), what it returns
(:class:`ToneEstimate`), and the registry ``fairskin label --estimator NAME`` picks from.

An estimator turns an sRGB image into one tone on its :class:`~fairskin.skintone.ToneScale`
(a Fitzpatrick type from ITA, a Monk tone from the nearest reference colour, ...) with a
confidence, or into a status and reason when it cannot. Every consumer (``fairskin label``, the
balance gate, ``fairskin audit-synthetic``) asks the registry for one by name, so a new
estimator is one module plus one :func:`register_estimator` call.

The built-in estimators need the healthy-skin mask, which reads images through ``fairskin.data``,
so they live in ``fairskin.label`` and register themselves when it is imported; this module
holds only the contract and the table, and imports nothing above ``skintone``.
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fairskin.errors import InputError
from fairskin.skintone._tones import ToneScale

__all__ = ["ToneEstimate", "SkinToneEstimator", "register_estimator", "get_estimator", "list_estimators",
           "register_estimator_loader"]


@dataclass
class ToneEstimate:
    """One image's tone on an estimator's scale.

    ``tone`` is the category (1-6 for Fitzpatrick, 1-10 for Monk; None when ``status`` is not
    ``"ok"``), ``scale`` the name of the cut-points or swatches used, ``values`` the estimator's
    own measurements in the order they are written to labels.csv (e.g. ``ita``, ``L``, ``b``,
    ``delta_e``). ``est.fst`` / ``est.mst`` read the tone under its scale's column name and
    ``est.ita`` any measurement, so callers written for one estimator read naturally.
    """

    tone_scale: ToneScale
    tone: int | None = None
    confidence: float = math.nan
    status: str = "ok"
    reason: str = ""
    scale: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # only called for names that are not fields: the tone column, then the measurements
        if name.startswith("__"):
            raise AttributeError(name)
        if name == self.tone_scale.column:
            return self.tone
        if name in self.values:
            return self.values[name]
        raise AttributeError(f"{type(self).__name__} on the {self.tone_scale.name} scale has no {name!r}; "
                             f"it has {self.tone_scale.column!r} and {sorted(self.values)}")

    def row(self) -> dict[str, Any]:
        """The labels.csv fields: the tone under its column name, confidence, status, reason,
        scale and the measurements."""
        return {self.tone_scale.column: self.tone, "confidence": self.confidence, "status": self.status,
                "reason": self.reason, "scale": self.scale, **self.values}


@runtime_checkable
class SkinToneEstimator(Protocol):
    """What ``fairskin label`` needs of an estimator.

    ``name``        the registry name (``"ita"``, ``"monk"``)
    ``tone_scale``  the scale its tones are on (:data:`FITZPATRICK`, :data:`MONK`, ...)
    ``columns``     labels.csv's result columns, in order (the tone column, ``confidence``,
                    ``status``, ``reason``, ``scale`` and the names of ``ToneEstimate.values``)
    ``scale_name``  the cut-points or swatches it labels with, written in labels.csv's ``scale``
    ``work_side``   long side in pixels images are read at (None: full size)
    ``settings()``  what decides its output (a resumed run must have the same)
    ``estimate_rgb(rgb, *, valid, lesion_mask)``  8-bit sRGB (H x W x 3) -> :class:`ToneEstimate`;
                    ``valid`` marks pixels that are image (not transparency), ``lesion_mask``
                    the lesion to leave out. Failures are a status and reason, not an exception.
    """

    name: str
    tone_scale: ToneScale
    columns: tuple[str, ...]
    scale_name: str
    work_side: int | None

    def settings(self) -> dict: ...

    def estimate_rgb(self, rgb: np.ndarray, *, valid: np.ndarray | None = None,
                     lesion_mask: np.ndarray | None = None) -> ToneEstimate: ...


_REGISTRY: dict[str, Callable[..., SkinToneEstimator]] = {}


def register_estimator(name: str, factory: Callable[..., SkinToneEstimator], *, replace: bool = False) -> None:
    """Make ``factory(**options)`` available as ``get_estimator(name, **options)`` (and as
    ``fairskin label --estimator name``)."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"estimator name must be letters, digits, '-' or '_', got {name!r}")
    if name in _REGISTRY and not replace and _REGISTRY[name] is not factory:
        raise InputError(f"estimator {name!r} is already registered (pass replace=True to replace it)")
    _REGISTRY[name] = factory


_LOADERS: dict[str, Callable[..., SkinToneEstimator]] = {}


def register_estimator_loader(suffix: str, loader: Callable[..., SkinToneEstimator]) -> None:
    """Make ``get_estimator("path/model<suffix>", **options)`` call ``loader(path, **options)``:
    an estimator saved as a file (``fairskin label --estimator model.json``, the learned estimator)."""
    if not suffix.startswith(".") or not suffix[1:].isalnum():
        raise InputError(f"estimator file suffix must look like '.json', got {suffix!r}")
    _LOADERS[suffix.lower()] = loader


def list_estimators() -> list[str]:
    return sorted(_REGISTRY)


def get_estimator(name: str | SkinToneEstimator, **options) -> SkinToneEstimator:
    """The estimator registered as ``name``, built with ``options``; or a user's class given as
    ``"package.module:Class"`` (called with the same options); an estimator object is returned as is."""
    if not isinstance(name, str):
        if not isinstance(name, SkinToneEstimator):
            raise InputError(f"estimator: {name!r} is not a skin-tone estimator (needs name, tone_scale, "
                             "columns, scale_name, work_side, settings() and estimate_rgb())")
        return name
    if name in _REGISTRY:
        return _REGISTRY[name](**options)
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    if suffix in _LOADERS and ":" not in name:
        return _LOADERS[suffix](name, **options)
    if ":" in name:
        return get_estimator(_import_class(name)(**options))
    close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    known = ", ".join(list_estimators()) or "none (import fairskin.label to register the built-in ones)"
    files = "".join(f", or a saved estimator file (*{s})" for s in sorted(_LOADERS))
    raise InputError(f"estimator: unknown estimator {name!r}; registered estimators are {known}, "
                     f"or give a class as package.module:Class{files}.{hint}")


def _import_class(spec: str):
    module, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(module)
    except ImportError as exc:
        raise InputError(f"estimator={spec!r}: cannot import module {module!r} ({exc})") from None
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise InputError(f"estimator={spec!r}: module {module!r} has no {attr!r}") from None
    return obj
