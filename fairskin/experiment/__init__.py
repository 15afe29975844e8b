"""Does synthetic augmentation close the skin-tone gap? Train arms x seeds, audit each model on the
same held-out set, pool the seeds (two-level bootstrap), and judge each arm against real-only."""

from fairskin.experiment._generate import (
    ConditionedImageGenerator,
    GenerationRequest,
    ImageGenerator,
    PhantomGenerator,
    experiment_generator,
    generate_synthetic,
)
from fairskin.experiment._run import (
    ARMS,
    DemoSetup,
    ExperimentConfig,
    ExperimentResult,
    Run,
    load_config_file,
    plan_requests,
    plan_runs,
    run_experiment,
    select_ratio,
)
from fairskin.experiment._stats import CI_METHOD, arm_statistics

__all__ = [
    "ARMS", "CI_METHOD", "ConditionedImageGenerator", "DemoSetup", "ExperimentConfig", "ExperimentResult",
    "GenerationRequest", "ImageGenerator", "PhantomGenerator", "Run", "arm_statistics", "experiment_generator", "generate_synthetic",
    "load_config_file", "plan_requests", "plan_runs", "run_experiment", "select_ratio",
]
