"""One configuration style: defaults < settings file < command line, for every stage, through
``fairskin.settings`` and the CLI's ``--config``."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest

from fairskin.cli import main
from fairskin.data import DemoConfig, write_demo_dataset
from fairskin.errors import InputError
from fairskin.settings import STAGES, merge_settings, read_settings_file, seed_stream, stream_seed


@dataclass(frozen=True)
class _Conf:
    n: int = 3
    bounds: tuple[float, float] = (0.8, 1.25)
    name: str = "a"


def test_flat_and_sectioned_files_give_one_stages_settings(tmp_path):
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"n": 5}))
    assert read_settings_file(flat, stage="audit", allowed={"n"}) == {"n": 5}
    proj = tmp_path / "fairskin.toml"
    proj.write_text('[label]\nwork_side = 96\n\n[audit]\nn_boot = 50\nratio_bounds = [0.9, 1.1]\n')
    assert read_settings_file(proj, stage="label", allowed={"work_side"}) == {"work_side": 96}
    assert read_settings_file(proj, stage="audit", allowed={"n_boot", "ratio_bounds"}) == {
        "n_boot": 50, "ratio_bounds": [0.9, 1.1]}
    assert read_settings_file(proj, stage="balance", allowed=()) == {}  # no [balance] table: no settings
    assert set(STAGES) == {"label", "balance", "audit", "audit-synthetic", "experiment"}


def test_bad_files_are_refused_by_name(tmp_path):
    proj = tmp_path / "fairskin.toml"
    proj.write_text('[audit]\nn_bot = 50\n')
    with pytest.raises(InputError, match=r"^config: unknown audit setting 'n_bot' in \[audit\] of .*fairskin\.toml; "
                                         r"allowed: n_boot, seed\. Did you mean 'n_boot'\?$"):
        read_settings_file(proj, stage="audit", allowed={"n_boot", "seed"})
    proj.write_text('seed = 1\n[audit]\nn_boot = 50\n')
    with pytest.raises(InputError, match=r"has tables for stages \(audit\) and also settings outside them \('seed'\)"):
        read_settings_file(proj, stage="audit", allowed={"n_boot", "seed"})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"^config: .*bad\.json is not valid JSON: "):
        read_settings_file(bad, stage="audit", allowed=())
    with pytest.raises(InputError, match=r"^config: file not found: .*nope\.toml$"):
        read_settings_file(tmp_path / "nope.toml", stage="audit", allowed=())


def test_later_layers_win_and_none_means_not_given():
    got = merge_settings(_Conf(), {"n": 5, "bounds": [0.9, 1.1]}, {"n": None, "name": "b"})
    assert got == _Conf(n=5, bounds=(0.9, 1.1), name="b")  # the file's list becomes the field's tuple
    assert merge_settings(_Conf(), {"n": 5}, {"n": 7}).n == 7
    with pytest.raises(InputError, match=r"^settings: unknown setting 'nn'; allowed: bounds, n, name\. Did you mean "):
        merge_settings(_Conf(), {"nn": 1})


@pytest.fixture
def demo(tmp_path):
    data = tmp_path / "data"
    write_demo_dataset(data, DemoConfig(n=12, size=96, seed=4))
    return data


def test_label_reads_its_table_and_the_command_line_wins(demo, tmp_path):
    cfg = tmp_path / "fairskin.toml"
    # a field of LabelConfig that has no option, an option, and another stage's table
    cfg.write_text('[label]\nwork_side = 128\nhair_removal = true\n\n[audit]\nn_boot = 10\n')
    assert main(["label", str(demo), "--out", str(tmp_path / "a.csv"), "--json", str(tmp_path / "a.json"), "-q",
                 "--config", str(cfg)]) == 0
    conf = json.loads((tmp_path / "a.json").read_text())["config"]
    assert conf["work_side"] == 128 and conf["hair_removal"] is True
    cfg.write_text('[label]\nscale = "kinyanjui_fst"\n')
    assert main(["label", str(demo), "--out", str(tmp_path / "b.csv"), "-q", "--config", str(cfg)]) == 0
    assert set(pd.read_csv(tmp_path / "b.csv")["scale"].dropna()) == {"kinyanjui_fst"}
    assert main(["label", str(demo), "--out", str(tmp_path / "c.csv"), "-q", "--config", str(cfg),
                 "--scale", "chardon"]) == 0
    assert set(pd.read_csv(tmp_path / "c.csv")["scale"].dropna()) == {"chardon"}  # the command line wins


def test_a_file_cannot_grant_overwrite_and_bad_values_name_the_setting(demo, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    out.write_text("mine")
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"overwrite": True}))
    assert main(["label", str(demo), "--out", str(out), "-q", "--config", str(cfg)]) != 0
    assert "unknown label setting 'overwrite'" in capsys.readouterr().err
    assert out.read_text() == "mine"
    cfg.write_text(json.dumps({"workers": "many"}))
    assert main(["label", str(demo), "--out", str(out), "-q", "--config", str(cfg)]) != 0
    err = capsys.readouterr().err
    assert "--config: label setting 'workers' in" in err and "valid integer" in err


def test_balance_dry_run_takes_its_target_and_generate_settings_from_the_file(demo, tmp_path):
    cfg = tmp_path / "fairskin.toml"
    cfg.write_text('[balance]\ntarget = "fst56=0.45"\nmax_per_real = 3.0\nnegative_prompt = "blurry"\n')
    assert main(["balance", str(demo), "--out", str(tmp_path / "bal"), "--dry-run", "--generator", "phantom",
                 "--config", str(cfg)]) == 0
    plan = json.loads((tmp_path / "bal" / "plan.json").read_text())
    assert "fst56=0.45" in json.dumps(plan) and plan["max_per_real"] == 3.0


def test_audit_takes_its_settings_from_a_project_file(tmp_path):
    rows = [{"image": f"i{k}.png", "score": (k % 7) / 7, "label": int(k % 3 == 0), "fst": 1 + k % 6}
            for k in range(120)]
    preds = tmp_path / "p.csv"
    pd.DataFrame(rows).to_csv(preds, index=False)
    cfg = tmp_path / "fairskin.toml"
    cfg.write_text('[audit]\nn_boot = 20\nthreshold = 0.4\nratio_bounds = [0.7, 1.3]\nmin_group_n = 10\n')
    assert main(["audit", str(preds), "--json", str(tmp_path / "a.json"), "-q", "--config", str(cfg)]) == 0
    doc = json.loads((tmp_path / "a.json").read_text())
    meta = doc["meta"]
    assert meta["n_boot"] == 20 and doc["models"][0]["threshold"] == 0.4
    assert meta["ratio_bounds"] == [0.7, 1.3] and meta["min_group_n"] == 10


@pytest.mark.parametrize("key,value", [("generator", "runpy:run_path"), ("generator_dir", "gen/__main__.py"),
                                       ("estimator", "os:system"), ("arms", ["real", "mypkg.arms:Evil"])])
def test_a_settings_file_may_not_name_code(tmp_path, key, value):
    """Issue 28 row 2: ``generator = "runpy:run_path"`` with ``generator_dir = "gen/__main__.py"`` ran the file."""
    cfg = tmp_path / "fairskin.json"
    cfg.write_text(json.dumps({"balance": {key: value}}))
    with pytest.raises(InputError, match=rf"setting '{key}' in \[balance\] of .* names code"):
        read_settings_file(cfg, stage="balance", allowed={key})


def test_balance_refuses_a_settings_file_that_names_a_generator_class_and_runs_nothing(demo, tmp_path, capsys):
    ran = tmp_path / "ran"
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "__main__.py").write_text(f"open({str(ran)!r}, 'w').write('ran')\n")
    cfg = tmp_path / "fairskin.toml"
    cfg.write_text(f'[balance]\ngenerator = "runpy:run_path"\ngenerator_dir = "{gen / "__main__.py"}"\n')
    assert main(["balance", str(demo), "--out", str(tmp_path / "bal"), "--dry-run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "setting 'generator'" in err and "names code" in err
    assert not ran.exists()


def test_relative_paths_in_a_settings_file_are_relative_to_the_file(demo, tmp_path, monkeypatch):
    """Issue 28 row 9: they were resolved against the working folder."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "fairskin.toml").write_text('[label]\njson_path = "summary.json"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["label", str(demo), "--out", str(tmp_path / "l.csv"), "-q",
                 "--config", str(project / "fairskin.toml")]) == 0
    assert (project / "summary.json").is_file() and not (elsewhere / "summary.json").exists()


