"""fairskin: does a dermatology model fail on dark skin, and can synthetic images fix it?

Stages, each a subpackage importing only earlier ones::

    fairskin.data        readers -> one manifest schema; safe image loading; phantom demo data
    fairskin.label       healthy-skin mask -> ITA -> Fitzpatrick skin type (FST)
    fairskin.conditioning, fairskin.balance   skin-tone-conditioned generation (extra: generate)
    fairskin.audits      per-skin-type classifier audit and synthetic-image audit
    fairskin.reports     self-contained HTML reports of what the others computed
    fairskin.cli         the ``fairskin`` command, a thin layer over the functions above

In a notebook, three calls at the top level (imported on first use, so ``import fairskin`` stays
light)::

    import fairskin
    labels = fairskin.label("data/", out="labels.csv")          # fairskin.label.label_dataset
    result = fairskin.audit("predictions.csv", labels="labels.csv")   # or a DataFrame of predictions
    result.to_frame()                                           # tidy: model, group, metric, value, low, high, flags
    balanced = fairskin.balance("data/", out="balanced/", labels="labels.csv")   # fairskin.balance.balance
"""

import importlib

__version__ = "0.1.0"

__all__ = ["__version__", "audit", "label", "balance"]


def audit(inputs, **options):
    """Audit per skin type: ``inputs`` is a DataFrame of predictions (columns image, score, label,
    fst; ``fairskin.audits.classifier.audit_predictions``) or model / predictions-CSV path(s)
    (``fairskin.audits.classifier.audit``, the options of ``fairskin audit``). Returns an
    ``AuditResult``: ``to_frame()``, ``to_dict()``, ``to_json(path)``, and a short repr."""
    classifier = importlib.import_module("fairskin.audits.classifier")  # by name: no import edge from the root
    import pandas as pd

    if isinstance(inputs, pd.DataFrame):
        return classifier.audit_predictions(inputs, **options)
    return classifier.audit(inputs, **options)


def __getattr__(name: str):
    if name in ("label", "balance"):  # callable subpackages (fairskin.notebook.callable_module)
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
