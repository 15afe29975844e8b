"""The arm registry: what each arm of the experiment trains on.

An arm is an :class:`Arm` (a name, what it trains on, and a ``train`` function) registered with
:func:`register_arm`; the experiment looks arms up by name and never branches on one, so a new arm
is one function plus one registration::

    from fairskin.experiment import Arm, register_arm

    def _real_twice(ctx):  # ctx: ArmContext
        return ctx.fit(ctx.run_dir / "model.pt", train_on="real", epochs=2 * ctx.cfg.epochs)

    register_arm(Arm("real_twice", "real images, twice the epochs", _real_twice, needs_synthetic=False))

A variant (:class:`ArmVariant`, :func:`register_variant`) runs every chosen arm a second time with
other training options, as the arm ``ARM`` + its suffix: ``hair_removal`` (DullRazor inpainting in
training and test images) is the built-in one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairskin.errors import InputError
from fairskin.experiment._config import ExperimentConfig
from fairskin.progress import Progress
from fairskin.train import TrainResult, labels_of, train_classifier

__all__ = ["ARMS", "BASELINE", "FAMILIES", "VARIANTS", "Arm", "ArmContext", "ArmVariant", "arm_description",
           "arm_family", "expand_arms",
           "find_arm", "register_arm", "register_variant", "select_ratio"]


@dataclass(frozen=True)
class ArmContext:
    """What an arm's training sees: one run (arm x seed) of the experiment."""

    run_dir: Path  # the run's folder; the model goes to run_dir / "model.pt"
    cfg: ExperimentConfig
    train: pd.DataFrame  # the real training data, column ``split`` = train / val
    test: pd.DataFrame  # the held-out test set (recorded in the model's metadata, never trained on)
    synthetic: pd.DataFrame | None  # the synthetic images (None when no arm needs them)
    options: Mapping[str, Any]  # train_classifier's options for this run (seed, arch, ..., hair_removal)
    progress: Progress  # train_classifier's progress: the run's epoch lines
    say: Callable[[str], None]

    def fit(self, out: Path, **overrides: Any) -> TrainResult:
        """:func:`train_classifier` on the real data with this run's options, ``overrides`` winning
        (e.g. ``synthetic=...``, ``train_on="real"``, ``pretrained=...``)."""
        kw = {"pretrained": self.cfg.pretrained, **self.options, "progress": self.progress, **overrides}
        return train_classifier(self.train, out=out, test=self.test, **kw)

    @property
    def model(self) -> Path:
        return self.run_dir / "model.pt"


@dataclass(frozen=True)
class Arm:
    """One arm: ``train(ctx)`` trains ``ctx.model`` and returns its :class:`TrainResult`."""

    name: str
    description: str  # what it trains on (experiment.json's "arms")
    train: Callable[[ArmContext], TrainResult] = field(repr=False)
    needs_synthetic: bool = True
    #: refuses synthetic images this arm cannot train on (raises InputError), before any run starts
    check: Callable[[pd.DataFrame], None] | None = field(default=None, repr=False)
    #: what kind of fix it is, for the synthesis-vs-cheap-fix comparison: "synthetic", "cheap_fix" (no
    #: generated images) or "other"; None: "synthetic" when it needs synthetic images, else "other"
    family: str | None = None


@dataclass(frozen=True)
class ArmVariant:
    """Every chosen arm run again with ``train_options``, as the arm ``ARM`` + ``suffix``."""

    suffix: str
    description: str  # appended to the arm's description
    train_options: Mapping[str, Any]
    enabled: Callable[[ExperimentConfig], bool] = field(repr=False)


#: arm name -> :class:`Arm`, in the order ``--arms all`` runs them
ARMS: dict[str, Arm] = {}
#: the variants, in the order their runs follow the arms
VARIANTS: list[ArmVariant] = []
BASELINE = "real"


