"""Training-time bias mitigations ("cheap fixes") that need no generated images.

The experiment's cheap-fix arms train through these hooks of :func:`fairskin.train.train_classifier`:

* ``group_balance="reweight"``: each training image's loss weighted by the inverse frequency of
  its cell (skin-type group x diagnosis), the weights normalised to mean 1;
* ``group_balance="resample"``: the same inverse frequencies as a sampler's probabilities, so each
  epoch draws every cell about equally often (balanced resampling, with replacement);
* ``augment="retone"``: the healthy skin of each training image re-toned to other skin types by
  the counterfactual re-toner of the audit (:func:`fairskin.audits.classifier.retone_many`; the
  lesion's pixels copied unchanged), the re-toned versions computed once per image and one drawn
  per epoch with probability ``RETONE_P``;
* ``augment="ita_jitter"``: a plain colour jitter of the whole image in CIELAB (L* and b* shifted
  by uniform amounts; the lesion is not protected), the cheap version of the same idea;
* ``group_dro=True``: online Group DRO over skin-type groups (Sagawa, Koh, Hashimoto and Liang,
  "Distributionally robust neural networks for group shifts", ICLR 2020, Algorithm 1): the loss
  is the groups' mean losses weighted by ``q``, and ``q`` moves toward the worst group by an
  exponentiated-gradient step after every batch.

A row's skin-type group is its human group (``fst_group_human``), else the group of its type
(``fst_human``, ``fst``); a row with neither is the group ``""`` (its own cell, reported in the
model's metadata), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fairskin.progress import report
from fairskin.skintone import FST_TYPES, group_of, lab_to_srgb, srgb_to_lab

__all__ = ["GROUP_BALANCE", "AUGMENTS", "AUGMENT_WORDS", "Mitigation", "mitigation", "RETONE_P", "ITA_JITTER", "GroupDRO", "row_groups", "row_types",
           "cell_weights", "RetoneBank", "ita_jitter"]

GROUP_BALANCE = ("none", "reweight", "resample")
AUGMENTS = ("none", "retone", "ita_jitter")
#: chance that a training image is shown re-toned in an epoch (``augment="retone"``)
RETONE_P = 0.5
#: half-ranges of the uniform L* and b* shifts of ``augment="ita_jitter"``
ITA_JITTER = (15.0, 6.0)


AUGMENT_WORDS = {"none": "no colour jitter",
                 "retone": "healthy skin re-toned to another skin type (lesion untouched) with probability 0.5",
                 "ita_jitter": "CIELAB jitter of the whole image: L* +-{:.0f}, b* +-{:.0f} (uniform)".format(*ITA_JITTER)}


@dataclass
class Mitigation:
    """What the cheap fixes need of the training rows: types, groups, cell weights."""

    group_balance: str
    augment: str
    types: np.ndarray  # per row, 0 unknown
    group_names: list[str]  # the groups Group DRO weighs ('' = unknown skin type)
    group_index: np.ndarray  # per row, into group_names
    cell_w: np.ndarray  # per row, inverse cell frequency, mean 1
    cells: dict[str, int]

    def record(self, retone: RetoneBank | None, dro: GroupDRO | None) -> dict:
        """The model metadata's ``training.mitigation``."""
        out: dict = {"group_balance": self.group_balance, "augment": self.augment, "group_dro": dro is not None}
        if self.group_balance != "none":
            out["cells"] = self.cells
        if retone is not None:
            out["retone"] = retone.summary()
        if dro is not None:
            out["dro_step"] = dro.step
            out["dro_final_q"] = {g or "unknown": round(float(q), 4) for g, q in zip(self.group_names, dro.q.tolist())}
        return out


def mitigation(rows: pd.DataFrame, *, group_balance: str, augment: str) -> Mitigation:
    """The training rows' types, groups and cell weights (rows in training order)."""
    groups = row_groups(rows)
    names = sorted(set(groups.tolist()), key=lambda g: (g == "", g))
    diagnosis = (rows["diagnosis"].astype("string").fillna("").to_numpy(object) if "diagnosis" in rows.columns
                 else rows["malignant"].astype(str).to_numpy(object))
    w, cells = cell_weights(groups, diagnosis)
    return Mitigation(group_balance, augment, row_types(rows), names,
                      np.array([names.index(g) for g in groups], int), w, cells)


def row_types(df: pd.DataFrame) -> np.ndarray:
    """Each row's Fitzpatrick type 1-6 (human, else given), 0 where unknown."""
    out = np.zeros(len(df), int)
    for col in ("fst_human", "fst"):
        if col in df.columns:
            v = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
            ok = (out == 0) & np.isfinite(v) & np.isin(v, FST_TYPES)
            out[ok] = v[ok].astype(int)
    return out


