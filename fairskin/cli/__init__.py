"""The ``fairskin`` command line.

Each command lives in its own module of this package and registers itself on :data:`app`
through :func:`command`. Command modules parse options, call one public function of the
library with parameters of the same names, and print; they import heavy dependencies
(torch, diffusers) inside the command so that ``fairskin label`` starts without them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import typer
from rich.console import Console

from fairskin.errors import FairskinError

__all__ = ["app", "main", "console", "err_console"]

app = typer.Typer(
    name="fairskin",
    help="Does a dermatology model fail on dark skin, and can synthetic images fix it?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # tracebacks must never dump patient data
)
console = Console()
err_console = Console(stderr=True)

# Modules that define commands, in the order `fairskin --help` lists them. A module that
# does not exist yet (a stage not built) is skipped.
_COMMAND_MODULES = (
    "demo",
    "label",
    "balance",
    "train_conditioning",
    "audit",
    "audit_synthetic",
    "train_classifier",
    "experiment",
    "reader_study",
)


def _register_commands() -> None:
    for name in _COMMAND_MODULES:
        full = f"{__name__}.{name}"
        if importlib.util.find_spec(full) is not None:
            importlib.import_module(full)


def _quiet_model_libraries() -> None:
    """The commands show their own progress: silence the advisory warnings and per-file progress
    bars of diffusers and transformers (errors still show). Environment variables, so that nothing
    is imported here; a user's own settings win."""
    for var, value in (("TRANSFORMERS_VERBOSITY", "error"), ("DIFFUSERS_VERBOSITY", "error"),
                       ("HF_HUB_DISABLE_PROGRESS_BARS", "1")):
        os.environ.setdefault(var, value)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    _register_commands()
    _quiet_model_libraries()
    try:
        app(args=argv, standalone_mode=False)
    except FairskinError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except Exception as exc:  # usage errors: click's, or those of the click that newer typer vendors
        import click

        if isinstance(exc, (click.exceptions.ClickException, typer.TyperException)) and hasattr(exc, "show"):
            exc.show()
            return int(getattr(exc, "exit_code", 2))
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
