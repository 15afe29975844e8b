"""The cheap-fix arms: what a lab would try before generating images, each one registration.

Every arm trains on the real images alone through a training-time hook of
:func:`fairskin.train.train_classifier` (``fairskin.train._fairness`` says how each works):

==================  ====================================================================================
``resample``        balanced resampling: each skin-type group x diagnosis cell drawn about equally often
``reweight``        inverse-frequency loss reweighting over the same cells
``retone_aug``      colour augmentation: the healthy skin re-toned to other skin types, lesion untouched
``ita_jitter``      a plain L*/b* (ITA) jitter of the whole image
``group_dro``       Group DRO over skin-type groups (Sagawa et al. 2020)
==================  ====================================================================================

Their ``family`` is ``"cheap_fix"``: the statistics compare the synthetic arms with the best of them
(``experiment._versus``).
"""

from __future__ import annotations

from typing import Any

from fairskin.experiment._arms import Arm, ArmContext, register_arm
from fairskin.train import TrainResult

__all__ = ["CHEAP_FIXES"]


def _hook(**options: Any):
    def train(ctx: ArmContext) -> TrainResult:
        return ctx.fit(ctx.model, train_on="real", **options)

    return train


#: name -> (description, train_classifier options)
CHEAP_FIXES: dict[str, tuple[str, dict[str, Any]]] = {
    "resample": ("real images, balanced resampling over skin-type group x diagnosis cells (no synthetic images)",
                 {"group_balance": "resample"}),
    "reweight": ("real images, loss weighted by inverse skin-type group x diagnosis frequency (no synthetic images)",
                 {"group_balance": "reweight"}),
    "retone_aug": ("real images, healthy skin re-toned to other skin types as augmentation, lesion untouched (no "
                   "synthetic images)", {"augment": "retone"}),
    "ita_jitter": ("real images, plain L*/b* (ITA) colour jitter of the whole image (no synthetic images)",
                   {"augment": "ita_jitter"}),
    "group_dro": ("real images, Group DRO over skin-type groups (Sagawa et al. 2020; no synthetic images)",
                  {"group_dro": True}),
}

for _name, (_description, _options) in CHEAP_FIXES.items():
    register_arm(Arm(_name, _description, _hook(**_options), needs_synthetic=False, family="cheap_fix"))
