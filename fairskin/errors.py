"""Exceptions shared by every stage, and how their messages name arguments.

A library error names the Python argument it is about, as ``name: what is wrong`` at the start of
its message or ``name=...`` / ``name='value'`` anywhere in it (:func:`argument_references` finds
both). A caller that passes its own argument on under another name renames the references once
(:func:`arguments_named`, e.g. the experiment's ``test_labels`` for the audit's ``labels``); the
command line writes them as its options (``--test-labels``) in one place, ``fairskin.cli``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

__all__ = ["FairskinError", "InputError", "Interrupted", "MissingDependencyError", "argument_references",
           "arguments_named", "rename_arguments"]


class FairskinError(Exception):
    """Base class for errors fairskin raises on purpose (the CLI prints them without a traceback)."""


class InputError(FairskinError, ValueError):
    """A file, argument or value given by the user is not what was expected.

    The message names the file or argument, the value found and what is allowed.
    """


def argument_references(names: Iterable[str]) -> re.Pattern:
    """The pattern of a reference to one of the arguments ``names`` in an error message: the
    name at the start of the message followed by ``:`` or ``=``, or anywhere after a space, ``(``
    or ``,`` followed by ``=``. Group ``name`` is the name; ``qualifier`` an optional `` (which
    one)`` between the name and its ``:`` (``save_predictions (model.pt): ...``, one of several
    outputs of one argument); ``after`` what follows (``:``, ``=...``, ``='value'``, ``=True``,
    ``=False``, ``=None`` or a bare ``=``); ``quoted`` a quoted value's text. Only whole names
    match (``--labels`` and ``test_labels`` are not ``labels``)."""
    alt = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True)) or r"(?!x)x"
    return re.compile(rf"(?:^|(?<=[\s(,\[]))(?P<name>{alt})(?![\w-])(?P<qualifier> \([^()\n]*\)(?=:))?"
                      rf"(?P<after>:|=(?:'(?P<quoted>[^'\s]*)'|\.\.\.|(?:True|False|None)\b)?)")


def rename_arguments(message: str, names: Mapping[str, str],
                     write: Callable[[str, re.Match], str] | None = None) -> str:
    """``message`` with each argument reference (:func:`argument_references`) to a key of ``names``
    renamed to its value: ``write(new name, match)`` gives the replacement (default: the new name
    and what followed the old one). A ``name:`` inside the message (prose such as "first image:
    x") is left as it is."""
    pattern = argument_references(names)

    def replace(m: re.Match) -> str:
        if m.start() > 0 and m["after"] == ":":
            return m.group(0)
        new = names[m["name"]]
        return write(new, m) if write else new + (m["qualifier"] or "") + m["after"]

    return pattern.sub(replace, message)


@contextmanager
def arguments_named(names: Mapping[str, str]) -> Iterator[None]:
    """Inside the block, an :class:`InputError` names the caller's arguments: its references to
    the keys of ``names`` are renamed to the values (the same error object is re-raised)."""
    try:
        yield
    except InputError as exc:
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (rename_arguments(exc.args[0], names), *exc.args[1:])
        raise


class MissingDependencyError(FairskinError, ImportError):
    """An optional dependency is needed for this feature."""


def require(module: str, *, extra: str, feature: str):
    """Import an optional module or raise an error that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{feature} requires the {module.split('.')[0]} library, which is not installed. "
            f"Install it with: pip install 'fairskin[{extra}]'"
        ) from exc


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (SIGINT) or SIGTERM. The message says what was kept and how to
    resume; the command line prints it as one line and exits with :attr:`exit_code`."""

    def __init__(self, message: str = "", *, signum: int = 2):
        super().__init__(message)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
