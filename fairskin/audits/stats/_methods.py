"""The interval methods a :class:`._registry.GroupMetric` can name, looked up by name.

Each entry pairs the function that makes a group metric's interval with its description and
reference (the description is what the audit JSON writes to ``meta.ci_methods``). The
statistical functions themselves live in :mod:`._intervals`; an entry here adapts one of them to
a metric of one group (:class:`IntervalCase`), so a new method is one function plus one
:func:`register_interval` call, and any metric whose ``interval`` names it uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fairskin.audits.stats._intervals import METHODS

__all__ = ["IntervalCase", "IntervalMethod", "INTERVALS", "register_interval", "interval_method"]


@dataclass(frozen=True)
class IntervalCase:
    """One metric of one group of one model, as an interval method sees it."""

    eng: Any  # the audit's :class:`._engine.Engine` (counts, clusters, DeLong variances, other metrics)
    model: str
    key: tuple  # (level, group)
    metric: str
    level: float  # the confidence level

    @property
    def spec(self):
        from fairskin.audits.stats._registry import GROUP_METRICS

        return GROUP_METRICS[self.metric]

    @property
    def value(self) -> float:
        return self.eng.values[self.model][self.key][self.metric]

    @property
    def samples(self) -> np.ndarray:
        """The metric's bootstrap samples ``(B,)``."""
        return self.eng.samples[self.model][self.key][self.metric]

    @property
    def counts(self) -> dict[str, int]:
        """The group's counts at the threshold (names of :data:`._registry.COUNTS`)."""
        return self.eng.counts[self.model][self.key]

    def of(self, metric: str) -> "IntervalCase":
        """The same group's case for another metric (a method built from its components' intervals)."""
        return IntervalCase(self.eng, self.model, self.key, metric, self.level)


#: what a method returns: (low, high), or (low, high, the method actually used) when it gives way to
#: another on some rows (Wilson on an effective size for clustered rows, ...)
Result = tuple


@dataclass(frozen=True)
class IntervalMethod:
    name: str
    compute: Callable[[IntervalCase], Result]
    description: str
    reference: str | None = None


#: method name -> its function, description and reference
INTERVALS: dict[str, IntervalMethod] = {}


def register_interval(name: str, compute: Callable[[IntervalCase], Result], description: str | None = None,
                      reference: str | None = None, *, replace: bool = False) -> IntervalMethod:
    """Make ``name`` an interval method a metric can name. ``compute(case)`` returns ``(low,
    high)`` or ``(low, high, method_used)``; ``description`` (with its ``reference``) is written
    to the audit JSON's ``meta.ci_methods``; a built-in's description is :data:`._intervals.METHODS`'s."""
    if name in INTERVALS and not replace:
        raise ValueError(f"register_interval: method {name!r} is already registered (pass replace=True)")
    if description is None:
        if name not in METHODS:
            raise ValueError(f"register_interval: method {name!r} needs a description")
        description = METHODS[name]
    elif reference and reference not in description:
        description = f"{description} ({reference})"
    METHODS[name] = description  # meta.ci_methods names every registered method
    INTERVALS[name] = IntervalMethod(name, compute, description, reference)
    return INTERVALS[name]


def interval_method(name: str, description: str | None = None, reference: str | None = None):
    """Decorator form of :func:`register_interval`."""
    def wrap(fn):
        register_interval(name, fn, description, reference)
        return fn
    return wrap
