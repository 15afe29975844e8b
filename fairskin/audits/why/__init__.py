"""The why room: where a classifier looks per skin type (saliency over lesion, healthy skin and
background) and what re-toning the healthy skin does to its score (counterfactuals), with
per-unit statistics from the ``stats`` room. It explains a model the ``models`` loader loaded.
"""

from fairskin.audits.why._counterfactual import CounterfactualConfig, retone_many
from fairskin.audits.why._explain import explain_model
from fairskin.audits.why._saliency import import_cam

__all__ = ["CounterfactualConfig", "explain_model", "import_cam", "retone_many"]
