"""Does synthetic augmentation close the skin-tone gap? Train arms x seeds, audit each model on the
same held-out set, pool the seeds (two-level bootstrap), and judge each arm against real-only.

Arms are registered (:func:`register_arm`): a new arm is one :class:`Arm` and one registration."""

from fairskin.experiment._arms import (
    ARMS,
    BASELINE,
    VARIANTS,
    Arm,
    ArmContext,
    ArmVariant,
    register_arm,
    arm_family,
    register_variant,
    select_ratio,
)
from fairskin.experiment._cheap_arms import CHEAP_FIXES
from fairskin.experiment._config import (
    DemoSetup,
    ExperimentConfig,
    ExperimentInputs,
    load_config_file,
    resolve_settings,
)
from fairskin.experiment._data import split_real
from fairskin.experiment._generate import (
    ConditionedImageGenerator,
    GenerationRequest,
    ImageGenerator,
    PhantomGenerator,
    experiment_generator,
    generate_synthetic,
)
from fairskin.experiment._result import DataSummary, ExperimentResult, baseline_gap
from fairskin.experiment._run import run_experiment
from fairskin.experiment._runs import Run, plan_runs
from fairskin.experiment._stats import CI_METHOD, arm_statistics
from fairskin.experiment._synthetic import SyntheticImages, plan_requests

__all__ = [
    "ARMS", "CHEAP_FIXES", "Arm", "ArmContext", "ArmVariant", "BASELINE", "CI_METHOD", "ConditionedImageGenerator", "DataSummary",
    "DemoSetup", "ExperimentConfig", "ExperimentInputs", "ExperimentResult", "GenerationRequest", "ImageGenerator",
    "PhantomGenerator", "Run", "SyntheticImages", "VARIANTS", "arm_family", "arm_statistics", "baseline_gap",
    "experiment_generator", "generate_synthetic",
    "load_config_file", "plan_requests", "plan_runs", "register_arm", "register_variant", "resolve_settings",
    "run_experiment", "select_ratio", "split_real",
]
