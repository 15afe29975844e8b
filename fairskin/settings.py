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

A stage's ``seed`` is the one number a user sets; every random draw derived from it comes from
:func:`seed_stream` (or :func:`stream_seed` where an API takes an int), keyed by what the draw is
for, so two draws never share a stream by accident (``seed + 1`` of one is ``seed`` of another).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from fairskin.errors import InputError

__all__ = ["STAGES", "read_settings_file", "merge_settings", "config_fields", "seed_stream", "stream_seed"]

#: the stages a sectioned settings file may hold a table for (the command names)
STAGES = ("label", "balance", "audit", "audit-synthetic", "experiment")

C = TypeVar("C")

#: ``package.module:Object``, the form in which fairskin imports a user's class
_CODE_REF = re.compile(r"^\s*[A-Za-z_][\w.]*:[A-Za-z_][\w.]*\s*$")
_CODE_SUFFIXES = (".py", ".pyc", ".pyw", ".pyz", ".so", ".pth")
#: values that look like ``module:Object`` but are data: a threshold ``ddi:NAME`` names DDI's
#: published threshold of a model (:data:`fairskin.audits.classifier.DDI_THRESHOLDS`), not code
_DATA_PREFIXES = ("ddi:",)


def _code_in(value: Any) -> str | None:
    """The first string in ``value`` (nested lists/tables too) that names code, else None."""
    if isinstance(value, str):
        v = value.strip()
        if v.lower().startswith(_DATA_PREFIXES):
            return None
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


def read_settings_file(path: str | Path, *, stage: str, allowed: Iterable[str], option: str = "config") -> dict[str, Any]:
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
                             f"line ({k}=...) or from Python instead")
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


def _whole(x, what: str) -> int:
    if isinstance(x, bool) or not hasattr(x, "__index__") or x.__index__() < 0:
        raise ValueError(f"{what}: expected a whole number >= 0, got {x!r}")
    return x.__index__()


def _stream_key(name: str | int) -> int:
    if isinstance(name, str):  # SHA-256, not hash(): Python salts str hashes per process
        return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")
    return _whole(name, "seed_stream: a stream name (a str or a whole number)")


def seed_stream(seed: int, *names: str | int):
    """The random stream ``names`` of a run seeded ``seed``: a :class:`numpy.random.SeedSequence`
    (``np.random.default_rng(seed_stream(seed, "calibration"))``). Each name path gives its own
    stream, the same on every machine and Python; a string is keyed by its SHA-256, a whole number
    by itself, so ``seed_stream(seed, 2)`` is the stream ``default_rng([seed, 2])`` drew."""
    import numpy as np  # here: importing fairskin.settings stays free of numpy

    return np.random.SeedSequence([_whole(seed, "seed"), *(_stream_key(n) for n in names)])


def stream_seed(seed: int, *names: str | int) -> int:
    """:func:`seed_stream` as one int in [0, 2**32), for APIs that take a seed number
    (``torch.Generator.manual_seed``, a config's ``seed``)."""
    import numpy as np

    return int(seed_stream(seed, *names).generate_state(1, np.uint32)[0])
