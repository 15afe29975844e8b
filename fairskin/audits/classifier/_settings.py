"""The audit's settings, the way every stage takes them (``docs/settings.md``): the defaults of
:class:`AuditConfig` < a settings file (its ``[audit]`` table) < the caller's arguments, merged by
:func:`fairskin.settings.merge_settings`, then checked once and the threshold parsed once into a
:class:`~fairskin.audits.stats.ThresholdPolicy`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from fairskin.audits.classifier._result import DEFAULTS, AuditConfig
from fairskin.audits.stats import parse_threshold
from fairskin.errors import InputError
from fairskin.settings import config_fields, merge_settings, read_settings_file

__all__ = ["INPUT_KEYS", "SETTABLE", "resolve_config", "load_audit_settings"]

#: the data an ``[audit]`` table may name besides the settings (paths relative to the file's folder)
INPUT_KEYS = ("data", "labels", "masks", "save_predictions", "label_confusion")
#: the command line's own options (what it writes and prints): a settings file read from Python refuses them
_CLI_ONLY = {"json_path": "--json (from Python: result.to_json(path))",
             "html": "--html (from Python: fairskin.reports.render_audit_report(result.to_dict(), path))",
             "quiet": "--quiet (from Python: progress=False)",
             "no_label_confusion": "--no-label-confusion (from Python: label_confusion=None)"}
#: the settings a caller or a file may give (the tone scale is read from the data)
SETTABLE = tuple(f for f in config_fields(AuditConfig) if f != "tone_scale")


def load_audit_settings(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """-> (settings, inputs) of the ``[audit]`` table (or flat file) at ``path``: the settings are
    :data:`SETTABLE` keys, the inputs :data:`INPUT_KEYS` (relative paths made relative to the file)."""
    doc = read_settings_file(path, stage="audit", allowed={*SETTABLE, *INPUT_KEYS, *_CLI_ONLY}, option="config")
    for key, flag in _CLI_ONLY.items():
        if key in doc:
            raise InputError(f"config: {key!r} in {path} is the command line's {flag}; a settings file read from "
                             "Python takes the audit's settings and data only")
    inputs = {k: doc.pop(k) for k in INPUT_KEYS if k in doc}
    for k, v in inputs.items():
        if isinstance(v, str) and v and not Path(v).is_absolute():
            inputs[k] = str(Path(path).parent / v)
    return doc, inputs


def resolve_config(config: AuditConfig | str | Path | None = None, **settings: Any
                   ) -> tuple[AuditConfig, dict[str, Any]]:
    """-> (the checked config, the file's data inputs): ``settings`` (:data:`SETTABLE` names;
    ``None`` means not given) win over ``config`` (a settings file, or an :class:`AuditConfig`
    taken as the defaults), which wins over :data:`DEFAULTS`. ``threshold`` and
    ``target_sensitivity`` become one :class:`ThresholdPolicy` in ``threshold``."""
    for k in settings:
        if k == "tone_scale":
            raise InputError("tone_scale: read from the data (a predictions column 'mst', a labels.csv of Monk "
                             "tones), not a setting")
    merge_settings(DEFAULTS, settings, option="audit")  # an unknown name is refused with the closest known one
    base, file_doc, inputs = DEFAULTS, {}, {}
    if isinstance(config, AuditConfig):
        base = config
    elif config is not None:
        file_doc, inputs = load_audit_settings(config)
    return check_config(merge_settings(base, file_doc, settings, option="settings")), inputs


def check_config(cfg: AuditConfig) -> AuditConfig:
    """``cfg`` with its values checked (a clear error naming the setting) and its threshold parsed."""
    if isinstance(cfg.n_boot, bool) or not isinstance(cfg.n_boot, int) or cfg.n_boot < 1:
        raise InputError(f"n_boot: expected a positive whole number of resamples, got {cfg.n_boot!r}")
    if not 0 < cfg.ci_level < 1:
        raise InputError(f"ci_level: expected a value in (0, 1), got {cfg.ci_level!r}")
    if cfg.label_sampling not in ("fixed", "cohort"):
        raise InputError(f"label_sampling: expected 'fixed' (malignant count per type chosen by design) or 'cohort' "
                         f"(labels came with the rows), got {cfg.label_sampling!r}")
    for key, allowed in (("fst_source", ("auto", "human", "estimated")), ("group_level", ("auto", "type", "group")),
                         ("scores", ("probabilities", "logits"))):
        if getattr(cfg, key) not in allowed:
            raise InputError(f"{key}: expected {', '.join(map(repr, allowed[:-1]))} or {allowed[-1]!r}, got "
                             f"{getattr(cfg, key)!r}")
    bounds = tuple(cfg.ratio_bounds) if isinstance(cfg.ratio_bounds, (list, tuple)) else ()
    if len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds) or \
            not 0 < bounds[0] < 1 < bounds[1]:
        raise InputError(f"ratio_bounds: expected (low < 1 < high), got {cfg.ratio_bounds!r}")
    tuples = {k: tuple(getattr(cfg, k)) for k in ("class_names", "mean", "std")
              if isinstance(getattr(cfg, k), list)}
    return replace(cfg, threshold=parse_threshold(cfg.threshold, cfg.target_sensitivity),
                   ratio_bounds=(float(bounds[0]), float(bounds[1])), **tuples)