def register_arm(arm: Arm, *, replace: bool = False) -> Arm:
    """Add ``arm`` to :data:`ARMS` (``replace``: over one of the same name)."""
    if not isinstance(arm, Arm):
        raise InputError(f"arm: expected an Arm, got {type(arm).__name__}")
    if arm.name in ARMS and not replace:
        raise InputError(f"arm: an arm named {arm.name!r} is registered already; pass replace=True to replace it")
    if arm.family is not None and arm.family not in FAMILIES[1:]:
        raise InputError(f"arm: family {arm.family!r} of {arm.name!r}; expected one of {', '.join(FAMILIES[1:])}")
    if arm.name in ("all", "") or "+" in arm.name or "/" in arm.name:
        raise InputError(f"arm: {arm.name!r} cannot be an arm's name ('all', empty, or holding '+' or '/')")
    ARMS[arm.name] = arm
    return arm


def register_variant(variant: ArmVariant) -> ArmVariant:
    """Add ``variant`` to :data:`VARIANTS`."""
    if any(v.suffix == variant.suffix for v in VARIANTS):
        raise InputError(f"variant: a variant with suffix {variant.suffix!r} is registered already")
    VARIANTS.append(variant)
    return variant


def expand_arms(arms: Sequence[str], cfg: ExperimentConfig) -> tuple[str, ...]:
    """The runs' arm names: ``arms`` checked (``all``: every registered arm), the baseline first
    when missing, then each enabled variant of every arm."""
    arms = tuple(a.strip() for a in arms if a.strip())
    if len(arms) == 1 and arms[0] == "all":
        arms = tuple(ARMS)
    for a in arms:
        if a not in ARMS:
            import difflib

            close = difflib.get_close_matches(a, list(ARMS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InputError(f"arms: unknown arm {a!r}; expected some of {', '.join(ARMS)} (or 'all').{hint}")
    if BASELINE not in arms:
        arms = (BASELINE, *arms)
    arms = tuple(dict.fromkeys(arms))
    return arms + tuple(a + v.suffix for v in VARIANTS if v.enabled(cfg) for a in arms)


def find_arm(name: str) -> tuple[Arm, tuple[ArmVariant, ...]]:
    """The arm and the variants a run's arm name (``ARM`` + suffixes) stands for."""
    found = []
    for v in reversed(VARIANTS):
        if name.endswith(v.suffix):
            name = name.removesuffix(v.suffix)
            found.insert(0, v)
    if name not in ARMS:
        raise InputError(f"arms: unknown arm {name!r}; expected some of {', '.join(ARMS)}")
    return ARMS[name], tuple(found)


FAMILIES = ("baseline", "synthetic", "cheap_fix", "other")


def arm_family(name: str) -> str:
    """The family of a run's arm name: "baseline" (``real``), the arm's ``family``, else "synthetic" for
    an arm that needs synthetic images and "other"; a variant (``ARM+hair_removal``) is "other"."""
    arm, variants = find_arm(name)
    if variants:
        return "other"
    if arm.name == BASELINE:
        return "baseline"
    return arm.family or ("synthetic" if arm.needs_synthetic else "other")


def arm_description(name: str) -> str:
    arm, variants = find_arm(name)
    return arm.description + "".join(v.description for v in variants)


# ---- the built-in arms ----------------------------------------------------------------------------

def _real(ctx: ArmContext) -> TrainResult:
    return ctx.fit(ctx.model, train_on="real")


def _mixed(real_weight: Callable[[ExperimentConfig], float]) -> Callable[[ArmContext], TrainResult]:
    def train(ctx: ArmContext) -> TrainResult:
        return ctx.fit(ctx.model, synthetic=ctx.synthetic, real_weight=real_weight(ctx.cfg))

    return train


def _ratio(ratio: float) -> Callable[[ArmContext], TrainResult]:
    def train(ctx: ArmContext) -> TrainResult:
        syn = select_ratio(ctx.synthetic, ctx.train[ctx.train["split"] == "train"], ratio, seed=ctx.cfg.split_seed)
        return ctx.fit(ctx.model, synthetic=syn, real_weight=1.0)

    return train


def _pretrain_finetune(ctx: ArmContext) -> TrainResult:
    pre = ctx.fit(ctx.run_dir / "pretrain.pt", synthetic=ctx.synthetic, train_on="synthetic",
                  epochs=ctx.cfg.pretrain_epochs or ctx.cfg.epochs)
    ctx.say(f"    pretrained on {len(ctx.synthetic)} synthetic images (best epoch {pre.best_epoch}); fine-tuning on "
            "real")
    return ctx.fit(ctx.model, train_on="real", pretrained=pre.model_path)


def _both_classes(synthetic: pd.DataFrame) -> None:
    classes = set(labels_of(synthetic, arg="synthetic").tolist())
    if len(classes) < 2:
        only = "malignant" if classes == {1} else "benign"
        raise InputError(f"arms: pretrain_finetune pretrains on the synthetic images alone, but all "
                         f"{len(synthetic)} of them are {only}; give synthetic images of both classes (e.g. "
                         "fairskin balance over every cell) or leave this arm out")


def select_ratio(synthetic: pd.DataFrame, train: pd.DataFrame, ratio: float, *, seed: int) -> pd.DataFrame:
    """``round(ratio * n_real)`` synthetic images per cell (skin-type group x diagnosis) that has synthetic
    images, ``n_real`` being the cell's real training images; chosen with a seeded permutation."""
    from fairskin.experiment._data import fst_groups
    from fairskin.skintone import group_of

    syn_group = np.array([group_of(int(v)) if not pd.isna(v) else "" for v in
                          pd.to_numeric(synthetic.get("fst", pd.Series(pd.NA, index=synthetic.index)),
                                        errors="coerce")], dtype=object)
    real_cells = pd.Series(list(zip(fst_groups(train), train["diagnosis"].astype(str)))).value_counts()
    rng = np.random.default_rng(seed)
    keep = []
    syn_cells = list(zip(syn_group, synthetic["diagnosis"].astype(str)))
    for cell in dict.fromkeys(syn_cells):
        idx = np.flatnonzero([c == cell for c in syn_cells])
        n = int(round(ratio * int(real_cells.get(cell, 0))))
        keep.extend(rng.permutation(idx)[:n].tolist())
    out = synthetic.iloc[sorted(keep)].copy()
    out.attrs = dict(synthetic.attrs)
    return out


register_arm(Arm(BASELINE, "real training images only (the baseline)", _real, needs_synthetic=False))
register_arm(Arm("mixed", "real + every synthetic image, mixed, equal weight", _mixed(lambda cfg: 1.0)))
register_arm(Arm("pretrain_finetune", "pretrain on the synthetic images alone, then fine-tune on the real images",
                 _pretrain_finetune, check=_both_classes))
register_arm(Arm("mixed_weighted", "real + synthetic mixed, each real image weighted real_weight times a synthetic "
                 "one", _mixed(lambda cfg: cfg.real_weight)))
register_arm(Arm("ratio_0.25", "real + 0.25 synthetic per real image in each cell (skin-type group x diagnosis) that "
                 "gets synthetic", _ratio(0.25)))
register_arm(Arm("ratio_0.5", "real + 0.5 synthetic per real image in each cell that gets synthetic", _ratio(0.5)))
register_arm(Arm("ratio_1.0", "real + 1.0 synthetic per real image in each cell that gets synthetic", _ratio(1.0)))

#: an arm trained and tested on DullRazor-inpainted images is named ARM + this (``hair_removal=True``)
HAIR_REMOVAL_SUFFIX = "+hair_removal"
register_variant(ArmVariant(HAIR_REMOVAL_SUFFIX, ", hair inpainted (DullRazor) in training and test images",
                            {"hair_removal": True}, enabled=lambda cfg: cfg.hair_removal))
