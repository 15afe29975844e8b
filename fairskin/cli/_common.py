"""Helpers shared by command modules."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fairskin.errors import InputError, rename_arguments
from fairskin.progress import ProgressEvent, heartbeat
from fairskin.settings import read_settings_file

__all__ = ["fmt_ci", "kv_table", "CONFIG_HELP", "QUIET_HELP", "ProgressView", "progress_view", "command_flags", "flag_message", "in_flags", "negative_flags", "invoked_command", "settings_file", "file_settings"]

#: the help of every long command's --quiet
QUIET_HELP = "No progress bar, progress lines or heartbeat (results and warnings are still printed)."

#: the help of every command's --config
CONFIG_HELP = ("JSON or TOML settings file: flat, or one [STAGE] table per command (docs/settings.md); keys are "
               "the options' names with underscores. Options given on the command line win.")
#: options a settings file may not set: the file itself, and the two permissions only the command
#: line gives (to replace a user's files; to unpickle a model file, which runs its code)
_NOT_FROM_FILE = ("config", "overwrite", "trust_model")
_META_KEY = "fairskin.settings"


def settings_file(stage: str, *, extra: Iterable[str] = ()):
    """Decorator of a command with a ``ctx: typer.Context`` argument named ``ctx`` and a ``config`` option:
    before the command runs, every option left at its default takes the value the settings file
    gives it (``stage``'s table of the file given as ``--config``), so command line > file >
    defaults; the file's settings named in ``extra`` (a config object's fields that have no
    option) are :func:`file_settings`."""
    extra = tuple(extra)

    def decorate(command):
        @functools.wraps(command)
        def run(**kwargs):
            path = kwargs.get("config")
            if path is not None:
                ctx = kwargs["ctx"]
                kwargs, rest = _merge(ctx, stage, Path(path), kwargs, extra, command)
                ctx.meta[_META_KEY] = rest
            return command(**kwargs)

        return run

    return decorate


class ProgressView:
    """How the command line draws a library's progress (:mod:`fairskin.progress`), the one place
    that does: on a terminal a rich bar per stage (a finished stage's bar goes), with each line
    event printed above the bars; otherwise (a log file, CI) each line event as a line, and a
    count line whenever ``every`` seconds passed since the last line. ``say`` prints a line of the
    command's own. Quiet (``say=None``): nothing."""

    def __init__(self, say=None, *, bar=None, every: float | None = None):
        self._say, self._bar, self._every = say, bar, every
        self._tasks: dict[str, Any] = {}
        self._last = time.monotonic()

    def say(self, msg, *args, **kwargs) -> None:
        if self._say is not None:
            self._last = time.monotonic()
            self._say(msg, *args, **kwargs)

    def __call__(self, event: ProgressEvent) -> None:
        if self._say is None:
            return
        if event.is_line:
            self.say(event.message)
        elif self._bar is not None:
            desc = f"{event.stage} ({event.message})" if event.message else event.stage
            task = self._tasks.get(event.stage)
            if task is None:
                task = self._tasks[event.stage] = self._bar.add_task(desc, total=event.total)
            self._bar.update(task, completed=event.done, total=event.total, description=desc)
            if event.total is not None and event.done >= event.total:
                self._bar.remove_task(self._tasks.pop(event.stage))
        elif self._every is not None and time.monotonic() - self._last >= self._every:
            self.say(f"    {event}")


@contextmanager
def progress_view(quiet: bool, stage: str, *, announce: bool = True,
                  every: float | None = 30.0) -> Iterator[ProgressView]:
    """Yield the :class:`ProgressView` a command passes as the library's ``progress`` (and prints
    its own progress lines with, ``view.say``): nothing with ``--quiet``; otherwise the console,
    with ``[stage] started`` first when ``announce``, and, when the output is not a terminal, a
    heartbeat line (:func:`fairskin.progress.heartbeat`) whenever ``every`` seconds pass without a
    line, so a long step never looks hung. ``every=None``: no heartbeat and no count lines (the
    caller has a heartbeat of its own, as the demo does)."""
    if quiet:
        yield ProgressView()
        return
    from fairskin.cli import console

    with heartbeat(lambda msg: console.print(msg, highlight=False), None if console.is_terminal else every,
                   stage=stage) as say:
        if announce:
            say(f"[{stage}] started")
        if not console.is_terminal:
            yield ProgressView(say, every=every)
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            yield ProgressView(say, bar=bar)


#: library arguments that a command's option calls by another name (library name -> the option's
#: parameter name); every other argument is named as the command's own parameter of that name
_ARGUMENT_ALIASES = {"confusion_path": "confusion", "calibrated_scale_path": "calibrated_scale",
                     "label_confusion_path": "label_confusion",
                     "format": "data_format",  # the data readers' format: audit's and annotate's --format
                     "generator": "generator_name"}  # the generator registry's name: experiment's --generator


def command_flags(command) -> dict[str, str]:
    """How ``command`` (a click command) names each Python argument a library error may name: an
    option's first long flag (``fst_source`` -> ``--fst-source``), a positional's metavar
    (``data`` -> ``DATA``), and the library names of :data:`_ARGUMENT_ALIASES`."""
    flags: dict[str, str] = {}
    for p in command.params:
        if not p.name:
            continue
        if p.param_type_name == "option":
            longs = [o for o in p.opts if o.startswith("--")]
            if longs:
                flags[p.name] = longs[0]
        elif p.param_type_name == "argument":
            flags[p.name] = (getattr(p, "metavar", None) or p.name).upper()
    for lib, cli in _ARGUMENT_ALIASES.items():
        if cli in flags:
            flags.setdefault(lib, flags[cli])
    return flags


def invoked_command(root, args: list[str]):
    """The leaf command ``args`` run under the click group ``root`` (``reader-study create``'s
    command for ``["reader-study", "create", ...]``); ``root`` itself when none is named."""
    cmd, rest = root, list(args)
    while hasattr(cmd, "commands"):  # a group (typer's click may be vendored: no isinstance)
        name = next((a for a in rest if not a.startswith("-")), None)
        sub = cmd.commands.get(name) if name else None
        if sub is None:
            break
        cmd, rest = sub, rest[rest.index(name) + 1:]
    return cmd


def negative_flags(command) -> dict[str, str]:
    """The flag that turns each of ``command``'s arguments off, for a library error that says
    ``name=False`` or ``name=None``: a boolean option's second flag (``tone`` -> ``--no-tone``),
    or the option ``no_NAME`` where the command has one (``label_confusion`` ->
    ``--no-label-confusion``)."""
    negatives: dict[str, str] = {}
    for p in command.params:
        if p.param_type_name != "option" or not p.name:
            continue
        seconds = [o for o in getattr(p, "secondary_opts", ()) if o.startswith("--")]
        if seconds:
            negatives[p.name] = seconds[0]
        longs = [o for o in p.opts if o.startswith("--no-")]
        if p.name.startswith("no_") and longs:
            negatives.setdefault(p.name[3:], longs[0])
    for lib, cli in _ARGUMENT_ALIASES.items():
        if cli in negatives:
            negatives.setdefault(lib, negatives[cli])
    return negatives


def flag_message(message: str, flags: dict[str, str], negatives: dict[str, str] | None = None) -> str:
    """A library error's message as the command line says it: each argument it names
    (:func:`fairskin.errors.argument_references`) written as the command's flag:
    ``fst_source='human': ...`` -> ``--fst-source human: ...``, ``(labels=...)`` -> ``(--labels ...)``,
    ``out: ...`` -> ``--out: ...``, ``overwrite=True`` -> ``--overwrite``, and ``tone=False`` or
    ``label_confusion=None`` -> the flag ``negatives`` gives (:func:`negative_flags`; without one
    the Python words stay)."""
    negatives = negatives or {}

    def write(flag: str, m) -> str:
        after, qualifier = m["after"], m["qualifier"] or ""
        if after == ":":
            return flag + qualifier + ":"
        if m["quoted"] is not None:
            return f"{flag} {m['quoted']}"
        if after == "=True":
            return flag
        if after in ("=False", "=None"):
            return negatives.get(m["name"], m.group(0))
        return f"{flag} ..." if after == "=..." else flag + " "

    return rename_arguments(message, flags, write)


def in_flags(message: str, command) -> str:
    """``message`` of the library (an error, a note it leaves in a result) as ``command`` (a click
    command) says it: its arguments written as the command's flags (:func:`flag_message`)."""
    return flag_message(message, command_flags(command), negative_flags(command))


def file_settings(ctx: typer.Context) -> dict[str, Any]:
    """The running command's settings from its ``--config`` file that are not options."""
    return dict(ctx.meta.get(_META_KEY, {}))


def _merge(ctx: typer.Context, stage: str, path: Path, given: dict[str, Any], extra: tuple[str, ...], command):
    import typing

    hints = typing.get_type_hints(command)
    options = {p.name: p for p in ctx.command.params
               if p.param_type_name == "option" and p.name not in _NOT_FROM_FILE}
    doc = read_settings_file(path, stage=stage, allowed={*options, *extra})
    merged, rest = dict(given), {}
    for key, value in doc.items():
        if key not in options:
            rest[key] = value
            continue
        if ctx.get_parameter_source(key).name not in ("DEFAULT", "DEFAULT_MAP"):
            continue  # given on the command line (or its environment variable): it wins
        param = options[key]
        if isinstance(value, list) and not param.multiple and param.nargs == 1:
            value = ",".join(map(str, value))  # a TOML/JSON list for a comma-separated option
        if isinstance(value, str) and value and Path in (hints.get(key), *typing.get_args(hints.get(key))):
            # relative to the settings file, not the working folder (before typer makes it a Path)
            value = value if Path(value).is_absolute() else str(path.parent / value)
        try:
            value = param.process_value(ctx, value)
        except typer.BadParameter as exc:
            raise InputError(f"--config: {stage} setting {key!r} in {path}: {exc.message}") from None
        if isinstance(value, str) and Path in (hints.get(key), *typing.get_args(hints.get(key))):
            value = Path(value)  # as typer converts a path option's value
        merged[key] = value
    return merged, rest


def fmt_ci(value, ci, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    s = f"{value:.{digits}f}"
    if ci:
        s += f" ({ci[0]:.{digits}f}-{ci[1]:.{digits}f})"
    return s


def kv_table(title: str, rows: list[tuple[str, str]]) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows:
        t.add_row(k, v)
    return t
