"""Long commands never go quiet for long when their output is not a terminal (a heartbeat line),
and every long command has --quiet."""

from __future__ import annotations

import time

import pytest

from fairskin.cli import main
from fairskin.pipeline import heartbeat


def test_heartbeat_names_the_running_stage_when_nothing_else_is_said():
    lines = []
    with heartbeat(lines.append, every=0.2) as say:
        say("[3] balance: train the generator")
        time.sleep(0.75)
        say("    done")
    beats = [x for x in lines if "still running" in x]
    assert lines[0] == "[3] balance: train the generator" and lines[-1] == "    done"
    assert 2 <= len(beats) <= 4 and all(x.startswith("    ... step [3] still running (0:00 min") for x in beats)


def test_a_line_resets_the_heartbeat():
    lines = []
    with heartbeat(lines.append, every=0.4) as say:
        for _ in range(6):
            say("[1] working")
            time.sleep(0.1)
    assert not [x for x in lines if "still running" in x]


def test_no_heartbeat_when_turned_off():
    lines = []
    with heartbeat(lines.append, every=None) as say:
        say("[1] x")
        time.sleep(0.1)
    assert lines == ["[1] x"]


@pytest.mark.parametrize("command", [["demo"], ["balance"], ["experiment"], ["train-conditioning"], ["train-ddpm"],
                                     ["train-classifier"], ["reader-study", "analyze"]])
def test_every_long_command_has_quiet(capsys, command):
    assert main([*command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--quiet" in out and "-q" in out
