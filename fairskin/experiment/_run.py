"""``fairskin experiment``: does synthetic augmentation close the skin-tone gap?

Reads top to bottom: fix one split (train / val by patient; the held-out test set apart), get the
synthetic images (a manifest, or generated here), plan the runs (arm x seed), train and audit each
run that is not finished yet, pool the seeds, compare every arm with ``real`` and give the verdict.

Output folder ``OUT``::

    experiment.json        settings, data summary, runs, per-arm metrics with CIs, verdicts
    splits.csv             image, split (train / val) of the real training data
    test_skipped.csv       test rows left out of the statistics (no skin type, unusable image) and why
    synthetic/             synthetic images generated here (and their manifest.csv)
    runs/ARM/seed-K/       model.pt (+ model.pt.json: loads in `fairskin audit`), predictions.csv,
                           audit.json (the audit of this run alone), done.json (written last)
    rounds/                the hard-case loop (``rounds > 0``)

Resuming: a run whose ``done.json`` carries the same settings fingerprint is not redone; a run
made with other settings is refused unless ``overwrite=True``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from fairskin.data import read_csv_table
from fairskin.errors import InputError
from fairskin.outputs import atomic_write, claim_outputs, interruptible, write_csv
from fairskin.train._data import labels_of, read_manifest, split_manifest
from fairskin.train._train import TINY_ARCH, is_synthetic, train_classifier

__all__ = ["ARMS", "ExperimentConfig", "DemoSetup", "ExperimentResult", "Run", "plan_runs", "run_experiment",
           "load_config_file"]

SCHEMA = "fairskin.experiment/1"

#: arm name -> what it trains on
ARMS: dict[str, str] = {
    "real": "real training images only (the baseline)",
    "mixed": "real + every synthetic image, mixed, equal weight",
    "pretrain_finetune": "pretrain on the synthetic images alone, then fine-tune on the real images",
    "mixed_weighted": "real + synthetic mixed, each real image weighted real_weight times a synthetic one",
    "ratio_0.25": "real + 0.25 synthetic per real image in each cell (skin-type group x diagnosis) that gets synthetic",
    "ratio_0.5": "real + 0.5 synthetic per real image in each cell that gets synthetic",
    "ratio_1.0": "real + 1.0 synthetic per real image in each cell that gets synthetic",
}
BASELINE = "real"
#: an arm trained and tested on DullRazor-inpainted images is named ARM + this (``hair_removal=True``)
HAIR_REMOVAL_SUFFIX = "+hair_removal"


@dataclass(frozen=True)
class ExperimentConfig:
    """Defaults of ``fairskin experiment`` (the CLI and config files use these names)."""

    arms: tuple[str, ...] = ("real", "mixed", "pretrain_finetune", "mixed_weighted", "ratio_0.25", "ratio_0.5",
                             "ratio_1.0")
    seeds: int = 3
    arch: str = "resnet18"
    pretrained: str | None = None
    image_size: int = 224
    epochs: int = 30
    pretrain_epochs: int | None = None  # synthetic-only phase of pretrain_finetune; None: epochs
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 5
    balance: str = "class_weights"
    real_weight: float = 2.0  # mixed_weighted arm
    val_fraction: float = 0.2
    test_fraction: float = 0.2  # only when no test set is given: held out from the real data by patient
    split_seed: int = 0
    n_boot: int = 1000
    threshold: float = 0.5
    min_gain: float = 0.10
    max_drop: float = 0.02
    rounds: int = 0  # hard-case loop rounds
    per_round: int = 32  # images generated per hard-case round (and per untargeted round)
    num_workers: int = 0
    device: str = "auto"
    #: the test set's skin types: its human labels, or ITA estimates from test_labels (fairskin label's
    #: labels.csv); auto: estimated when test_labels is given, else human (as fairskin audit's fst_source)
    test_fst_source: Literal["auto", "human", "estimated"] = "auto"
    #: also run every arm with hair inpainted (DullRazor) in its training and test images, as the arm
    #: "ARM+hair_removal", compared with the baseline like any arm
    hair_removal: bool = False


@dataclass(frozen=True)
class DemoSetup:
    """The built-in default: phantom data with a skin-tone bias, a tiny model at low resolution.

    Training data: few dark-skin images are malignant (6% of types V-VI against 35-40% of I-IV);
    the test set has every type equally often and 40% malignant in each, so the dark-skin
    groups can be measured.

    Synthetic images (``generator``): ``"tiny-sd"`` trains the built-in tiny Stable Diffusion
    (``fairskin train-conditioning`` without a base model) on the training split alone for
    ``generator_minutes`` and generates image-to-image through the ITA gate, as ``fairskin
    balance`` does; ``"phantom"`` renders new phantoms with the demo data's own renderer
    (:class:`PhantomGenerator`), a perfect-generator stand-in whose effect is a ceiling."""

    n_train: int = 600
    n_test: int = 420
    size: int = 64
    train_fst_weights: tuple[float, ...] = (0.15, 0.25, 0.2, 0.15, 0.13, 0.12)
    train_malignant_rate: tuple[float, ...] = (0.40, 0.40, 0.40, 0.35, 0.06, 0.06)
    test_fst_weights: tuple[float, ...] = (1, 1, 1, 1, 1, 1)
    test_malignant_rate: tuple[float, ...] = (0.4,) * 6
    seed: int = 2026
    arms: tuple[str, ...] = ("real", "mixed")
    arch: str = TINY_ARCH
    image_size: int = 32
    epochs: int = 8
    patience: int = 3
    batch_size: int = 32
    n_boot: int = 1000
    generator: Literal["tiny-sd", "phantom", "ddpm"] = "tiny-sd"  # ddpm: the class-conditional DDPM, trained likewise
    generator_minutes: float = 7.0
    generator_vae_steps: int | None = None  # None: train-conditioning's default


@dataclass(frozen=True)
class Run:
    arm: str
    seed: int
    dir: Path
    status: str  # "done" or "todo"


@dataclass
class ExperimentResult:
    out: Path
    runs: list[Run]
    doc: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False

    def verdict(self, arm: str) -> dict | None:
        for c in self.doc.get("statistics", {}).get("comparisons", []):
            if c["candidate"] == arm:
                return c
        return None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a JSON or TOML file whose keys are :func:`run_experiment`'s parameter names."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config: file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            doc = tomllib.loads(text)
        else:
            doc = json.loads(text)
    except Exception as exc:
        raise InputError(f"config: {path} is not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: "
                         f"{exc}") from None
    if not isinstance(doc, dict):
        raise InputError(f"config: {path} must hold a table of settings, got {type(doc).__name__}")
    allowed = {f.name for f in fields(ExperimentConfig)} | {"real", "synthetic", "test", "test_labels", "conditioning",
                                                            "generator", "generator_dir", "out"}
    for k in doc:
        if k not in allowed:
            import difflib

            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InputError(f"config: unknown setting {k!r} in {path}; allowed: {', '.join(sorted(allowed))}.{hint}")
    if "arms" in doc:
        doc["arms"] = tuple(doc["arms"]) if not isinstance(doc["arms"], str) else tuple(doc["arms"].split(","))
    return doc


def _check_arms(arms: Sequence[str]) -> tuple[str, ...]:
    arms = tuple(a.strip() for a in arms if a.strip())
    if len(arms) == 1 and arms[0] == "all":
        return tuple(ARMS)
    for a in arms:
        if a not in ARMS:
            import difflib

            close = difflib.get_close_matches(a, list(ARMS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InputError(f"arms: unknown arm {a!r}; expected some of {', '.join(ARMS)} (or 'all').{hint}")
    if BASELINE not in arms:
        arms = (BASELINE, *arms)
    return tuple(dict.fromkeys(arms))


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _atomic_json(path: Path, doc) -> None:
    atomic_write(path, json.dumps(doc, indent=2, default=str))


def _fst_type(df: pd.DataFrame) -> np.ndarray:
    if "fst_human" in df:
        return pd.to_numeric(df["fst_human"], errors="coerce").fillna(0).astype(int).to_numpy()
    return np.zeros(len(df), int)


def _fst_group(df: pd.DataFrame) -> np.ndarray:
    if "fst_group_human" not in df:
        return np.full(len(df), "", object)
    return df["fst_group_human"].astype("string").fillna("").to_numpy(object)


#: shown wherever the test set's skin types are estimated (figures: docs/label.md and
#: ../shared/data/reference/README.md)
ESTIMATED_CAUTION = (
    "The test set's skin types are estimated from ITA, not given by dermatologists, and carry the estimator's "
    "error: exact-type agreement with dermatologists' labels is low (15-19% on the PAD-UFES-20 sample, 25% with "
    "cut-points calibrated on its own labels); agreement within one (adjacent) type is what the estimator "
    "supports (52-56% there, 73% calibrated; 45.8-53.0% reported on "
    "Fitzpatrick17k by Groh et al. 2021). A difference between neighbouring types may be labelling error; the "
    "groups I-II, III-IV and V-VI are the safer reading.")


def _test_skin_types(test_df: pd.DataFrame, *, labels: str | Path | None, fst_source: str
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict], dict]:
    """The skin type of each test row, read as ``fairskin audit`` reads them (its ``_skin_types``):
    the human labels, or the ITA estimates of ``labels`` (``fairskin label``'s labels.csv).

    Returns (type 1-6 or 0, group or '', usable, skipped rows ``{image, status, reason}``, the record
    kept in experiment.json). A row without a usable image or a skin type is skipped and listed with
    its reason, never dropped silently."""
    from fairskin.audits._run import _skin_types, read_labels_csv
    from fairskin.audits.classifier import parse_fst

    images = test_df["image"].astype(str).to_numpy()
    t, g = _fst_type(test_df), _fst_group(test_df)
    if labels is None and fst_source == "auto" and not ((t > 0) | (g != "")).any():
        raise InputError("test: no test image has a human Fitzpatrick type or group and no test_labels were given; "
                         "the experiment compares skin types: run `fairskin label TEST` and pass its labels.csv "
                         "(--test-labels)")
    human = pd.DataFrame({"image": images, "fst_human": pd.Series(t, dtype="Int64").where(t > 0),
                          "fst_group_human": pd.Series(g, dtype="string").replace("", pd.NA)})
    vals, why, source, detail = _skin_types(human, labels=labels, fst_source=fst_source, arg="test_labels",
                                            source_arg="test_fst_source", data="test set", data_hint="TEST")
    record: dict[str, Any] = {"source": source, "detail": detail, "fst_source": fst_source,
                              "labels": None if source == "human" else str(labels)}
    if source == "estimated":
        lab = read_labels_csv(labels, arg="test_labels")
        matched = int(np.isin(images, lab["image"].astype(str).to_numpy()).sum())
        if not matched:
            theirs = f"; first image there: {lab['image'].iloc[0]!r}" if len(lab) else " (it has no rows)"
            raise InputError(f"test_labels: none of the {len(images)} test images is in {labels} (first test image: "
                             f"{images[0] if len(images) else None!r}{theirs}); give the labels.csv that `fairskin "
                             "label` wrote for this test set, whose 'image' column holds the same relative paths")
        record.update(labels_sha256=hashlib.sha256(Path(labels).read_bytes()).hexdigest(), labels_rows=len(lab),
                      matched=matched, caution=ESTIMATED_CAUTION)
    types, groups, parsed = parse_fst(vals)
    status = (test_df["status"].astype("string").fillna("").to_numpy(object) if "status" in test_df
              else np.full(len(images), "ok", object))
    reason = (test_df["reason"].astype("string").fillna("").to_numpy(object) if "reason" in test_df
              else np.full(len(images), "", object))
    usable = np.zeros(len(images), bool)
    skipped = []
    for i, img in enumerate(images):
        if status[i] != "ok":
            skipped.append({"image": img, "status": status[i], "reason": reason[i] or "image not usable"})
        elif parsed[i] == "no_fst":
            skipped.append({"image": img, "status": "no_fst", "reason": why[i]})
        elif parsed[i] == "bad_fst":
            skipped.append({"image": img, "status": "bad_fst",
                            "reason": f"unreadable skin type {vals[i]!r} in {Path(labels).name}"})
        else:
            usable[i] = True
    by_reason = pd.Series([r["reason"] for r in skipped], dtype=object).value_counts()
    record.update(n_rows=len(images), n_with_type=int(usable.sum()), n_skipped=len(skipped),
                  skipped_by_reason={str(k): int(v) for k, v in by_reason.head(20).items()},
                  skipped_other_reasons=int(by_reason.iloc[20:].sum()))
    if not usable.any():
        first = f"; most common reason: {by_reason.index[0]} ({by_reason.iloc[0]} rows)" if len(by_reason) else ""
        raise InputError(f"test: none of the {len(images)} test rows has a usable image and a skin type "
                         f"({detail}){first}")
    return types, groups, usable, skipped, record


def _exact_type(row) -> int | None:
    for col in ("fst_human", "fst_true", "fst"):
        v = row.get(col)
        if v is not None and not pd.isna(v) and str(v).strip() not in ("",):
            try:
                t = int(float(v))
            except ValueError:
                continue
            if 1 <= t <= 6:
                return t
    return None


def plan_requests(train: pd.DataFrame, *, group: str = "V-VI", tag: str = "balance"):
    """Generation requests that bring the malignant share of ``group`` in the training split up to
    that of the other groups: ``ceil(r * B / (1 - r)) - M`` malignant images of ``group`` (``B``,
    ``M``: its benign and malignant training images; ``r``: the malignant share elsewhere), each
    image-to-image from one of the group's malignant training images in turn (same type and
    diagnosis)."""
    from fairskin.conditioning import style_of
    from fairskin.experiment._generate import GenerationRequest

    y = labels_of(train)
    g = _fst_group(train)
    inside = g == group
    others = (~inside) & (g != "")
    if not inside.any() or not others.any():
        raise InputError(f"synthetic: cannot plan generation: the training split needs images of {group} and of other "
                         "skin-type groups with human labels")
    r = float(y[others].mean())
    B, M = int((y[inside] == 0).sum()), int((y[inside] == 1).sum())
    need = max(0, math.ceil(r * B / (1 - r)) - M) if r < 1 else 0
    sources = train[inside & (y == 1)]
    if need and not len(sources):
        raise InputError(f"synthetic: the training split has no malignant {group} image to start image-to-image "
                         "generation from")
    reqs = []
    rows = sources.to_dict("records")
    for i in range(need):
        row = rows[i % len(rows)]
        t = _exact_type(row) or (5 + i % 2)
        reqs.append(GenerationRequest(fst=t, diagnosis=str(row.get("diagnosis") or "malignant"), malignant=True,
                                      source_image=str(row["image"]), style=style_of(row.get("style")), tag=tag))
    return reqs, {"group": group, "malignant_share_elsewhere": r, "benign": B, "malignant": M, "requested": need}


def select_ratio(synthetic: pd.DataFrame, train: pd.DataFrame, ratio: float, *, seed: int) -> pd.DataFrame:
    """``round(ratio * n_real)`` synthetic images per cell (skin-type group x diagnosis) that has synthetic
    images, ``n_real`` being the cell's real training images; chosen with a seeded permutation."""
    from fairskin.data import fst_to_group

    syn_group = np.array([fst_to_group(int(v)) if not pd.isna(v) else "" for v in
                          pd.to_numeric(synthetic.get("fst", pd.Series(pd.NA, index=synthetic.index)),
                                        errors="coerce")], dtype=object)
    real_cells = pd.Series(list(zip(_fst_group(train), train["diagnosis"].astype(str)))).value_counts()
    rng = np.random.default_rng(seed)
    keep = []
    syn_cells = list(zip(syn_group, synthetic["diagnosis"].astype(str)))
    for cell in dict.fromkeys(syn_cells):
        idx = np.flatnonzero([c == cell for c in syn_cells])
        n = int(round(ratio * int(real_cells.get(cell, 0))))
        keep.extend(rng.permutation(idx)[:n].tolist())
    out = synthetic.iloc[sorted(keep)].copy()
    out.attrs = dict(synthetic.attrs)
    return out


