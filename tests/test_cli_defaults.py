"""The command line and the library default alike (issue 32 item 4): every option of a command
whose name is a field of the stage's frozen config, or a keyword of the function the command
calls, has that field's / keyword's default (or None, which defers to it), read from the typer
command itself. A second literal
that drifts from the library fails here, naming the command, the option and both values."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
import typer.main

from fairskin.cli import _register_commands, app


def _command(path: str):
    _register_commands()  # the commands' modules register on first use
    cmd = typer.main.get_command(app)
    for part in path.split():
        cmd = cmd.commands[part]
    return cmd


def _cli_defaults(path: str) -> dict:
    return {p.name: p.default for p in _command(path).params if p.param_type_name == "option"}


def _library_defaults(source) -> dict:
    if dataclasses.is_dataclass(source):
        return {f.name: (f.default_factory() if f.default is dataclasses.MISSING else f.default)
                for f in dataclasses.fields(source)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
    return {n: p.default for n, p in inspect.signature(source).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _norm(v):
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (tuple, list)):
        return [_norm(x) for x in v]
    return v


def _same(path: str, source, rename: dict | None = None, skip: tuple = ()) -> dict:
    """Assert the command's options match ``source``'s defaults; return the (option -> name) pairs compared."""
    rename = rename or {}
    cli, lib = _cli_defaults(path), _library_defaults(source)
    for opt in rename:
        assert opt in cli, f"fairskin {path} has no option {opt!r} any more: update the rename table"
    pairs = {c: rename.get(c, c) for c in cli if c not in skip and rename.get(c, c) in lib}
    assert pairs, f"fairskin {path}: no option shares a name with {source.__name__}"
    # an option left None defers to the library (the command passes None, or nothing, and the
    # library's own default applies), so it cannot differ; any other value must be the library's
    wrong = {c: (cli[c], lib[n]) for c, n in pairs.items() if cli[c] is not None and _norm(cli[c]) != _norm(lib[n])}
    assert not wrong, f"fairskin {path}: option defaults (CLI, {source.__name__}) differ: {wrong}"
    return pairs


def test_balance_trains_for_a_step_count_by_default_from_python_and_the_cli():
    from fairskin.balance import TrainBudget, balance

    # --steps is inference steps (GenerateConfig's), not the training budget's
    pairs = _same("balance", TrainBudget, rename={"train_steps": "steps", "train_minutes": "max_minutes"},
                  skip=("steps",))
    assert pairs == {"train_steps": "steps", "train_minutes": "max_minutes"}
    cli = _cli_defaults("balance")
    # issue 29: a step budget, no clock, so the model does not depend on how busy the machine is
    assert cli["train_steps"] == TrainBudget().steps > 0 and cli["train_minutes"] is None
    assert inspect.signature(balance).parameters["train_budget"].default == TrainBudget()


def test_balance_options_match_its_configs_and_function():
    from fairskin.balance import GenerateConfig, PlanConfig, balance

    gen = _same("balance", GenerateConfig)
    assert {"mode", "strength", "steps", "guidance", "batch_size", "tolerance", "max_attempts", "seed"} <= set(gen)
    assert set(_same("balance", PlanConfig)) == {"target", "max_per_real"}
    called = _same("balance", balance)
    assert {"generator", "labels", "conditioning", "accept_estimated_types", "overwrite"} <= set(called)


def test_balance_from_python_trains_as_the_cli_does():
    """The training config the library builds for a generator it trains itself: the budget's steps,
    no cap, and the generation seed (what the CLI passed before it read the budget)."""
    from fairskin.balance import GenerateConfig, TrainBudget
    from fairskin.conditioning import DdpmTrainConfig, TrainConfig, generator_entry

    for name, cls in (("stable-diffusion", TrainConfig), ("ddpm", DdpmTrainConfig)):
        cfg = TrainBudget().config(generator_entry(name), seed=GenerateConfig(seed=7).seed)
        assert isinstance(cfg, cls) and (cfg.steps, cfg.max_minutes, cfg.seed) == (TrainBudget.steps, None, 7)


def test_label_and_fit_estimator_match_the_library():
    from fairskin.label import FitDefaults, LabelConfig, fit_estimator, label_dataset

    # hair_removal: the library's None means "LabelConfig's", which the CLI shows
    assert {"out", "workers", "estimator", "scale"} <= set(_same("label", label_dataset, skip=("hair_removal",)))
    assert "hair_removal" in _same("label", LabelConfig)
    rename = {"backbone_components": "n_components"}
    assert set(_same("fit-estimator", FitDefaults, rename=rename)) == {"keep", "workers", "backbone_components"}
    _same("fit-estimator", fit_estimator, rename=rename)


def test_experiment_options_defer_to_its_config():
    """Every setting is None on the command line (resolve_settings fills in ExperimentConfig, the
    demo's or a settings file's value), so none can differ; the demo's generator is DemoSetup's."""
    from fairskin.experiment import DemoSetup, ExperimentConfig

    cli = _cli_defaults("experiment")
    shared = [f.name for f in dataclasses.fields(ExperimentConfig) if f.name in cli]
    assert len(shared) > 10 and {n: cli[n] for n in shared if cli[n] is not None} == {}
    assert _same("experiment", DemoSetup, rename={"demo_generator": "generator"},
                 skip=tuple(shared)) == {"demo_generator": "generator"}


@pytest.mark.parametrize("path, source, rename", [
    ("train-conditioning", "fairskin.conditioning:TrainConfig", {}),
    ("train-ddpm", "fairskin.conditioning:DdpmTrainConfig", {}),
    ("train-classifier", "fairskin.train:TrainConfig", {}),
])
def test_train_commands_match_their_configs(path, source, rename):
    import importlib

    module, name = source.split(":")
    assert len(_same(path, getattr(importlib.import_module(module), name), rename=rename)) >= 3


def test_annotate_and_reader_study_match_the_library():
    from fairskin.annotate import AnnotateAnalyzeConfig, AnnotateConfig, create_annotation
    from fairskin.reader_study import AnalyzeConfig, ServeConfig, StudyConfig, create_study, invite_readers

    _same("annotate create", AnnotateConfig, rename={"size": "image_size"})
    assert "title" in _same("annotate create", create_annotation)
    assert {"annotators", "url"} <= set(_same("annotate invite", invite_readers, rename={"annotators": "readers"}))
    assert {"host", "port"} <= set(_same("annotate serve", ServeConfig))
    _same("annotate analyze", AnnotateAnalyzeConfig)
    _same("reader-study create", StudyConfig, rename={"size": "image_size", "quality": "jpeg_quality",
                                                      "calibration": "n_calibration"})
    assert "title" in _same("reader-study create", create_study)
    assert {"readers", "url"} <= set(_same("reader-study invite", invite_readers))
    assert {"host", "port"} <= set(_same("reader-study serve", ServeConfig))
    assert invite_readers.__kwdefaults__["url"] == ServeConfig().url
    _same("reader-study analyze", AnalyzeConfig)


def test_demo_matches_run_demo_and_the_demo_data():
    from fairskin.data import DemoConfig
    from fairskin.pipeline import run_demo

    assert {"n", "workers", "train_steps"} <= set(_same("demo", run_demo))
    assert set(_same("demo-data", DemoConfig)) == {"n", "size", "seed"}


def test_audit_options_match_its_config_and_function():
    from fairskin.audits.classifier import DEFAULTS, AuditConfig, audit, parse_threshold

    assert DEFAULTS == AuditConfig()
    # --threshold is text (a number, "model" or "ddi:NAME"); the command parses it as the library does
    shared = _same("audit", AuditConfig, skip=("threshold",))
    assert parse_threshold(_cli_defaults("audit")["threshold"]) == parse_threshold(DEFAULTS.threshold)
    assert {"n_boot", "seed", "ci_level", "group_level", "min_group_n", "label_sampling", "fst_source"} <= set(shared)
    # the function's own keywords: inputs and permissions (--label-confusion is None, which the
    # command passes on as the library's default, "auto": the labeller's confusion found beside labels)
    called = _same("audit", audit, skip=tuple(shared))
    assert {"trust_model", "overwrite", "save_predictions"} <= set(called)
    assert inspect.signature(audit).parameters["label_confusion"].default == "auto"


def test_audit_synthetic_options_match_its_config():
    from fairskin.audits.synthetic import SyntheticAuditConfig, audit_synthetic

    shared = _same("audit-synthetic", SyntheticAuditConfig)
    assert {"extractor", "memorisation_threshold", "batch_size"} <= set(shared)
    _same("audit-synthetic", audit_synthetic, skip=tuple(shared))
