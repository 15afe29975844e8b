"""fairskin.outputs: the output rule, per-output locks, atomic writes, spreadsheet-safe CSV cells
and interrupts (issue 19, rows 3, 4, 5, 7)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairskin.data import read_csv_table
from fairskin.errors import InputError, Interrupted
from fairskin.outputs import (
    atomic_path, atomic_write, claim_outputs, csv_restore, csv_safe, document_header, interruptible,
    remove_stale_temporaries, to_jsonable, truncate_torn_line, utc_timestamp, write_csv,
)

REPO = Path(__file__).resolve().parents[1]
_HOLDER = """
import sys, time
from fairskin.outputs import claim_outputs
with claim_outputs({"--out": sys.argv[1]}, overwrite=True, kinds={"--out": sys.argv[2]}):
    print("ready", flush=True)
    time.sleep(120)
"""


def holder(path: Path, kind: str = "file") -> subprocess.Popen:
    """Another process that holds ``path`` (as `fairskin label --out path` would) until killed."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), kind], stdout=subprocess.PIPE, env=env, cwd=REPO,
                         text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


# --------------------------------------------------------------------------- CSV cells (row 4)

@pytest.mark.parametrize("cell", ["=1+1", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://x\")",
                                  "'=1", "''=1"])
def test_formula_cells_are_neutralised_and_restored(cell):
    safe = csv_safe(cell)
    assert safe.startswith("'") and safe[1:] == cell
    assert csv_restore(safe) == cell


@pytest.mark.parametrize("cell", ["x.png", "-1.5", "+3", "1e-3", "", "'quoted", "a=b", "images/=x.png"])
def test_harmless_cells_are_unchanged(cell):
    assert csv_safe(cell) == cell and csv_restore(cell) == cell


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_neutralising_round_trips_and_never_starts_a_formula(s):
    safe = csv_safe(s)
    assert csv_restore(safe) == s
    if safe[:1] in ("=", "+", "-", "@", "\t", "\r"):  # left as it is only when it is a plain number
        assert re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", safe)