def split_real(real, cfg: ExperimentConfig, *, test_given: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """The real rows of the manifest ``real`` (synthetic rows dropped) and each one's split, exactly as
    :func:`run_experiment` splits them: train / val, plus test when no separate test set is given."""
    real_df = read_manifest(real, arg="real")
    real_only = real_df[~is_synthetic(real_df)].copy()
    real_only.attrs = dict(real_df.attrs)
    split = split_manifest(real_only, val_fraction=cfg.val_fraction,
                           test_fraction=0.0 if test_given else cfg.test_fraction, seed=cfg.split_seed)
    return real_only, split


def _demo_data(out: Path, setup: DemoSetup) -> tuple[Path, Path]:
    from fairskin.data import DemoConfig, write_demo_dataset

    train_dir, test_dir = out / "demo" / "train", out / "demo" / "test"
    if not (train_dir / "ddi_metadata.csv").is_file():
        write_demo_dataset(train_dir, DemoConfig(n=setup.n_train, size=setup.size, seed=setup.seed,
                                                 fst_weights=setup.train_fst_weights,
                                                 malignant_rate=setup.train_malignant_rate), overwrite=True)
    if not (test_dir / "ddi_metadata.csv").is_file():
        write_demo_dataset(test_dir, DemoConfig(n=setup.n_test, size=setup.size, seed=setup.seed + 1,
                                                fst_weights=setup.test_fst_weights,
                                                malignant_rate=setup.test_malignant_rate), overwrite=True)
    return train_dir, test_dir


def _demo_generator(cond_dir: Path, train: pd.DataFrame, demo: DemoSetup, cfg: ExperimentConfig, say):
    """The built-in tiny Stable Diffusion, trained on the training split only (never on validation
    or test images), reused when ``cond_dir`` already holds one trained on the same images."""
    from fairskin.conditioning import TrainConfig, labelled_manifest, train_conditioning
    from fairskin.experiment._generate import ConditionedImageGenerator

    device = None if cfg.device == "auto" else cfg.device
    images_sha = _sha(sorted(train["image"].astype(str)))
    stamp = cond_dir / "trained_on.json"
    if (cond_dir / "conditioning.json").is_file() and stamp.is_file() and \
            json.loads(stamp.read_text()).get("images_sha") == images_sha:
        say(f"generator: reusing the tiny Stable Diffusion in {cond_dir}")
        return ConditionedImageGenerator(cond_dir, device=device)
    frame = labelled_manifest(train.drop(columns=["split"]))
    say(f"generator: training the built-in tiny Stable Diffusion on the {len(frame)} training-split images "
        f"({demo.generator_minutes:g} min, CPU; fairskin train-conditioning without --base-model)")
    t0 = time.perf_counter()

    def tick(step, total, loss, _last=[0.0]):
        now = time.perf_counter()
        if now - _last[0] > 30:
            _last[0] = now
            say(f"  generator step {step}, loss {loss:.3f}, {now - t0:.0f} s")

    train_conditioning(frame, out=cond_dir, device=device, progress=tick,
                       config=TrainConfig(steps=100_000, max_minutes=demo.generator_minutes,
                                          vae_steps=TrainConfig.vae_steps if demo.generator_vae_steps is None else demo.generator_vae_steps, seed=demo.seed))
    _atomic_json(stamp, {"images_sha": images_sha, "n_images": len(frame), "seconds": time.perf_counter() - t0})
    return ConditionedImageGenerator(cond_dir, device=device)


def _group_counts(df: pd.DataFrame, *, y: np.ndarray | None = None, g: np.ndarray | None = None) -> dict:
    """Images and malignant images per group: the manifest's human groups, or the given ``y`` and ``g``."""
    y = labels_of(df) if y is None else y
    g = _fst_group(df) if g is None else g
    return {grp: {"n": int((g == grp).sum()), "malignant": int(y[g == grp].sum())} for grp in ("I-II", "III-IV", "V-VI")}


def plan_runs(out: str | Path, arms: Sequence[str], seeds: int, fingerprint: str | None = None) -> list[Run]:
    """Every (arm, seed) run and whether it is finished (its done.json carries ``fingerprint``)."""
    out = Path(out)
    runs = []
    for arm in arms:
        for s in range(seeds):
            d = out / "runs" / arm / f"seed-{s}"
            status = "todo"
            done = d / "done.json"
            if done.is_file():
                try:
                    doc = json.loads(done.read_text(encoding="utf-8"))
                except json.JSONDecodeError:
                    doc = {}
                if fingerprint is None or doc.get("fingerprint") == fingerprint:
                    status = "done"
                else:
                    status = "stale"
            runs.append(Run(arm, s, d, status))
    return runs


def _claiming_out(run):
    """Lock the output folder for the whole run (one run per folder) and turn Ctrl-C into a message
    saying what is kept; a dry run writes nothing and locks nothing."""
    @functools.wraps(run)
    def claimed(*args, out, dry_run: bool = False, **kwargs):
        if dry_run:
            return run(*args, out=out, dry_run=dry_run, **kwargs)
        with claim_outputs({"--out": out}, overwrite=True, kinds={"--out": "dir"}), interruptible(
                lambda: f"every finished run is kept in {Path(out) / 'runs'} (each with its done.json); run the same "
                        "command again to resume"):
            return run(*args, out=out, dry_run=dry_run, **kwargs)

    return claimed


@_claiming_out
def run_experiment(
    real=None,
    *,
    out: str | Path,
    synthetic=None,
    test=None,
    test_labels: str | Path | None = None,
    test_fst_source: Literal["auto", "human", "estimated"] | None = None,
    conditioning: str | Path | None = None,
    generator_name: str | None = None,
    generator_dir: str | Path | None = None,
    arms: Sequence[str] | None = None,
    seeds: int | None = None,
    arch: str | None = None,
    pretrained: str | None = None,
    image_size: int | None = None,
    epochs: int | None = None,
    pretrain_epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    patience: int | None = None,
    balance: str | None = None,
    real_weight: float | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    split_seed: int | None = None,
    n_boot: int | None = None,
    threshold: float | None = None,
    min_gain: float | None = None,
    max_drop: float | None = None,
    rounds: int | None = None,
    per_round: int | None = None,
    num_workers: int | None = None,
    device: str | None = None,
    hair_removal: bool | None = None,
    config: str | Path | None = None,
    dry_run: bool = False,
    overwrite: bool = False,
    demo: DemoSetup = DemoSetup(),
    progress: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Train every arm with ``seeds`` seeds, audit each model on the same held-out test set, pool the
    seeds and judge each arm against ``real`` (default criteria: AUROC on FST V-VI up by at least
    ``min_gain`` relative, no FST I-III group down by more than ``max_drop``).

    With no ``real``, ``synthetic`` or ``test`` (and no config file naming them) it runs the built-in
    demo (:class:`DemoSetup`). ``synthetic`` is a manifest of synthetic images (``fairskin balance``'s
    ``manifest.csv``); without it, images are generated here with the skin-tone ``conditioning`` of
    ``fairskin train-conditioning`` (image-to-image from the training split's dark-skin malignant
    images, through the ITA gate). Settings: arguments > ``config`` file > :class:`ExperimentConfig`.

    The test set's skin types are its human labels, or (``test_labels``: ``fairskin label``'s labels.csv
    of the test set, for data without human labels such as HAM10000) ITA estimates; ``test_fst_source``
    as ``fairskin audit``'s ``fst_source``. experiment.json records which, and every test row left out.

    ``hair_removal``: run every arm a second time on DullRazor-inpainted images (the arm
    ``ARM+hair_removal``; the saved model's metadata makes the audit inpaint the test images too).
    """
    say = progress or (lambda msg: None)
    t_start = time.perf_counter()
    out = Path(out)
    given = {k: v for k, v in dict(
        arms=arms, seeds=seeds, arch=arch, pretrained=pretrained, image_size=image_size, epochs=epochs,
        pretrain_epochs=pretrain_epochs, batch_size=batch_size, lr=lr, patience=patience, balance=balance,
        real_weight=real_weight, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed,
        n_boot=n_boot, threshold=threshold, min_gain=min_gain, max_drop=max_drop, rounds=rounds,
        per_round=per_round, num_workers=num_workers, device=device, test_fst_source=test_fst_source,
        hair_removal=hair_removal).items()
        if v is not None}
    file_doc = load_config_file(config) if config is not None else {}
    real = real if real is not None else file_doc.pop("real", None)
    synthetic = synthetic if synthetic is not None else file_doc.pop("synthetic", None)
    test = test if test is not None else file_doc.pop("test", None)
    test_labels = test_labels if test_labels is not None else file_doc.pop("test_labels", None)
    conditioning = conditioning if conditioning is not None else file_doc.pop("conditioning", None)
    generator_name = generator_name or file_doc.pop("generator", None) or "stable-diffusion"
    generator_dir = generator_dir if generator_dir is not None else file_doc.pop("generator_dir", None)
    file_doc.pop("out", None)
    is_demo = real is None and synthetic is None and test is None
    base = ExperimentConfig()
    if is_demo:
        base = replace(base, arms=demo.arms, arch=demo.arch, image_size=demo.image_size, epochs=demo.epochs,
                       patience=demo.patience, batch_size=demo.batch_size, n_boot=demo.n_boot)
    cfg = replace(base, **{**file_doc, **given})
    arm_list = _check_arms(cfg.arms)
    if cfg.hair_removal:
        arm_list += tuple(a + HAIR_REMOVAL_SUFFIX for a in arm_list)
    if not isinstance(cfg.seeds, int) or cfg.seeds < 1:
        raise InputError(f"seeds: expected a whole number >= 1, got {cfg.seeds!r}")
    if not isinstance(cfg.rounds, int) or cfg.rounds < 0:
        raise InputError(f"rounds: expected a whole number >= 0, got {cfg.rounds!r}")
    if real is None and not is_demo:
        raise InputError("real: give the real training data (a data set directory or manifest CSV), or give no "
                         "data argument at all to run the built-in demo")
    needs_syn = any(a.removesuffix(HAIR_REMOVAL_SUFFIX) != BASELINE for a in arm_list) or cfg.rounds > 0

    if dry_run:  # lists the runs without reading data or generating anything
        runs = plan_runs(out, arm_list, cfg.seeds)
        for r in runs:
            say(f"{r.status:5s} {r.arm} seed {r.seed} -> {r.dir}")
        return ExperimentResult(out=out, runs=runs, dry_run=True,
                                doc={"runs": [{"arm": r.arm, "seed": r.seed, "status": r.status, "dir": str(r.dir)}
                                              for r in runs]})

    # ---- data: one split for every arm and seed ------------------------------------------------------
    out.mkdir(parents=True, exist_ok=True)
    generator = None
    if is_demo:
        say("built-in demo: phantom data with few malignant FST V-VI training images; tiny model "
            f"{cfg.arch} at {cfg.image_size} px")
        real, test = _demo_data(out, demo)
        if demo.generator == "phantom":
            from fairskin.experiment._generate import PhantomGenerator

            generator = PhantomGenerator(size=demo.size)
        elif demo.generator not in ("tiny-sd", "ddpm"):
            raise InputError(f"generator: expected 'tiny-sd', 'ddpm' or 'phantom', got {demo.generator!r}")
    elif synthetic is None and needs_syn:
        from fairskin.experiment._generate import experiment_generator

        generator = experiment_generator(generator_name, conditioning=conditioning, generator_dir=generator_dir,
                                         device=None if cfg.device == "auto" else cfg.device,
                                         arms=", ".join(a for a in arm_list if a != BASELINE))
    real_only, split = split_real(real, cfg, test_given=test is not None)
    if test is None:
        test_df = real_only[split == "test"].copy()
        test_df.attrs = dict(real_only.attrs)
        test_source = f"held out from the real data by patient (test_fraction={cfg.test_fraction})"
    else:
        test_df = read_manifest(test, arg="test")
        test_source = str(test)
    train_df = real_only[split != "test"].copy()
    train_df["split"] = split[split != "test"]
    train_df.attrs = dict(real_only.attrs)
    write_csv(pd.DataFrame({"image": train_df["image"].astype(str), "split": train_df["split"]}), out / "splits.csv")
    types, groups, usable, skipped, test_fst_doc = _test_skin_types(test_df, labels=test_labels,
                                                                    fst_source=cfg.test_fst_source)
    write_csv(pd.DataFrame(skipped, columns=["image", "status", "reason"]), out / "test_skipped.csv")
    test_fst_doc["skipped_csv"] = "test_skipped.csv"
    say(f"test skin types: {test_fst_doc['detail']}; {test_fst_doc['n_with_type']} of {test_fst_doc['n_rows']} "
        "test rows used" + (f", {len(skipped)} left out (reasons in test_skipped.csv)" if skipped else ""))
    test_fst = np.where(usable, np.where(types > 0, types, groups), "").astype(object)  # per-run audits read these
    test_frame = pd.DataFrame({"image": test_df["image"].astype(str).to_numpy()[usable],
                               "label": labels_of(test_df[usable], arg="test"),
                               "fst_type": types[usable], "fst_group": groups[usable]})

    if is_demo and generator is None and needs_syn and synthetic is None and demo.generator == "ddpm":
        from fairskin.experiment._generate import demo_ddpm

        generator = demo_ddpm(out / "ddpm", train_df[train_df["split"] == "train"], minutes=demo.generator_minutes,
                              seed=demo.seed, device=None if cfg.device == "auto" else cfg.device, say=say)
    if is_demo and generator is None and needs_syn and synthetic is None:
        generator = _demo_generator(out / "conditioning", train_df[train_df["split"] == "train"], demo, cfg, say)

    # ---- synthetic images ------------------------------------------------------------------------------
    syn_df = None
    syn_info: dict[str, Any] = {"source": None}
    if needs_syn:
        if synthetic is not None:
            syn_all = read_manifest(synthetic, arg="synthetic")
            syn_df = syn_all[is_synthetic(syn_all)] if "synthetic" in syn_all.columns else syn_all
            syn_df.attrs = dict(syn_all.attrs)
            syn_info = {"source": str(synthetic), "generator": "given manifest",
                        "base_model": sorted(set(syn_df["base_model"].dropna().astype(str)))
                        if "base_model" in syn_df else None}
        else:
            syn_dir = out / "synthetic"
            manifest_csv = syn_dir / "manifest.csv"
            tr = train_df[train_df["split"] == "train"]
            reqs, plan = plan_requests(tr)
            made = json.loads((syn_dir / "plan.json").read_text()) if manifest_csv.is_file() else {}
            if made.get("plan") == plan and made.get("generator") == generator.name:
                syn_df = read_manifest(manifest_csv, arg="synthetic")
                gen_doc = json.loads((syn_dir / "plan.json").read_text())
                say(f"synthetic: reusing {len(syn_df)} images in {syn_dir}")
            else:
                from fairskin.experiment._generate import generate_synthetic

                say(f"synthetic: generating {len(reqs)} malignant {plan['group']} images with {generator.name} "
                    "(image-to-image from the training split, through the ITA gate)")
                t0 = time.perf_counter()
                syn_df = generate_synthetic(reqs, generator=generator, out=syn_dir, root=train_df.attrs["root"],
                                            seed=cfg.split_seed)
                write_csv(syn_df, manifest_csv)
                gen_doc = {"plan": plan, "generator": generator.name, "attempts": syn_df.attrs["attempts"],
                           "rejected": syn_df.attrs["rejected"], "failed": syn_df.attrs["failed"],
                           "seconds": time.perf_counter() - t0}
                _atomic_json(syn_dir / "plan.json", gen_doc)
                syn_df = read_manifest(manifest_csv, arg="synthetic")
            syn_info = {"source": str(manifest_csv), **gen_doc}
            if is_demo and demo.generator == "tiny-sd":
                syn_info["note"] = (f"synthetic images come from the built-in tiny Stable Diffusion (64 px, trained "
                                    f"{demo.generator_minutes:g} CPU minutes from scratch on the training split): "
                                    "real generated images through the ITA gate, but from a toy model; a full "
                                    "Stable Diffusion fine-tuned on real photographs is what a study would use")
            if is_demo and demo.generator == "ddpm":
                syn_info["note"] = (f"synthetic images come from a class-conditional DDPM (trained "
                                    f"{demo.generator_minutes:g} CPU minutes from scratch on the training split, "
                                    "one class per skin type x diagnosis) through the ITA gate: a toy model")
            if generator.name == "phantom-renderer":
                syn_info["note"] = ("synthetic images are new phantoms from the demo data's own renderer, NOT Stable "
                                    "Diffusion: a perfect-generator stand-in with a known answer; the effect "
                                    "measured is a ceiling, not what fairskin balance's generator achieves")
        syn_info["n"] = int(len(syn_df))
        if "pretrain_finetune" in arm_list and len(syn_df):
            classes = set(labels_of(syn_df, arg="synthetic").tolist())
            if len(classes) < 2:
                only = "malignant" if classes == {1} else "benign"
                raise InputError(f"arms: pretrain_finetune pretrains on the synthetic images alone, but all "
                                 f"{len(syn_df)} of them are {only}; give synthetic images of both classes (e.g. "
                                 "fairskin balance over every cell) or leave this arm out")
        if not len(syn_df):
            raise InputError("synthetic: no synthetic image to train on (none given, or every generated image was "
                             "rejected by the ITA gate)")

    # ---- fingerprint, resume, dry run -------------------------------------------------------------------
    train_settings = {k: v for k, v in asdict(cfg).items() if k not in ("arms", "seeds", "n_boot", "threshold",
                                                                       "min_gain", "max_drop", "num_workers",
                                                                       "rounds", "per_round", "test_fst_source",
                                                                       "hair_removal")}  # in the arm's name
    # estimated test types enter the fingerprint (per-run audits use them); with human ones it stays as before
    estimated = ({"test_fst": test_frame[["image", "fst_type", "fst_group"]].astype(str).values.tolist()}
                 if test_fst_doc["source"] == "estimated" else {})
    data_fp = _sha({"train": train_df[["image", "split"]].astype(str).values.tolist(),
                    "test": test_frame["image"].tolist(),
                    "synthetic": None if syn_df is None else syn_df["image"].astype(str).tolist(), **estimated})
    fingerprint = _sha({"settings": train_settings, "data": data_fp})
    runs = plan_runs(out, arm_list, cfg.seeds, fingerprint)
    stale = [r for r in runs if r.status == "stale"]
    if stale and not overwrite:
        raise InputError(f"out: run {stale[0].arm}/seed-{stale[0].seed} in {out} was made with other settings or data; "
                         "use a new --out, or --overwrite to redo such runs")
    # ---- train and audit each run ------------------------------------------------------------------------
    todo = [r for r in runs if r.status != "done"]
    say(f"{len(runs)} runs ({len(runs) - len(todo)} finished earlier, {len(todo)} to do)")
    for i, r in enumerate(runs, 1):
        if r.status == "done":
            say(f"[{i}/{len(runs)}] {r.arm} seed {r.seed}: finished earlier, skipped")
            continue
        t0 = time.perf_counter()
        say(f"[{i}/{len(runs)}] {r.arm} seed {r.seed}: training {cfg.arch} ...")
        rec = _train_run(r, cfg=cfg, train_df=train_df, test_df=test_df, syn_df=syn_df, say=say)
        scores = _score_test(r.dir / "model.pt", test_df, cfg)
        _save_run(r, scores=scores, test_df=test_df, test_fst=test_fst, cfg=cfg, fingerprint=fingerprint, rec=rec,
                  seconds=time.perf_counter() - t0)
        say(f"[{i}/{len(runs)}] {r.arm} seed {r.seed}: done in {time.perf_counter() - t0:.0f} s "
            f"(best epoch {rec['best_epoch']}, validation AUROC {_f(rec['best_val_auroc'])})")

    # ---- pool seeds, compare, verdict ------------------------------------------------------------------
    from fairskin.audits.classifier import default_criteria

    from fairskin.experiment._stats import arm_statistics

    scores = {arm: np.stack([_read_scores(out / "runs" / arm / f"seed-{s}", test_frame) for s in range(cfg.seeds)])
              for arm in arm_list}
    scored = np.all([np.isfinite(S).all(0) for S in scores.values()], axis=0)
    n_unscored = int((~scored).sum())
    if n_unscored:
        say(f"{n_unscored} test image(s) could not be scored by every model (unreadable); left out of the statistics")
        test_frame = test_frame[scored].reset_index(drop=True)
        scores = {a: S[:, scored] for a, S in scores.items()}
    level = "type" if (test_frame["fst_type"] > 0).all() else "group"
    criteria = default_criteria(level, min_gain=cfg.min_gain, max_drop=cfg.max_drop)
    stats = arm_statistics(test_frame, scores, baseline=BASELINE, criteria=criteria, threshold=cfg.threshold,
                           n_boot=cfg.n_boot, seed=cfg.split_seed)
    rounds_doc = None
    if cfg.rounds > 0:
        from fairskin.experiment._hardcase import hard_case_loop

        rounds_doc = hard_case_loop(out=out / "rounds", cfg=cfg, train_df=train_df, test_df=test_df,
                                    test_frame=test_frame, syn_df=syn_df, generator=generator, say=say)
    doc = {
        "schema": SCHEMA, "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "demo": asdict(demo) if is_demo else None,
        "config": asdict(cfg), "arms": {a: ARMS[a.removesuffix(HAIR_REMOVAL_SUFFIX)] + (", hair inpainted (DullRazor) in training and test "
                                  "images" if a.endswith(HAIR_REMOVAL_SUFFIX) else "") for a in arm_list}, "baseline": BASELINE,
        "fingerprint": fingerprint,
        "data": {"real": str(real), "root": train_df.attrs.get("root"), "test": test_source,
                 "n_train": int((train_df["split"] == "train").sum()), "n_val": int((train_df["split"] == "val").sum()),
                 "n_test": len(test_frame), "n_test_unscored": n_unscored, "train_by_group": _group_counts(train_df[train_df["split"] == "train"]),
                 "test_by_group": _group_counts(test_frame, y=test_frame["label"].to_numpy(),
                                                g=test_frame["fst_group"].to_numpy()),
                 "test_skin_types": test_fst_doc},
        "synthetic": syn_info,
        "criteria": [asdict(c) for c in criteria],
        "runs": [json.loads((r.dir / "done.json").read_text()) for r in runs],
        "statistics": stats,
        "rounds": rounds_doc,
        "seconds": time.perf_counter() - t_start,
    }
    _atomic_json(out / "experiment.json", doc)
    return ExperimentResult(out=out, runs=plan_runs(out, arm_list, cfg.seeds, fingerprint), doc=doc)


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _train_kwargs(cfg: ExperimentConfig, seed: int) -> dict:
    return dict(arch=cfg.arch, image_size=cfg.image_size, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                patience=cfg.patience, balance=cfg.balance, num_workers=cfg.num_workers, device=cfg.device,
                seed=seed, split_seed=cfg.split_seed)


def _train_run(r: Run, *, cfg, train_df, test_df, syn_df, say) -> dict:
    r.dir.mkdir(parents=True, exist_ok=True)
    (r.dir / "done.json").unlink(missing_ok=True)
    kw = dict(_train_kwargs(cfg, seed=1000 * r.seed + 17), hair_removal=r.arm.endswith(HAIR_REMOVAL_SUFFIX))
    arm = r.arm.removesuffix(HAIR_REMOVAL_SUFFIX)
    model = r.dir / "model.pt"

    def ep(rec):
        say(f"    epoch {rec['epoch']}: train loss {rec['train_loss']:.3f}, validation AUROC {_f(rec['val_auroc'])} "
            f"({rec['train_images_per_s']:.0f} images/s)")

    if arm == "real":
        res = train_classifier(train_df, out=model, test=test_df, train_on="real", pretrained=cfg.pretrained,
                               progress=ep, **kw)
    elif arm in ("mixed", "mixed_weighted") or arm.startswith("ratio_"):
        syn = syn_df
        if arm.startswith("ratio_"):
            syn = select_ratio(syn_df, train_df[train_df["split"] == "train"], float(arm.split("_", 1)[1]),
                               seed=cfg.split_seed)
        res = train_classifier(train_df, out=model, synthetic=syn, test=test_df, pretrained=cfg.pretrained,
                               real_weight=cfg.real_weight if arm == "mixed_weighted" else 1.0, progress=ep, **kw)
    elif arm == "pretrain_finetune":
        pre = train_classifier(train_df, out=r.dir / "pretrain.pt", synthetic=syn_df, test=test_df,
                               train_on="synthetic", pretrained=cfg.pretrained,
                               **{**kw, "epochs": cfg.pretrain_epochs or cfg.epochs}, progress=ep)
        say(f"    pretrained on {len(syn_df)} synthetic images (best epoch {pre.best_epoch}); fine-tuning on real")
        res = train_classifier(train_df, out=model, test=test_df, train_on="real", pretrained=pre.model_path,
                               progress=ep, **kw)
    else:  # pragma: no cover - arms are checked up front
        raise InputError(f"arms: unknown arm {arm!r}")
    return {"best_epoch": res.best_epoch, "best_val_auroc": res.best_val_auroc, "epochs_run": len(res.history),
            "n_train_synthetic": res.metadata["training"]["n_train_synthetic"],
            "n_train_real": res.metadata["training"]["n_train_real"]}


def _score_test(model_path: Path, test_df: pd.DataFrame, cfg) -> np.ndarray:
    """Scores of the test set through the audit's own loader and preprocessing (as `fairskin audit` sees it)."""
    from fairskin.audits.classifier import load_model, predict

    model = load_model(model_path)
    scores, status, reason = predict(model, test_df, batch_size=64, num_workers=cfg.num_workers,
                                     device=cfg.device, progress=False)
    return scores


def _save_run(r: Run, *, scores, test_df, test_fst, cfg, fingerprint, rec, seconds) -> None:
    from fairskin.audits.classifier import audit_predictions

    pred = pd.DataFrame({"image": test_df["image"].astype(str).to_numpy(), "score": scores,
                         "label": labels_of(test_df, arg="test"),
                         "fst": test_fst,
                         "diagnosis": test_df["diagnosis"].astype("string").fillna("").to_numpy(object)})
    write_csv(pred, r.dir / "predictions.csv")
    audit = audit_predictions(pred[pred["score"].notna()], threshold=cfg.threshold, n_boot=min(cfg.n_boot, 500),
                              seed=cfg.split_seed, name=f"{r.arm}/seed-{r.seed}")
    audit.to_json(r.dir / "audit.json")
    overall = audit.to_dict()["models"][0]["overall"]["metrics"]["auroc"]["value"]
    _atomic_json(r.dir / "done.json", {"arm": r.arm, "seed": r.seed, "fingerprint": fingerprint,
                                       "seconds": seconds, "test_auroc": overall, **rec})


def _read_scores(run_dir: Path, test_frame: pd.DataFrame) -> np.ndarray:
    pred = read_csv_table(run_dir / "predictions.csv", arg="")[0]
    score = pd.to_numeric(pred["score"], errors="coerce")
    s = score.set_axis(pred["image"]).reindex(test_frame["image"]).to_numpy(float)
    return s
