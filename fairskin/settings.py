"""Settings, one way for every stage: the stage's frozen config object gets its defaults from the
code, then a settings file (JSON or TOML) overrides them, then what the caller or the command
line gives overrides the file. Unknown keys are refused by name, with the closest known one.

A settings file is either flat (keys are one stage's settings) or has one table per stage, so a
project can keep all of its settings in one file::

    # fairskin.toml
    [label]
    scale = "kinyanjui2020"
    work_side = 256

    [audit]
    n_boot = 2000
    threshold = 0.4

and run ``fairskin label DATA --config fairskin.toml``, ``fairskin audit ... --config
fairskin.toml``. The stages are :data:`STAGES`.

A settings file is data: it may not name code. A value that names a Python object
(``module:Class``, as ``--generator``, ``--estimator`` and the experiment's arms take) or a Python
file (``.py``) is refused naming the key; code references come only from the command line or
from Python (docs/security.md). Relative paths in a file are relative to the file's folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from fairskin.errors import InputError

__all__ = ["STAGES", "read_settings_file", "merge_settings", "config_fields"]

#: the stages a sectioned settings file may hold a table for (the command names)
STAGES = ("label", "balance", "audit", "audit-synthetic", "experiment")

C = TypeVar("C")

#: ``package.module:Object``, the form in which fairskin imports a user's class
_CODE_REF = re.compile(r"^\s*[A-Za-z_][\w.]*:[A-Za-z_][\w.]*\s*$")
_CODE_SUFFIXES = (".py", ".pyc", ".pyw", ".pyz", ".so", ".pth")


def _code_in(value: Any) -> str | None:
    """The first string in ``value`` (nested lists/tables too) that names code, else None."""
    if isinstance(value, str):
        v = value.strip()
        if _CODE_REF.match(v) or v.lower().endswith(_CODE_SUFFIXES):
            return value
        return None
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for v in value:
            found = _code_in(v)
            if found is not None:
                return found
    return None


def _close(name: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(allowed), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def read_settings_file(path: str | Path, *, stage: str, allowed: Iterable[str], option: str = "--config") -> dict[str, Any]:
    """The settings for ``stage`` in the JSON or TOML file at ``path``: its ``[stage]`` table when
    the file has tables named after stages (no table for this stage: no settings), else the whole
    file. Every key must be in ``allowed``; ``option`` names the argument in errors."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{option}: file not found: {path}")
    toml = path.suffix.lower() == ".toml"
    try:
        text = path.read_text(encoding="utf-8")
        if toml:
            import tomllib

            doc = tomllib.loads(text)
        else:
            doc = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{option}: {path} is not valid {'TOML' if toml else 'JSON'}: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{option}: {path} must hold a table of settings, got {type(doc).__name__}")
    sections = [k for k in doc if k in STAGES and isinstance(doc[k], dict)]
    if sections:
        stray = [k for k in doc if k not in sections]
        if stray:
            raise InputError(f"{option}: {path} has tables for stages ({', '.join(sections)}) and also settings "
                             f"outside them ({', '.join(map(repr, stray))}); put every setting in its stage's table "
                             f"(stages: {', '.join(STAGES)}).{_close(stray[0], STAGES)}")
        doc = dict(doc.get(stage, {}))
    allowed = set(allowed)
    where = f"[{stage}] of {path}" if sections else str(path)
    for k in doc:
        if k not in allowed:
            raise InputError(f"{option}: unknown {stage} setting {k!r} in {where}; allowed: "
                             f"{', '.join(sorted(allowed))}.{_close(k, allowed)}")
        code = _code_in(doc[k])
        if code is not None:
            raise InputError(f"{option}: {stage} setting {k!r} in {where} names code ({code!r}); a settings file "
                             "may not name a Python object (module:Class) or a Python file. Give it on the command "
                             f"line (--{k.replace('_', '-')}) or from Python instead")
    return doc


def config_fields(cls) -> tuple[str, ...]:
    """The setting names of a config dataclass (class or instance)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def merge_settings(base: C, *layers: Mapping[str, Any] | None, option: str = "settings") -> C:
    """``base`` (a frozen config dataclass) with each layer's settings applied in turn (later layers
    win); in a layer ``None`` means not given and keys that are not the config's fields are
    refused. Lists become tuples where the field is a tuple, as a JSON or TOML file gives them."""
    names = config_fields(base)
    hints = typing.get_type_hints(type(base))
    changes: dict[str, Any] = {}
    for layer in layers:
        for k, v in (layer or {}).items():
            if k not in names:
                raise InputError(f"{option}: unknown setting {k!r}; allowed: {', '.join(sorted(names))}."
                                 f"{_close(k, names)}")
            if v is None:
                continue
            if isinstance(v, list) and "tuple" in str(hints.get(k, "")).lower():
                v = tuple(v)
            changes[k] = v
    return dataclasses.replace(base, **changes)