def row_groups(df: pd.DataFrame) -> np.ndarray:
    """Each row's skin-type group ('I-II', 'III-IV', 'V-VI'), '' where unknown."""
    g = (df["fst_group_human"].astype("string").fillna("").str.strip().to_numpy(object)
         if "fst_group_human" in df.columns else np.full(len(df), "", object))
    t = row_types(df)
    fill = (g == "") & (t > 0)
    g[fill] = [group_of(int(x)) for x in t[fill]]
    return g


def cell_weights(groups: np.ndarray, diagnosis: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Inverse cell frequencies (cell = group x diagnosis), mean 1, and the cells' sizes."""
    cells = pd.Series([f"{g or 'unknown'} x {d}" for g, d in zip(groups, diagnosis)])
    n = cells.map(cells.value_counts()).to_numpy(float)
    w = 1.0 / n
    return w * len(w) / w.sum(), {k: int(v) for k, v in cells.value_counts().sort_index().items()}


@dataclass
class GroupDRO:
    """Online Group DRO (Sagawa et al. 2020, Algorithm 1) over ``n_groups`` groups.

    ``loss(per_row_loss, group_index, weight)``: the per-group weighted mean losses, ``q``
    updated by ``q_g <- q_g * exp(step * loss_g)`` (groups absent from the batch keep theirs)
    and renormalised, and the objective ``sum_g q_g loss_g`` returned."""

    n_groups: int
    step: float = 0.01

    def __post_init__(self):
        import torch

        self.q = torch.full((self.n_groups,), 1.0 / self.n_groups)

    def loss(self, ce, group, weight):
        import torch

        q = self.q.to(ce.device)
        onehot = torch.nn.functional.one_hot(group, self.n_groups).to(ce.dtype) * weight[:, None]  # (b, G)
        mass = onehot.sum(0)
        group_loss = (onehot * ce[:, None]).sum(0) / mass.clamp_min(1e-12)
        present = mass > 0
        with torch.no_grad():
            q = q * torch.exp(self.step * group_loss.detach() * present)
            q = q / q.sum()
        self.q = q.detach().cpu()
        return (q * group_loss).sum()


#: the last bank made, reused by the next run on the same images (an experiment's seeds)
_LAST_BANK: dict = {}


class RetoneBank:
    """Re-toned versions of cached training images (``(n, 3, R, R)`` uint8): for each image, its
    healthy skin re-toned to every other type (its own type, when known, left out), computed once
    (and kept for the next run on the same images: an experiment's seeds). An augmentation need not
    land exactly in the target type, so the re-toner's correction rounds are skipped (one shift
    from the first measurement). ``pick(i, rng)`` returns one of image ``i``'s versions, or None
    when the image has no measurable skin. ``progress`` (:mod:`fairskin.progress`) sees the count of
    images re-toned."""

    def __init__(self, images, types: np.ndarray, *, progress=None):
        import hashlib

        import torch

        from fairskin.audits.classifier import CounterfactualConfig, retone_many

        self.p = RETONE_P
        key = hashlib.sha256(images.numpy().tobytes() + np.asarray(types, np.int64).tobytes()).hexdigest()
        if _LAST_BANK.get("key") == key:
            self.versions, self.n_made, self.n_failed = _LAST_BANK["value"]
            return
        self.versions: list[torch.Tensor | None] = []
        self.n_made = self.n_failed = 0
        config = CounterfactualConfig(correction_rounds=0)
        for i in range(len(images)):
            rgb = images[i].permute(1, 2, 0).numpy()
            targets = [t for t in FST_TYPES if t != int(types[i])]
            made = [m for m in retone_many(rgb, targets, config=config) if m.status == "ok"]
            self.n_made += len(made)
            self.n_failed += len(targets) - len(made)
            self.versions.append(torch.from_numpy(np.stack([m.rgb for m in made])).permute(0, 3, 1, 2).contiguous()
                                 if made else None)
            report(progress, "re-toning", i + 1, len(images))
        _LAST_BANK.clear()
        _LAST_BANK.update(key=key, value=(self.versions, self.n_made, self.n_failed))

    def pick(self, i: int, rng: np.random.Generator):
        v = self.versions[i]
        return None if v is None else v[int(rng.integers(len(v)))]

    def summary(self) -> dict:
        return {"retoned_versions": self.n_made, "retone_failed": self.n_failed,
                "images_without_version": sum(v is None for v in self.versions), "p": RETONE_P}


def ita_jitter(x, rng: np.random.Generator, *, half_range: tuple[float, float] = ITA_JITTER):
    """``x`` (uint8 ``(3, h, w)`` tensor) with its L* and b* shifted by uniform amounts in
    ``[-half_range, half_range]``, the whole image alike."""
    import torch

    dl, db = (rng.uniform(-h, h) for h in half_range)
    lab = srgb_to_lab(x.permute(1, 2, 0).numpy())
    lab[..., 0] = np.clip(lab[..., 0] + dl, 0, 100)
    lab[..., 2] += db
    rgb = np.clip(lab_to_srgb(lab) * 255 + 0.5, 0, 255).astype(np.uint8)
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
