"""Exceptions shared by every stage."""

__all__ = ["FairskinError", "InputError", "Interrupted", "MissingDependencyError"]


class FairskinError(Exception):
    """Base class for errors fairskin raises on purpose (the CLI prints them without a traceback)."""


class InputError(FairskinError, ValueError):
    """A file, argument or value given by the user is not what was expected.

    The message names the file or argument, the value found and what is allowed.
    """


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
