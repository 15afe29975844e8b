"""Writing results safely, the same way in every stage.

* **Output paths** (:func:`claim_outputs`): every file a run will write, primary (``out``) or
  secondary (``json_path``, ``html`` and the JSON the report writes beside it, a calibrated scale,
  saved predictions), is checked *before the run starts*: an existing file is never replaced
  without ``overwrite``; a directory where a file is expected, a file where a folder is expected,
  or a folder that cannot be written is a clear :class:`~fairskin.errors.InputError`. Missing
  parent folders are created.
* **One run per output** (same function): each claimed output is locked with an exclusive,
  kernel-held lock (``flock``) on a hidden ``.NAME.lock`` beside it (``.fairskin.lock`` inside an
  output folder). A second run is refused with a message naming the first run's PID; a run killed
  with SIGKILL holds nothing (the kernel drops the lock). The lock file of an unfinished run also
  records which of its outputs the run created itself, so rerunning the same command may replace
  those (and only those) without ``overwrite``; a finished run removes its lock files.
* **Atomic writes** (:func:`atomic_path`, :func:`atomic_write`, :func:`write_csv`): a file is
  written under a temporary name in its own folder, fsync'ed, then renamed over the target, so a
  reader (or a crash) sees the old file or the new one, never half of one. Temporaries of a killed
  run are removed when its outputs are claimed again (:func:`remove_stale_temporaries`).
* **CSV cells** (:func:`csv_safe`, :func:`csv_restore`): a text cell that a spreadsheet would run
  as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return; plain
  numbers excepted) is written with a leading ``'`` (OWASP's advice), and fairskin's CSV readers
  remove it again, so the round trip is exact.
* **Append-only logs** (:func:`truncate_torn_line`): a run killed mid-write leaves a log's last
  line without its newline; resuming drops that line (and redoes its row) before appending again.
* **JSON documents** (:func:`to_jsonable`, :func:`document_header`): strict JSON (NaN and inf
  become ``null``), and the same ``schema`` / ``fairskin_version`` / ``created`` keys at the top of
  every document a stage writes.
* **Interrupts** (:func:`interruptible`): Ctrl-C (SIGINT) or SIGTERM inside a long loop becomes
  :class:`~fairskin.errors.Interrupted`, whose message says what was kept and how to resume; the
  command line prints it as one line and exits with 128 + the signal number (130 for Ctrl-C).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Literal

from fairskin.errors import InputError, Interrupted

__all__ = [
    "FORMULA_PREFIXES", "atomic_path", "atomic_write", "claim_outputs", "csv_restore", "csv_safe", "document_header",
    "interruptible", "remove_stale_temporaries", "restore_frame", "safe_frame", "to_jsonable", "truncate_torn_line",
    "utc_timestamp", "write_csv",
]

OutputKind = Literal["file", "dir"]

# --------------------------------------------------------------------------- CSV cells

#: first characters that make a spreadsheet evaluate a cell (OWASP CSV injection)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _needs_quote(s: str) -> bool:
    if not s:
        return False
    if s[0] == "'":  # an escaped-looking cell is escaped again, so that reading back is exact
        return _needs_quote(s[1:])
    return s[0] in FORMULA_PREFIXES and not _NUMBER.fullmatch(s)


def csv_safe(value):
    """``value`` as a spreadsheet-safe CSV cell: text a spreadsheet would run gets a leading ``'``.

    Numbers (also ``-1.5`` written as text) and everything that is not a string are unchanged.
    :func:`csv_restore` undoes it exactly."""
    if isinstance(value, str) and _needs_quote(value):
        return "'" + value
    return value


def csv_restore(value):
    """The cell :func:`csv_safe` was given (removes the leading ``'`` it added)."""
    if isinstance(value, str) and value[:1] == "'" and _needs_quote(value[1:]):
        return value[1:]
    return value


def _text_columns(df):
    import pandas as pd

    return [c for c in df.columns if df[c].dtype == object or isinstance(df[c].dtype, pd.StringDtype)]


def _map_text(df, cell):
    out = df.copy()
    for c in _text_columns(out):
        out[c] = out[c].map(cell)
    out.columns = [cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def safe_frame(df):
    """A copy of a DataFrame whose text cells are :func:`csv_safe`; header names too."""
    return _map_text(df, csv_safe)


def restore_frame(df):
    """Undo :func:`safe_frame` on a frame read from CSV (cells and header names)."""
    return _map_text(df, csv_restore)


# --------------------------------------------------------------------------- atomic writes

_TMP = re.compile(r"^\..+\.(\d+)\.tmp(\.[A-Za-z0-9]+)?$")


def _tmp_name(path: Path) -> Path:
    # the target's suffix stays last, so writers that pick a format by extension (PIL) still do
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error the file
    written there is fsync'ed and renamed over ``path`` (else it is removed)."""
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path: str | os.PathLike, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)
    return path


def write_csv(df, path: str | os.PathLike, **to_csv) -> Path:
    """Write a DataFrame as CSV, atomically, with every text cell spreadsheet-safe (:func:`csv_safe`).

    Keyword arguments go to :meth:`pandas.DataFrame.to_csv` (``index=False`` unless given)."""
    to_csv.setdefault("index", False)
    path = Path(path)
    with atomic_path(path) as tmp:
        safe_frame(df).to_csv(tmp, **to_csv)
    return path


def truncate_torn_line(path: str | os.PathLike) -> int:
    """Drop the last line of the log at ``path`` when it has no newline (a process killed in the
    middle of writing it); the rows before it are whole. Returns how many bytes were dropped (0: the
    log ends with a newline, or is empty). The file is shortened in place: it is an append-only
    log that only the run holding its outputs writes."""
    with open(path, "rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        return len(data) - keep


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, *, name: str | None = None) -> int:
    """Remove the temporaries :func:`atomic_path` left behind in ``folder`` when its process was
    killed (those of the file ``name`` only, when given). A temporary names its writer's PID; one
    whose writer still runs is left alone. Returns how many were removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    for p in folder.iterdir():
        m = _TMP.match(p.name)
        if m and (name is None or p.name.startswith(f".{name}.")) and not _alive(int(m.group(1))) and p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n


# --------------------------------------------------------------------------- output paths and locks

def _lock_file(path: Path, kind: OutputKind, tag: str = "") -> Path:
    return path / f".fairskin{tag}.lock" if kind == "dir" else path.with_name(f".{path.name}{tag}.lock")


def _writable_folder(folder: Path, arg: str, path: Path) -> list[Path]:
    """Create ``folder`` (and its parents) and make sure a file can be created in it. Returns the
    folders it created, deepest first."""
    made = []
    probe_up = folder
    while not probe_up.exists() and probe_up != probe_up.parent:
        made.append(probe_up)
        probe_up = probe_up.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{arg}: cannot write {path}: {folder} is a file, not a folder") from None
    except OSError as exc:
        raise InputError(f"{arg}: cannot create the folder {folder} for {path}: {exc.strerror or exc}") from None
    probe = folder / f".fairskin-write-test.{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InputError(f"{arg}: cannot write into {folder} ({exc.strerror or exc}); choose a writable path") \
            from None
    return made


def _check_one(path: Path, arg: str, kind: OutputKind, overwrite: bool, replaceable: bool) -> list[Path]:
    if kind == "file":
        if path.is_dir():
            raise InputError(f"{arg}: {path} is a folder; give the path of a file to write")
        if (path.exists() or path.is_symlink()) and not overwrite and not replaceable:
            raise InputError(f"{arg}: {path} already exists; pass overwrite=True to replace it, or choose another path")
        return _writable_folder(path.parent if str(path.parent) else Path("."), arg, path)
    else:
        if path.exists() and not path.is_dir():
            raise InputError(f"{arg}: {path} is a file; give a folder to write into")
        return _writable_folder(path, arg, path)


class _Held:
    """A lock this process holds: its open file and how many claims share it."""

    def __init__(self, fd: int, lock: Path, previous: dict):
        self.fd, self.lock, self.count = fd, lock, 1
        self.previous = previous  # the journal an unfinished earlier run left in the lock file


_HELD: dict[str, _Held] = {}
_HELD_GUARD = threading.Lock()


def _read_journal(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 1 << 20).decode("utf-8", errors="replace")
        doc = json.loads(text) if text.strip() else {}
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_journal(fd: int, doc: dict) -> None:
    data = json.dumps(doc).encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)


def _acquire(lock: Path, arg: str, path: Path) -> tuple[_Held, dict]:
    """Lock ``lock`` exclusively (re-entrant within this process). Returns the holder and the
    journal a previous, unfinished run left in the file ({} when none)."""
    key = str(lock.resolve())
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
            return held, held.previous
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks; runs are not serialised
            fcntl = None
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    other = _read_journal(fd).get("pid", "unknown")
                    os.close(fd)
                    raise InputError(f"{arg}: {path} is in use by another fairskin run (PID {other}); wait for it "
                                     "to finish, or choose another path") from None
            try:  # a finished run may have removed the file between our open and our lock: lock the new one
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = _read_journal(fd)
        held = _Held(fd, lock, previous)
        _HELD[key] = held
        return held, previous


def _release(held: _Held, *, remove: bool) -> None:
    """Unlock; with ``remove`` the lock file goes too (else it stays: the journal of a run to finish)."""
    with _HELD_GUARD:
        held.count -= 1
        if held.count > 0:
            return
        _HELD.pop(str(held.lock.resolve()), None)
        if remove:
            with contextlib.suppress(OSError):
                held.lock.unlink()  # still locked: nobody can take it between unlink and close
        os.close(held.fd)


@contextlib.contextmanager
def claim_outputs(outputs: Mapping[str, str | os.PathLike | None], *, overwrite: bool,
                  kinds: Mapping[str, OutputKind] | None = None, lock_tag: str = "") -> Iterator[dict[str, Path]]:
    """Check and lock every output of a run before it starts; hold the locks while it runs.

    ``outputs`` maps the argument that names an output to its path: the library's Python name
    (``"out"``, ``"json_path"``, ``"save_predictions (model.pt)"`` for one of several; the command
    line writes it as its flag, :func:`fairskin.errors.argument_references`), or a command's own
    flag; a path ``None`` is not asked for. ``kinds`` marks folder outputs (``"dir"``: an existing folder is fine,
    the stage decides what it may reuse in it); everything else is a file. The same path named
    twice is refused (one would replace the other). Claims nest: a stage may claim again what its command already claimed.
    ``lock_tag`` names the locks of one of several cooperating processes (``-rank1``): each of
    them holds its own, and two launches of the same job still exclude each other.

    Raises :class:`InputError` (before anything is written) for an existing file without
    ``overwrite``, a folder given for a file (or a file for a folder), an unwritable place, or an
    output another run holds. Yields ``{argument: path}`` of the outputs asked for.
    """
    kinds = dict(kinds or {})
    asked: dict[str, Path] = {}
    seen: dict[object, str] = {}
    for arg, p in outputs.items():
        if p is None or str(p) == "":
            continue
        path = Path(p)
        keys = [str(path.resolve())]
        try:
            st = path.stat()
            keys.append((st.st_dev, st.st_ino))  # a hard link to another output is the same file too
        except OSError:
            pass
        for key in keys:
            if key in seen:
                raise InputError(f"{arg}: {path} is the same file as {seen[key]}'s; two outputs of one run must be "
                                 "different files (the second would replace the first)")
        for key in keys:
            seen[key] = arg
        asked[arg] = path
    if not asked:
        yield {}
        return
    # the first output's lock file carries the journal of the run (which outputs it created)
    first_arg = next(iter(asked))
    first = asked[first_arg]
    made: list[Path] = []  # folders made here: removed again if the run leaves nothing in them
    held: list[_Held] = []
    finished = False
    created: list[str] = []
    try:
        for arg, path in asked.items():  # folders exist before the first lock goes beside its output
            made += _check_one(path, arg, kinds.get(arg, "file"), overwrite=True, replaceable=True)
        h, previous = _acquire(_lock_file(first, kinds.get(first_arg, "file"), lock_tag), first_arg, first)
        held.append(h)
        made_by_previous = set(previous.get("created", [])) if isinstance(previous.get("created"), list) else set()
        for arg, path in list(asked.items())[1:]:
            held.append(_acquire(_lock_file(path, kinds.get(arg, "file"), lock_tag), arg, path)[0])
        for arg, path in asked.items():
            kind = kinds.get(arg, "file")
            key = str(path.resolve())
            _check_one(path, arg, kind, overwrite=overwrite, replaceable=key in made_by_previous)
            if kind == "file":
                remove_stale_temporaries(path.parent, name=path.name)
                if not path.exists() or key in made_by_previous:
                    created.append(key)
        if h.count == 1:  # the outermost claim of this run writes the journal
            _write_journal(h.fd, {"pid": os.getpid(), "created": created})
        yield asked
        finished = True
    finally:
        # an unfinished run's journal stays only if it wrote one of its outputs (a rerun may replace
        # those) or an earlier unfinished run's journal was there
        wrote = any(Path(k).exists() for k in created)
        for i, h in reversed(list(enumerate(held))):
            _release(h, remove=finished or not ((wrote and i == 0) or h.previous))
        if not finished and not wrote:
            for folder in sorted(set(made), key=lambda f: len(f.parts), reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty


# --------------------------------------------------------------------------- interrupts

@contextlib.contextmanager
def interruptible(kept: Callable[[], str]) -> Iterator[None]:
    """Turn Ctrl-C (``KeyboardInterrupt``) or a SIGTERM inside the block into :class:`Interrupted`
    whose message is ``kept()``: what the run has kept and how to resume it (one sentence)."""
    try:
        yield
    except Interrupted as exc:
        if exc.args and exc.args[0]:
            raise
        raise Interrupted(kept(), signum=exc.signum) from None
    except KeyboardInterrupt:
        raise Interrupted(kept(), signum=signal.SIGINT) from None


# --------------------------------------------------------------------------- JSON documents

def utc_timestamp() -> str:
    """Now, in UTC, to the second: ``2026-01-31T12:00:00Z`` (every document's ``created``)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def document_header(schema: str, *, created: str | None = None, version: bool = True) -> dict[str, str]:
    """The keys every JSON document fairskin writes starts with: ``schema`` (``fairskin.NAME/N``),
    ``fairskin_version`` (left out with ``version=False``: the experiment's schema has none) and
    ``created`` (:func:`utc_timestamp` unless given, e.g. the time a result object was made)."""
    from fairskin import __version__

    head = {"schema": schema}
    if version:
        head["fairskin_version"] = __version__
    head["created"] = utc_timestamp() if created is None else created
    return head


def to_jsonable(obj):
    """Plain JSON types: numpy scalars/arrays unwrapped, NaN/inf and ``pandas.NA`` -> None, paths
    -> str (the one JSON-safety helper of every document fairskin writes: strict JSON has no NaN)."""
    import math

    import numpy as np  # here, not at the top: importing fairskin.outputs stays free of numpy

    pd = sys.modules.get("pandas")  # a pandas.NA can only exist once pandas is imported
    if pd is not None and obj is pd.NA:
        return None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj
