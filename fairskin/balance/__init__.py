"""Balance a data set's skin types: plan per cell (skin type x diagnosis), generate conditioned
images, keep those the ITA gate accepts, write the balanced manifest.

:func:`generate_gated` is the one generate -> ITA gate -> retry loop (with one provenance record
per attempt, :data:`PROVENANCE_COLUMNS`) that ``balance``, ``experiment`` and its hard-case loop
use with any :class:`fairskin.conditioning.Generator`."""

from fairskin.balance._backend import DEFAULT_GENERATOR, TrainBudget, open_generator
from fairskin.balance._gated import (
    GATE_ESTIMATOR, PROVENANCE_COLUMNS, GateResult, GatedAttempt, GatedRun, GenerateConfig, Slot, gate_estimator,
    gate_image, generate_gated, generate_synthetic, generator_label, slot_seed,
)
from fairskin.balance._plan import BalancePlan, PlanConfig, TargetSpec, parse_target, plan_balance
from fairskin.balance._run import ATTEMPT_COLUMNS, BalanceResult, balance
from fairskin.balance._tones import MIN_KAPPA, EstimatedTypes, check_estimated_types

__all__ = [
    "ATTEMPT_COLUMNS", "DEFAULT_GENERATOR", "GATE_ESTIMATOR", "PROVENANCE_COLUMNS", "BalancePlan", "BalanceResult", "GateResult",
    "GatedAttempt", "GatedRun", "GenerateConfig", "PlanConfig", "Slot", "TargetSpec", "balance", "gate_estimator", "gate_image",
    "generate_gated", "generate_synthetic", "generator_label", "open_generator", "parse_target", "plan_balance",
    "slot_seed", "TrainBudget", "MIN_KAPPA", "EstimatedTypes", "check_estimated_types",
]

from fairskin.notebook import callable_module as _callable_module  # noqa: E402

_callable_module(__name__, balance)  # `fairskin.balance(data, out=..., ...)` is `balance` (the notebook API)
