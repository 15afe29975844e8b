"""The command line's help: every option of every command says what it does, rich markup eats no
text, and the errors for a wrong architecture or a file that is not a model say what was wrong."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from fairskin.cli import _register_commands, app, main


def _commands():
    """(command path, click command) of every leaf command, sub-commands included."""
    _register_commands()
    out = []

    def walk(cmd, path):
        if hasattr(cmd, "commands"):  # a group (typer's click may be vendored: no isinstance)
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), [])
    return out


COMMANDS = _commands()


def test_there_are_commands_to_check():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"label", "balance", "audit", "train-classifier", "experiment", "reader-study analyze"} <= names


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_help(path, cmd):
    empty = [p.opts[0] for p in cmd.params if type(p).__name__ == "TyperOption" and not (p.help or "").strip()]
    assert not empty, f"fairskin {' '.join(path)}: options without help: {empty}"
    assert (cmd.help or "").strip(), f"fairskin {' '.join(path)} has no description"


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_bracketed_words_survive_rich_markup(path, cmd):
    """A help text's "[label]" must reach the screen (rich takes unescaped lowercase brackets as
    markup and drops them: "Its  table")."""
    res = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"}, terminal_width=400)
    assert res.exit_code == 0, res.output
    shown = re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", res.output))
    for p in cmd.params:
        raw = (p.help or "").replace("\\[", "[")
        for word in re.findall(r"\[[A-Za-z][\w-]*\]", raw):
            assert word in shown, f"fairskin {' '.join(path)} {p.name}: {word} is missing from the help"


def test_a_text_file_is_not_a_model(tmp_path, demo_data, capsys):
    bad = tmp_path / "notes.pt"
    bad.write_text("these are my notes, not a model\n")
    assert main(["audit", str(bad), "--data", str(demo_data), "--n-boot", "10"]) != 0
    err = re.sub(r"\s+", " ", capsys.readouterr().err)
    assert f"{bad}: not a model file fairskin can read. Expected TorchScript" in err
    assert "this is a text file (32 bytes) starting 'these are my notes, not a model'" in err
    assert "Unsupported operand" not in err


def test_a_wrong_arch_fails_before_any_run_in_full(tmp_path, demo_data, capsys):
    assert main(["experiment", "--real", str(demo_data), "--arch", "resnet1800", "--out", str(tmp_path / "e"),
                 "--dry-run"]) != 0
    err = re.sub(r"\s+", " ", capsys.readouterr().err)
    assert ("arch: 'resnet1800' is not a timm model name (e.g. resnet18, resnet50, vgg16, vit_base_patch16_224, "
            "efficientnet_b0, or test_resnet for tests). Did you mean 'resnet18'?") in err
    assert not (tmp_path / "e").exists()
