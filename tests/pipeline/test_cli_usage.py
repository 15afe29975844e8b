"""Out-of-range and unknown options get click's one-line usage error naming the option, exit code 2,
and no traceback, whichever click typer uses (newer typer vendors its own)."""

from __future__ import annotations

import pytest

from fairskin.cli import main


@pytest.mark.parametrize("argv, message", [
    (["demo", "{tmp}", "--n-test", "3"], "Invalid value for '--n-test': Input should be greater than or equal to 6"),
    (["label", "{tmp}", "--workers", "0"], "Invalid value for '--workers' / '-j'"),
    (["demo", "{tmp}", "--no-such-option"], "No such option: --no-such-option"),
])
def test_usage_errors_name_the_option(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    rc = main([a.format(tmp=out) for a in argv])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert "Traceback" not in err
    assert not out.exists()
