"""Helpers shared by command modules."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fairskin.errors import InputError
from fairskin.settings import read_settings_file

__all__ = ["fmt_ci", "kv_table", "CONFIG_HELP", "QUIET_HELP", "progress_lines", "settings_file", "file_settings"]

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


@contextmanager
def progress_lines(quiet: bool, stage: str, every: float = 30.0):
    """Yield the function a long command logs its progress with: nothing with ``--quiet``;
    otherwise the console, and when the output is not a terminal (a log file, CI) a heartbeat
    line whenever ``every`` seconds pass without one, so a long step never looks hung."""
    if quiet:
        yield lambda *args, **kwargs: None
        return
    from fairskin.cli import console
    from fairskin.pipeline import heartbeat

    with heartbeat(lambda msg: console.print(msg, highlight=False), None if console.is_terminal else every) as say:
        say(f"[{stage}] started")
        yield say


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