# --------------------------------------------------------------------------- seed streams

def test_a_numbered_stream_is_the_one_earlier_versions_drew():
    """``seed_stream(seed, 2)`` is numpy's ``default_rng([seed, 2])``, and ``stream_seed`` the
    SeedSequence word the reader study gave each reader, so published draws do not move."""
    import numpy as np

    assert np.array_equal(np.random.default_rng(seed_stream(7, 2)).random(5), np.random.default_rng([7, 2]).random(5))
    old = int(np.random.SeedSequence([3, 11]).generate_state(1, np.uint32)[0])
    assert stream_seed(3, 11) == old


def test_streams_differ_by_name_and_seed_and_repeat_for_the_same_path():
    import numpy as np

    draws = {(s, names): tuple(np.random.default_rng(seed_stream(s, *names)).integers(0, 2**62, 3))
             for s in (0, 1) for names in [(), ("calibration",), ("lpips", 5, "mel"), ("lpips", 5, "bcc"), (1,)]}
    assert len(set(draws.values())) == len(draws)  # ten paths, ten different streams
    assert tuple(np.random.default_rng(seed_stream(1, "lpips", 5, "mel")).integers(0, 2**62, 3)) == \
        draws[(1, ("lpips", 5, "mel"))]
    assert 0 <= stream_seed(0, "x") < 2**32


def test_named_streams_do_not_depend_on_pythons_hash_salt():
    import os
    import subprocess
    import sys

    code = "from fairskin.settings import stream_seed; print(stream_seed(4, 'calibration order', 2))"
    got = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": h}).stdout.strip() for h in ("1", "2")}
    assert got == {str(stream_seed(4, "calibration order", 2))}


@pytest.mark.parametrize("seed, names, message", [
    (-1, (), "seed: expected a whole number >= 0, got -1"),
    (1.5, (), "seed: expected a whole number >= 0, got 1.5"),
    (True, (), "seed: expected a whole number >= 0, got True"),
    (0, (-3,), "seed_stream: a stream name (a str or a whole number): expected a whole number >= 0, got -3"),
    (0, (2.0,), "seed_stream: a stream name (a str or a whole number): expected a whole number >= 0, got 2.0"),
])
def test_bad_seeds_and_stream_names_are_refused_by_name(seed, names, message):
    with pytest.raises(ValueError) as exc:
        seed_stream(seed, *names)
    assert str(exc.value) == message

