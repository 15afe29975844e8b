"""Step "data": one split of the real data for every arm and seed, and the test set's skin types.

The real rows are split train / val by patient (plus test when no separate test set is given);
``splits.csv`` records the split and ``test_skipped.csv`` every test row left out and why."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairskin.errors import InputError, arguments_named
from fairskin.experiment._config import DemoSetup, ExperimentConfig, ExperimentInputs
from fairskin.outputs import write_csv
from fairskin.skintone import FST_GROUPS
from fairskin.label import estimated_types_caution
from fairskin.train import is_synthetic, labels_of, read_manifest, split_manifest

__all__ = ["ESTIMATED_CAUTION", "PreparedData", "exact_type", "fst_groups", "group_counts", "prepare_data",
           "split_real"]

#: shown wherever the test set's skin types are estimated (figures: fairskin.label.PAD_AGREEMENT,
#: docs/label.md)
ESTIMATED_CAUTION = estimated_types_caution()


@dataclass
class PreparedData:
    """The real data split once for every run, and the test set as the statistics read it."""

    real: str | Path  # the real data (the demo's folder for the built-in demo)
    train: pd.DataFrame  # real training rows, column ``split`` = train / val
    test: pd.DataFrame  # every test row (the models score them all)
    test_source: str  # where the test set came from, in words
    #: the usable test rows: image, label, fst_type (1-6 or 0), fst_group
    test_frame: pd.DataFrame
    #: each test row's type, or group where only the group is known, '' when unusable (per-run audits)
    test_fst: np.ndarray
    #: how the test set's skin types were read (experiment.json's data.test_skin_types)
    test_skin_types: dict[str, Any] = field(default_factory=dict)

    @property
    def train_split(self) -> pd.DataFrame:
        return self.train[self.train["split"] == "train"]


def _fst_types(df: pd.DataFrame) -> np.ndarray:
    if "fst_human" in df:
        return pd.to_numeric(df["fst_human"], errors="coerce").fillna(0).astype(int).to_numpy()
    return np.zeros(len(df), int)


def fst_groups(df: pd.DataFrame) -> np.ndarray:
    """Each row's human skin-type group, '' where unknown."""
    if "fst_group_human" not in df:
        return np.full(len(df), "", object)
    return df["fst_group_human"].astype("string").fillna("").to_numpy(object)


def exact_type(row) -> int | None:
    """A row's Fitzpatrick type 1-6 (human, true or given), None when only a group or nothing is known."""
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


def group_counts(df: pd.DataFrame, *, y: np.ndarray | None = None, g: np.ndarray | None = None) -> dict:
    """Images and malignant images per group: the manifest's human groups, or the given ``y`` and ``g``."""
    y = labels_of(df) if y is None else y
    g = fst_groups(df) if g is None else g
    return {grp: {"n": int((g == grp).sum()), "malignant": int(y[g == grp].sum())} for grp in FST_GROUPS}


def _test_skin_types(test_df: pd.DataFrame, *, labels: str | Path | None, fst_source: str
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict], dict]:
    """The skin type of each test row, read as ``fairskin audit`` and ``balance`` read them (the one
    rule of :func:`fairskin.label.resolve_tones`, through :func:`fairskin.audits.classifier.read_skin_types`):
    human types where people gave one, else the estimates of ``labels`` (``fairskin label``'s labels.csv).

    Returns (type 1-6 or 0, group or '', usable, skipped rows ``{image, status, reason}``, the record
    kept in experiment.json). A row without a usable image or a skin type is skipped and listed with
    its reason, never dropped silently."""
    from fairskin.audits.classifier import read_labels_csv, read_skin_types
    from fairskin.audits.classifier import parse_fst

    images = test_df["image"].astype(str).to_numpy()
    t, g = _fst_types(test_df), fst_groups(test_df)
    if labels is None and fst_source == "auto" and not ((t > 0) | (g != "")).any():
        raise InputError("test: no test image has a human Fitzpatrick type or group and no test_labels were given; "
                         "the experiment compares skin types: run `fairskin label TEST` and pass its labels.csv "
                         "(test_labels=...)")
    human = pd.DataFrame({"image": images, "fst_human": pd.Series(t, dtype="Int64").where(t > 0),
                          "fst_group_human": pd.Series(g, dtype="string").replace("", pd.NA)})
    # the experiment's arms and criteria are Fitzpatrick types (the generators are conditioned on them)
    with arguments_named({"labels": "test_labels", "fst_source": "test_fst_source"}):  # the test set's arguments
        vals, why, source, detail, _ = read_skin_types(human, labels=labels, fst_source=fst_source)
    record: dict[str, Any] = {"source": source, "detail": detail, "fst_source": fst_source,
                              "labels": None if source == "human" else str(labels)}
    if source in ("estimated", "mixed"):
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


def prepare_data(inputs: ExperimentInputs, cfg: ExperimentConfig, *, out: Path, demo: DemoSetup, say
                 ) -> PreparedData:
    """Step "data": read (or, for the demo, write) the data, split it, read the test set's skin types."""
    real, test = inputs.real, inputs.test
    if inputs.is_demo:
        say("built-in demo: phantom data with few malignant FST V-VI training images; tiny model "
            f"{cfg.arch} at {cfg.image_size} px")
        real, test = _demo_data(out, demo)
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
    types, groups, usable, skipped, test_fst_doc = _test_skin_types(test_df, labels=inputs.test_labels,
                                                                    fst_source=cfg.test_fst_source)
    write_csv(pd.DataFrame(skipped, columns=["image", "status", "reason"]), out / "test_skipped.csv")
    test_fst_doc["skipped_csv"] = "test_skipped.csv"
    say(f"test skin types: {test_fst_doc['detail']}; {test_fst_doc['n_with_type']} of {test_fst_doc['n_rows']} "
        "test rows used" + (f", {len(skipped)} left out (reasons in test_skipped.csv)" if skipped else ""))
    test_fst = np.where(usable, np.where(types > 0, types, groups), "").astype(object)  # per-run audits read these
    test_frame = pd.DataFrame({"image": test_df["image"].astype(str).to_numpy()[usable],
                               "label": labels_of(test_df[usable], arg="test"),
                               "fst_type": types[usable], "fst_group": groups[usable]})
    return PreparedData(real=real, train=train_df, test=test_df, test_source=test_source, test_frame=test_frame,
                        test_fst=test_fst, test_skin_types=test_fst_doc)
