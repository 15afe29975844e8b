"""Balance a data set's skin types: plan per cell, generate conditioned images, gate them by ITA,
write the balanced manifest."""

from fairskin.balance._plan import BalancePlan, PlanConfig, TargetSpec, parse_target, plan_balance

__all__ = ["BalancePlan", "PlanConfig", "TargetSpec", "parse_target", "plan_balance"]
