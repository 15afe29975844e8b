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
import signal
import sys
import threading

import typer
from rich.console import Console
from rich.markup import escape

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
    "train_ddpm",
    "audit",
    "audit_synthetic",
    "train_classifier",
    "experiment",
    "reader_study",
    "annotate",
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


def _on_sigterm(signum, _frame):
    from fairskin.errors import Interrupted

    raise Interrupted(signum=signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    The command runs outside typer's own error handling, so that an interrupt reaches this function
    with its message: Ctrl-C (or SIGTERM) prints one line saying what was kept and how to resume and
    exits with 128 + the signal number (130 for Ctrl-C). Errors fairskin raises on purpose, and
    operating-system errors (a full disk, a permission), print one line, never a traceback.
    """
    import typer.main

    from fairskin.errors import InputError, Interrupted

    args = sys.argv[1:] if argv is None else list(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if threading.current_thread() is threading.main_thread() \
        else None
    command = None
    try:
        _register_commands()
        _quiet_model_libraries()
        command = typer.main.get_command(app)
        with command.make_context("fairskin", args) as ctx:
            command.invoke(ctx)
    except Interrupted as exc:
        kept = str(exc) or "nothing was finished; run the same command again"
        err_console.print(f"interrupted: {kept}", highlight=False, markup=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing was finished; run the same command again", highlight=False)
        return 130
    except FairskinError as exc:
        message = str(exc)
        if isinstance(exc, InputError) and command is not None:  # the library names arguments; we, flags
            from fairskin.cli._common import in_flags, invoked_command

            message = in_flags(message, invoked_command(command, args))
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
        return 2
    except OSError as exc:  # the machine's problem (disk full, permissions), not a bug: one line
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        err_console.print(f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(where)}", highlight=False,
                          soft_wrap=True)
        return 1
    except Exception as exc:  # typer's Exit / Abort and usage errors (its vendored click's)
        code = getattr(exc, "exit_code", None)
        if hasattr(exc, "show"):
            exc.show()
            return int(code if code is not None else 2)
        if isinstance(exc, typer.Exit):
            return int(code or 0)
        if isinstance(exc, typer.Abort):
            err_console.print("aborted")
            return 1
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
