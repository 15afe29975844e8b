"""The arm registry and the experiment's settings: a registered arm reaches the runs, the statistics
and experiment.json without any edit to the experiment; settings merge in one order; the step
modules import each other without a circle."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
import pytest

from fairskin.errors import InputError
from fairskin.experiment import (
    ARMS,
    Arm,
    DemoSetup,
    ExperimentConfig,
    ExperimentInputs,
    register_arm,
    resolve_settings,
    run_experiment,
)


@pytest.fixture
def recorded_arm():
    """A new arm, registered for one test: trains like the baseline and records what it was given."""
    seen = []

    def train(ctx):
        seen.append(ctx)
        return ctx.fit(ctx.model, train_on="real")

    arm = register_arm(Arm("real_recorded", "real images, recorded by a test", train, needs_synthetic=False))
    yield arm, seen
    ARMS.pop(arm.name)


def test_a_registered_arm_is_listed_checked_and_run_without_editing_the_experiment(recorded_arm, tmp_path):
    arm, seen = recorded_arm
    res = run_experiment(out=tmp_path / "dry", arms=["all"], seeds=1, dry_run=True)
    assert [r.arm for r in res.runs] == [*ARMS] and res.runs[-1].arm == "real_recorded"
    with pytest.raises(InputError) as e:
        run_experiment(out=tmp_path / "dry", arms=["real_recorde"], dry_run=True)
    assert str(e.value) == (f"arms: unknown arm 'real_recorde'; expected some of {', '.join(ARMS)} (or 'all'). "
                            "Did you mean 'real_recorded'?")

    setup = DemoSetup(n_train=160, n_test=90, size=48, epochs=1, patience=1, n_boot=50, generator="phantom")
    res = run_experiment(out=tmp_path / "exp", arms=["real_recorded"], seeds=1, demo=setup)
    assert len(seen) == 1  # trained once, by its own function
    ctx = seen[0]
    assert ctx.run_dir == tmp_path / "exp" / "runs" / "real_recorded" / "seed-0"
    assert ctx.options["seed"] == 17 and ctx.synthetic is None  # seed 0's training seed; no synthetic needed
    splits = pd.read_csv(tmp_path / "exp" / "splits.csv")
    assert set(ctx.train["image"].astype(str)) == set(splits["image"])
    assert (ctx.run_dir / "model.pt").is_file() and (ctx.run_dir / "done.json").is_file()
    doc = json.loads((tmp_path / "exp" / "experiment.json").read_text())
    assert doc == json.loads(json.dumps(res.to_dict(), default=str))  # the file is the result
    assert doc["arms"] == {"real": ARMS["real"].description, "real_recorded": "real images, recorded by a test"}
    assert [c["candidate"] for c in doc["statistics"]["comparisons"]] == ["real_recorded"]
    assert doc["synthetic"] == {"source": None}  # neither arm needs synthetic images: none generated
    assert not (tmp_path / "exp" / "synthetic").exists()


def test_register_arm_refuses_a_taken_or_reserved_name():
    twin = Arm("mixed", "another mixed", ARMS["mixed"].train)
    with pytest.raises(InputError) as e:
        register_arm(twin)
    assert str(e.value) == "arm: an arm named 'mixed' is registered already; pass replace=True to replace it"
    for bad in ("all", "real+x", ""):
        with pytest.raises(InputError) as e:
            register_arm(Arm(bad, "", ARMS["real"].train))
        assert str(e.value) == f"arm: {bad!r} cannot be an arm's name ('all', empty, or holding '+' or '/')"
    original = ARMS["mixed"]
    try:
        assert register_arm(twin, replace=True) is twin and ARMS["mixed"] is twin
        assert list(ARMS).index("mixed") == 1  # replaced in place: --arms all keeps its order
    finally:
        register_arm(original, replace=True)


def test_the_synthetic_check_of_an_arm_runs_before_training(tmp_path):
    """pretrain_finetune's own check refuses one-class synthetic images (the demo generates malignant
    ones only) before any run is trained."""
    setup = DemoSetup(n_train=160, n_test=90, size=48, epochs=1, patience=1, n_boot=50, generator="phantom")
    with pytest.raises(InputError, match=r"^arms: pretrain_finetune pretrains on the synthetic images alone, but all "
                                         r"\d+ of them are malignant"):
        run_experiment(out=tmp_path, arms=["pretrain_finetune"], seeds=1, demo=setup)
    assert not (tmp_path / "runs").exists()


def test_settings_merge_arguments_over_file_over_defaults(tmp_path):
    (tmp_path / "c.toml").write_text('seeds = 2\nepochs = 3\nreal = "data/train"\n')
    inputs, cfg = resolve_settings(config=tmp_path / "c.toml", seeds=5, lr=None)
    assert (cfg.seeds, cfg.epochs, cfg.lr) == (5, 3, ExperimentConfig.lr)  # None: not given
    assert inputs.real == str(tmp_path / "data" / "train") and not inputs.is_demo  # relative to the file
    assert (cfg.arch, cfg.image_size) == (ExperimentConfig.arch, ExperimentConfig.image_size)
    inputs, cfg = resolve_settings(ExperimentInputs(real="mine"), config=tmp_path / "c.toml")
    assert inputs.real == "mine"  # an argument beats the file for the data too
    _, demo_cfg = resolve_settings(epochs=2)  # no data: the demo's model and arms
    assert (demo_cfg.arch, demo_cfg.arms, demo_cfg.epochs) == (DemoSetup.arch, DemoSetup.arms, 2)
    base = ExperimentConfig(seeds=4, arch="resnet34")
    _, cfg = resolve_settings(config=base, epochs=1)  # a config object is taken as the defaults, as is
    assert cfg == ExperimentConfig(seeds=4, arch="resnet34", epochs=1)
    with pytest.raises(InputError) as e:
        resolve_settings(sede=1)
    assert str(e.value).startswith("settings: unknown setting 'sede'; allowed: ") and str(e.value).endswith(
        "Did you mean 'seeds'?")


def test_run_experiment_takes_a_config_object(tmp_path):
    res = run_experiment(out=tmp_path, config=ExperimentConfig(arms=("mixed",), seeds=2), dry_run=True)
    assert [(r.arm, r.seed) for r in res.runs] == [("real", 0), ("real", 1), ("mixed", 0), ("mixed", 1)]
    assert res.to_dict() == {"runs": [r.to_dict() for r in res.runs]}


def test_every_setting_is_a_cli_option_and_the_cli_merges_the_config_file(tmp_path, capsys):
    from dataclasses import fields

    from fairskin.cli import main

    (tmp_path / "c.json").write_text(json.dumps({"arms": "real,ratio_0.5", "seeds": 3}))
    code = main(["experiment", "--out", str(tmp_path / "o"), "--config", str(tmp_path / "c.json"), "--seeds", "1",
                 "--hair-removal", "--dry-run"])
    assert code == 0
    text = capsys.readouterr().out
    assert "4 runs, 4 to do (dry run: nothing trained)" in text
    assert "todo  ratio_0.5+hair_removal seed 0" in text
    import inspect

    from fairskin.cli.experiment import experiment

    params = set(inspect.signature(experiment).parameters)
    assert {f.name for f in fields(ExperimentConfig)} <= params


def test_the_step_modules_import_each_other_without_a_circle():
    pkg = Path(__import__("fairskin.experiment").experiment.__file__).parent
    edges = {}
    for p in pkg.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fairskin.experiment."):
                deps.add(node.module.rsplit(".", 1)[1])
        edges[p.stem] = deps

    def reaches(a, b, seen=()):
        return any(d == b or (d not in seen and reaches(d, b, (*seen, d))) for d in edges.get(a, ()))

    circles = sorted(m for m in edges if reaches(m, m))
    assert circles == []
    assert len(edges) >= 8 and max(len(p.read_text().splitlines()) for p in pkg.glob("*.py")) < 600
