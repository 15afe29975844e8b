"""Audits: how a classifier does per skin type, and how good synthetic images are.

Four rooms and the model loader they share (docs/architecture.md, "The audit rooms"):
``classifier`` (the classifier audit), ``why`` (saliency, counterfactuals), ``synthetic`` (the
synthetic-image audit), ``stats`` (bootstrap, intervals, registries, engine) and ``models``.
The rest of the package uses two public faces, loaded on first use (so ``import fairskin.audits``
stays cheap)::

    fairskin.audits.classifier   audit_predictions, audit, audit_model, compare_audits, ...
    fairskin.audits.synthetic    audit_synthetic, FID/KID, precision/recall, memorisation, ...
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "classifier": ["AuditConfig", "AuditResult", "Criterion", "audit", "audit_model", "audit_predictions",
                   "compare_audits", "default_criteria", "make_criteria", "load_model", "predict"],
    "synthetic": ["SyntheticAudit", "SyntheticAuditConfig", "audit_synthetic", "ita_fidelity", "load_extractor",
                  "frechet_distance", "kid", "precision_recall", "nearest_real"],
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE) + ["classifier", "synthetic"]


def __getattr__(name: str):
    if name in ("classifier", "synthetic"):
        return importlib.import_module(f"{__name__}.{name}")
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