def test_write_csv_neutralises_and_the_reader_restores(tmp_path):
    df = pd.DataFrame({"image": ["=cmd|' /C calc'!A0.png", "+x.png", "@x.png", "-x.png", "ok.png"],
                       "ita": [-12.5, 3.0, 1.0, 2.0, 4.0]})
    write_csv(df, tmp_path / "t.csv")
    raw = (tmp_path / "t.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in raw[1:]] == ["'=cmd|' /C calc'!A0.png", "'+x.png", "'@x.png", "'-x.png", "ok.png"]
    assert raw[1].endswith(",-12.5")  # numbers are numbers
    back = read_csv_table(tmp_path / "t.csv")[0]
    assert back["image"].tolist() == df["image"].tolist()


# --------------------------------------------------------------------------- the output rule (rows 5, 7)

def test_existing_outputs_are_never_replaced_unasked(tmp_path):
    (tmp_path / "a.json").write_text("mine")
    with pytest.raises(InputError) as e:
        with claim_outputs({"--out": tmp_path / "new.csv", "--json": tmp_path / "a.json"}, overwrite=False):
            pytest.fail("the run must not start")
    assert str(e.value) == (f"--json: {tmp_path / 'a.json'} already exists; pass overwrite=True to replace it, or "
                            "choose another path")
    assert (tmp_path / "a.json").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # nothing left behind
    with claim_outputs({"--json": tmp_path / "a.json"}, overwrite=True) as got:
        atomic_write(got["--json"], "new")
    assert (tmp_path / "a.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_folders_and_unwritable_places_are_refused_before_the_run(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("")
    cases = {tmp_path / "d": f"--out: {tmp_path / 'd'} is a folder; give the path of a file to write",
             tmp_path / "f" / "x.csv": f"--out: cannot write {tmp_path / 'f' / 'x.csv'}: {tmp_path / 'f'} is a file, "
                                       "not a folder"}
    for path, msg in cases.items():
        with pytest.raises(InputError) as e:
            with claim_outputs({"--out": path}, overwrite=True):
                pytest.fail("the run must not start")
        assert str(e.value) == msg
    with pytest.raises(InputError, match=r"^--out: .* is a file; give a folder to write into$"):
        with claim_outputs({"--out": tmp_path / "f"}, overwrite=True, kinds={"--out": "dir"}):
            pass


def _refusal_of_a_read_only_folder(ro):
    try:
        with claim_outputs({"--json": ro / "x.json"}, overwrite=True):
            return "the run started"
    except InputError as e:
        return str(e)


def test_a_read_only_folder_is_refused_before_the_run(tmp_path):
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            msg = _refusal_of_a_read_only_folder(ro)
        finally:
            ro.chmod(0o700)
    else:
        # root may write anywhere: the check runs in a forked child that has dropped to the unprivileged "nobody",
        # in a folder root owns that everyone may read and enter
        import tempfile

        top = Path(tempfile.mkdtemp(prefix="fairskin-ro-"))
        top.chmod(0o755)
        ro = top / "ro"
        ro.mkdir(mode=0o755)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.close(read)
                os.setgid(65534)
                os.setuid(65534)
                os.write(write, _refusal_of_a_read_only_folder(ro).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as f:
            msg = f.read()
        os.waitpid(pid, 0)
        ro.rmdir()
        top.rmdir()
    assert re.match(r"^--json: cannot write into .*ro \(Permission denied\)", msg), msg


def test_missing_folders_are_made_and_removed_again_when_nothing_was_written(tmp_path):
    target = tmp_path / "a" / "b" / "x.json"
    with claim_outputs({"--json": target}, overwrite=False):
        assert target.parent.is_dir()
        atomic_write(target, "{}")
    assert target.read_text() == "{}" and not list(target.parent.glob(".*"))
    with pytest.raises(RuntimeError):
        with claim_outputs({"--json": tmp_path / "c" / "d" / "y.json"}, overwrite=False):
            raise RuntimeError("the run failed before writing")
    assert not (tmp_path / "c").exists()


# --------------------------------------------------------------------------- one run per output (row 3)

def test_a_second_run_on_the_same_output_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "labels.csv"
    p = holder(out)
    try:
        with pytest.raises(InputError) as e:
            with claim_outputs({"--out": out}, overwrite=True):
                pytest.fail("the run must not start")
        assert str(e.value) == (f"--out: {out} is in use by another fairskin run (PID {p.pid}); wait for it to "
                                "finish, or choose another path")
    finally:
        p.kill()
        p.wait()
    # killed (SIGKILL): the kernel dropped its lock; the next run goes ahead
    with claim_outputs({"--out": out}, overwrite=True):
        pass


def test_an_output_folder_is_locked_too(tmp_path):
    p = holder(tmp_path / "balanced", "dir")
    try:
        with pytest.raises(InputError, match=rf"in use by another fairskin run \(PID {p.pid}\)"):
            with claim_outputs({"--out": tmp_path / "balanced"}, overwrite=True, kinds={"--out": "dir"}):
                pass
    finally:
        p.kill()
        p.wait()


def test_claims_nest_within_one_process(tmp_path):
    out = tmp_path / "x.csv"
    with claim_outputs({"--out": out, "--json": tmp_path / "x.json"}, overwrite=False):
        with claim_outputs({"--out": out}, overwrite=False):  # the stage claims what its command claimed
            atomic_write(out, "a")
        atomic_write(tmp_path / "x.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv", "x.json"]


def test_a_rerun_may_replace_what_an_interrupted_run_wrote_and_nothing_else(tmp_path):
    out, js = tmp_path / "x.csv", tmp_path / "x.json"
    js.write_text("the user's")
    with pytest.raises(Interrupted):
        with claim_outputs({"--out": out}, overwrite=False):
            atomic_write(out, "half a run")
            raise Interrupted("stopped")
    with claim_outputs({"--out": out}, overwrite=False):  # no --overwrite needed: the earlier run made it
        atomic_write(out, "done")
    assert out.read_text() == "done"
    with pytest.raises(InputError, match="already exists"):  # now it is a finished result
        with claim_outputs({"--out": out}, overwrite=False):
            pass
    with pytest.raises(InputError, match="already exists"):  # and a file the run did not make is never taken
        with claim_outputs({"--out": tmp_path / "y.csv", "--json": js}, overwrite=False):
            pass


# --------------------------------------------------------------------------- atomic writes

def test_atomic_path_leaves_the_old_file_or_the_new_never_half(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["m.csv"]


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".x.png.{pid}.tmp.png"
    live = tmp_path / f".y.png.{os.getpid()}.tmp.png"
    keep = tmp_path / "x.png"
    for f in (stale, live, keep):
        f.write_text("")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, keep.name])


# --------------------------------------------------------------------------- interrupts (row 1)

def test_interruptible_says_what_was_kept():
    with pytest.raises(Interrupted) as e:
        with interruptible(lambda: "3 of 10 kept in x.partial; run the same command again to resume"):
            raise KeyboardInterrupt
    assert str(e.value) == "3 of 10 kept in x.partial; run the same command again to resume"
    assert e.value.exit_code == 130 and isinstance(e.value, KeyboardInterrupt)
    with pytest.raises(Interrupted) as e:
        with interruptible(lambda: "kept"):
            raise Interrupted(signum=signal.SIGTERM)
    assert str(e.value) == "kept" and e.value.exit_code == 143


def test_two_outputs_of_one_run_may_not_be_the_same_file(tmp_path):
    """Issue 28 row 3: ``--out same.csv --json same.csv`` exited 0 with the labels replaced by the JSON."""
    from fairskin.errors import InputError
    from fairskin.outputs import claim_outputs

    same = tmp_path / "same.csv"
    with pytest.raises(InputError, match=r"--json: .*same.csv is the same file as --out's"):
        with claim_outputs({"--out": same, "--json": tmp_path / "." / "same.csv"}, overwrite=False):
            pass
    same.write_text("mine")
    os.link(same, tmp_path / "hard.csv")
    with pytest.raises(InputError, match="the same file as --out's"):
        with claim_outputs({"--out": same, "--json": tmp_path / "hard.csv"}, overwrite=True):
            pass
    assert same.read_text() == "mine"


def test_label_refuses_out_and_json_naming_one_file(demo_data, tmp_path, capsys):
    from fairskin.cli import main

    same = tmp_path / "same.csv"
    assert main(["label", str(demo_data), "--out", str(same), "--json", str(same), "-q"]) == 2
    assert "is the same file as --out's" in capsys.readouterr().err
    assert not same.exists()


# --------------------------------------------------------------------------- logs and JSON documents

def test_a_torn_last_line_is_dropped_and_whole_lines_are_kept(tmp_path):
    log = tmp_path / "attempts.csv"
    log.write_bytes(b"image,status\na.png,ok\nb.png,o")  # killed while writing b.png's row
    assert truncate_torn_line(log) == len(b"b.png,o")
    assert log.read_bytes() == b"image,status\na.png,ok\n"
    assert truncate_torn_line(log) == 0  # whole lines only: nothing more to drop
    assert log.read_bytes() == b"image,status\na.png,ok\n"


def test_a_log_without_any_newline_is_emptied_and_an_empty_one_left_alone(tmp_path):
    torn, empty = tmp_path / "torn.csv", tmp_path / "empty.csv"
    torn.write_bytes(b"imag")
    empty.write_bytes(b"")
    assert (truncate_torn_line(torn), torn.read_bytes()) == (4, b"")
    assert (truncate_torn_line(empty), empty.read_bytes()) == (0, b"")


def test_the_document_header_has_the_keys_every_json_starts_with():
    from fairskin import __version__

    head = document_header("fairskin.audit/2")
    assert list(head) == ["schema", "fairskin_version", "created"]
    assert head["schema"] == "fairskin.audit/2" and head["fairskin_version"] == __version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", head["created"])
    assert document_header("fairskin.experiment/1", created="2026-01-31T12:00:00Z", version=False) == \
        {"schema": "fairskin.experiment/1", "created": "2026-01-31T12:00:00Z"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", utc_timestamp())


def test_to_jsonable_gives_strict_json_for_numpy_pandas_and_paths():
    import json

    import numpy as np

    doc = {1: np.float32(0.5), "nan": float("nan"), "inf": np.float64("inf"), "n": np.int64(3), "ok": np.bool_(True),
           "na": pd.NA, "path": Path("a/b.png"), "arr": np.array([1.0, np.nan]), "t": (np.int8(1), None)}
    out = to_jsonable(doc)
    assert out == {"1": 0.5, "nan": None, "inf": None, "n": 3, "ok": True, "na": None, "path": "a/b.png",
                   "arr": [1.0, None], "t": [1, None]}
    assert type(out["n"]) is int and type(out["ok"]) is bool
    json.dumps(out, allow_nan=False)  # raises on anything strict JSON cannot hold

