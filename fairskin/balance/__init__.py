"""Balance a data set's skin types: plan per cell (skin type x diagnosis), generate conditioned
images, keep those the ITA gate accepts, write the balanced manifest."""

from fairskin.balance._generate import ConditionedGenerator, GateResult, GenerateConfig, gate_image, slot_seed
from fairskin.balance._plan import BalancePlan, PlanConfig, TargetSpec, parse_target, plan_balance
from fairskin.balance._run import ATTEMPT_COLUMNS, BalanceResult, balance

__all__ = [
    "ATTEMPT_COLUMNS", "BalancePlan", "BalanceResult", "ConditionedGenerator", "GateResult", "GenerateConfig",
    "PlanConfig", "TargetSpec", "balance", "gate_image", "parse_target", "plan_balance", "slot_seed",
]
