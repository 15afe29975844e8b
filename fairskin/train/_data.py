"""Training data: reading a manifest, patient-level splits, the leak checks, and a torch data set.

The held-out test set is kept apart by three checks that raise :class:`InputError`:

* no training or validation image is a test image (compared by resolved file path);
* no patient (or lesion) has images on both sides;
* no synthetic training image was generated from a test image (its ``source_image``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.data import read_csv_table, resampling_units
from fairskin.errors import InputError
from fairskin.settings import seed_stream

__all__ = ["read_manifest", "split_manifest", "group_ids", "check_test_isolation", "labels_of", "image_paths",
           "ImageCache"]

SPLITS = ("train", "val", "test")


def read_manifest(manifest, *, arg: str = "manifest") -> pd.DataFrame:
    """A manifest DataFrame (kept as is), a data set directory (:func:`fairskin.data.read_dataset`) or a
    manifest CSV (e.g. ``fairskin balance``'s ``OUT/manifest.csv``; paths relative to its folder)."""
    if isinstance(manifest, pd.DataFrame):
        if not manifest.attrs.get("root"):
            raise InputError(f"{arg}: the DataFrame has no attrs['root'] (the folder its 'image' paths are "
                             "relative to); read it with fairskin.data.read_dataset or set df.attrs['root']")
        return manifest
    path = Path(manifest)
    if path.is_dir():
        from fairskin.data import read_dataset

        return read_dataset(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        df = read_csv_table(path, arg=arg)[0].replace({"": pd.NA})
        if "image" not in df.columns:
            raise InputError(f"{arg}: {path} has no 'image' column; expected a fairskin manifest CSV "
                             f"(columns image, malignant, ...); found: {', '.join(df.columns)}")
        df.attrs["root"] = str(path.parent.resolve())
        plan = path.parent / "plan.json"  # fairskin balance: source_image is relative to its input data root
        if plan.is_file():
            import json

            try:
                data_root = json.loads(plan.read_text(encoding="utf-8")).get("data")
            except (json.JSONDecodeError, AttributeError):
                data_root = None
            if isinstance(data_root, str) and data_root:
                df.attrs["source_root"] = str(Path(data_root).resolve())
        return df
    raise InputError(f"{arg}: {path} is neither a data set directory nor a manifest .csv file")


def labels_of(df: pd.DataFrame, *, arg: str = "manifest") -> np.ndarray:
    """The ``malignant`` column as 0/1; refuses rows without a label."""
    if "malignant" not in df.columns:
        raise InputError(f"{arg}: no 'malignant' column; training needs a malignant/benign label per image")
    col = df["malignant"]
    vals = []
    for i, v in enumerate(col):
        if pd.isna(v):
            raise InputError(f"{arg}: row {i} ({df['image'].iloc[i]!r}) has no malignant label; drop unlabelled rows")
        s = str(v).strip().lower()
        if s in ("true", "1", "1.0", "malignant"):
            vals.append(1)
        elif s in ("false", "0", "0.0", "benign"):
            vals.append(0)
        else:
            raise InputError(f"{arg}: row {i} has malignant={v!r}; expected True/False, 1/0 or malignant/benign")
    return np.asarray(vals, dtype=np.int64)


def image_paths(df: pd.DataFrame) -> list[Path]:
    root = Path(df.attrs.get("root") or ".")
    return [(root / str(p)).resolve() for p in df["image"]]


def _ids(df: pd.DataFrame, col: str) -> pd.Series | None:
    if col not in df.columns:
        return None
    s = df[col].astype("string").str.strip()
    s = s.where(s.notna() & (s != ""), pd.NA)
    return s if s.notna().any() else None


def group_ids(df: pd.DataFrame, *, group_by: str = "auto") -> tuple[np.ndarray, str]:
    """The unit a split must keep together: ``patient_id`` where the data set has it, else
    ``lesion_id``, else the image (``group_by`` names one). The units of the chosen column are
    :func:`fairskin.data.resampling_units`' (the one rule: a row without an id is its own unit).
    Returns ``(units, column)``, ``column`` "image" when no id column is used."""
    if group_by not in ("auto", "patient_id", "lesion_id", "image"):
        raise InputError(f"group_by: expected 'auto', 'patient_id', 'lesion_id' or 'image', got {group_by!r}")
    order = ("patient_id", "lesion_id") if group_by == "auto" else (() if group_by == "image" else (group_by,))
    for col in order:
        if _ids(df, col) is not None:
            return resampling_units(df[col])[0].astype(str), col
        if group_by != "auto":
            raise InputError(f"group_by={group_by!r}: the manifest has no {group_by} values")
    return resampling_units(np.full(len(df), ""))[0].astype(str), "image"


def _strata(df: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    grp = df["fst_group_human"].astype("string").fillna("?") if "fst_group_human" in df else pd.Series("?", index=df.index)
    return (grp.astype(str) + ":" + pd.Series(y, index=df.index).astype(str)).to_numpy(str)


def split_manifest(df: pd.DataFrame, *, val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0,
                   group_by: str = "auto") -> np.ndarray:
    """Assign every row to ``train``, ``val`` or ``test`` so that one patient (lesion) never sits in
    two splits; groups are shuffled with ``seed`` and filled per stratum (skin-type group x label) so
    each split has about the requested share of each stratum. Returns an array of split names."""
    for name, v in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= v < 1:
            raise InputError(f"{name}: expected a fraction in [0, 1), got {v!r}")
    if val_fraction + test_fraction >= 1:
        raise InputError(f"val_fraction + test_fraction: {val_fraction} + {test_fraction} leaves no training images")
    groups, _ = group_ids(df, group_by=group_by)
    y = labels_of(df)
    strata = _strata(df, y)
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"g": groups, "s": strata})
    # a group's stratum is that of its first row (patients are rarely in two strata)
    gs = frame.groupby("g", sort=True).agg(s=("s", "first"), n=("s", "size"))
    out = {}
    for _, part in gs.groupby("s", sort=True):
        names = part.index.to_numpy()
        sizes = part["n"].to_numpy()
        perm = rng.permutation(len(names))
        total = sizes.sum()
        cum = np.cumsum(sizes[perm])
        n_test, n_val = test_fraction * total, val_fraction * total
        for rank, j in enumerate(perm):
            before = cum[rank] - sizes[j]
            out[names[j]] = ("test" if before < n_test - 1e-9 and test_fraction > 0 else
                             "val" if before < n_test + n_val - 1e-9 and val_fraction > 0 else "train")
    return np.array([out[g] for g in groups], dtype=object)


def check_test_isolation(*, train: pd.DataFrame, val: pd.DataFrame | None, test: pd.DataFrame,
                         synthetic: pd.DataFrame | None = None) -> None:
    """Refuse any way the held-out test set could reach training or model selection."""
    test_paths = set(map(str, image_paths(test)))
    for name, part, why in (("val", val, "the test set must never be used for model selection or early stopping"),
                            ("train", train, "a test image must never be trained on")):
        if part is None or len(part) == 0:
            continue
        hit = [p for p, rel in zip(map(str, image_paths(part)), part["image"].astype(str)) if p in test_paths]
        if hit:
            label = "validation" if name == "val" else "training"
            raise InputError(f"{name}: {len(hit)} of the {len(part)} {label} images are in the held-out test set "
                             f"(e.g. {hit[0]!r}); {why}")
    real_parts = [p for p in (train, val) if p is not None and len(p)]
    for col in ("patient_id", "lesion_id"):
        t = _ids(test, col)
        if t is None:
            continue
        tset = set(t.dropna())
        for part in real_parts:
            s = _ids(part, col)
            if s is None:
                continue
            if "synthetic" in part.columns:
                s = s[~part["synthetic"].astype(str).str.lower().isin(("true", "1"))]
            both = sorted(set(s.dropna()) & tset)
            if both:
                raise InputError(f"{col}: {len(both)} {col.removesuffix('_id')}(s) have images both in the training "
                                 f"data and in the held-out test set (e.g. {both[0]!r}); split by {col} so that one "
                                 f"{col.removesuffix('_id')} never sits on both sides")
    if synthetic is not None and len(synthetic) and "source_image" in synthetic.columns:
        src = synthetic["source_image"].astype("string")
        src = src[src.notna() & (src.str.strip() != "")]
        if len(src):
            # source_image is relative to the real data root the generator read (fairskin balance's input)
            roots = {Path(p.attrs["root"]) for p in (train, val) if p is not None and p.attrs.get("root")}
            roots.add(Path(synthetic.attrs.get("root") or "."))
            roots |= {Path(p.attrs["source_root"]) for p in (train, synthetic) if p.attrs.get("source_root")}
            hits = []
            for s in src.astype(str):
                cands = {str((r / s).resolve()) for r in roots}
                if cands & test_paths:
                    hits.append(s)
            if hits:
                raise InputError(f"synthetic: {len(hits)} synthetic image(s) were generated from held-out test images "
                                 f"(source_image {hits[0]!r}); a synthetic training image must never start from a "
                                 "test image: regenerate them from training images only")


class ImageCache:
    """Images decoded once (hair inpainted first with ``hair_removal``, as the audit does for a model
    whose metadata says so), resized like the audit's preprocessing (shorter side to ``resize``,
    centre crop to a ``resize`` square), kept as one uint8 tensor ``(n, 3, resize, resize)``."""

    def __init__(self, paths: list[Path], *, resize: int, num_workers: int = 0, hair_removal: bool = False):
        import torch
        from PIL import Image

        from fairskin.data import ImageLoadError, load_rgb, remove_hair

        arr = np.zeros((len(paths), resize, resize, 3), np.uint8)
        for i, p in enumerate(paths):
            try:
                rgb = load_rgb(p).rgb
            except ImageLoadError as exc:
                raise InputError(f"image {str(p)!r}: {exc.status}: {exc.reason}; fix or drop the row") from None
            im = Image.fromarray(remove_hair(rgb) if hair_removal else rgb)
            w, h = im.size
            scale = resize / min(w, h)
            im = im.resize((max(resize, round(w * scale)), max(resize, round(h * scale))), Image.BILINEAR)
            w, h = im.size
            left, top = (w - resize) // 2, (h - resize) // 2
            arr[i] = np.asarray(im.crop((left, top, left + resize, top + resize)))
        self.images = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()

    def __len__(self) -> int:
        return len(self.images)


class CachedSet:
    """torch Dataset over an :class:`ImageCache`: training rows get a random ``crop`` and flips
    (seeded per epoch and index), evaluation rows the centre crop. No colour jitter unless asked:
    skin colour is the attribute under study. The cheap-fix arms' colour augmentations
    (``fairskin.train._fairness``) come in as ``retone`` (a bank of re-toned versions, one drawn
    before the crop) and ``colour`` (a function of the crop and the row's generator). Each row
    also returns its group index (``groups``, for Group DRO)."""

    def __init__(self, cache: ImageCache, labels: np.ndarray, weights: np.ndarray, *, crop: int, train: bool,
                 seed: int = 0, groups: np.ndarray | None = None, retone=None, colour=None):
        self.cache, self.labels, self.weights = cache, labels, weights
        self.crop, self.train, self.seed, self.epoch = crop, train, seed, 0
        self.groups = np.zeros(len(labels), int) if groups is None else np.asarray(groups, int)
        self.retone, self.colour = retone, colour

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, i):
        import torch

        x = self.cache.images[i]
        r, c = x.shape[-1], self.crop
        if self.train:
            rng = np.random.default_rng(seed_stream(self.seed, self.epoch, int(i)))
            if self.retone is not None and rng.random() < self.retone.p:
                v = self.retone.pick(int(i), rng)
                x = x if v is None else v
            top, left = rng.integers(0, r - c + 1, size=2)
            x = x[:, top:top + c, left:left + c]
            if rng.random() < 0.5:
                x = x.flip(2)
            if rng.random() < 0.5:
                x = x.flip(1)
            if self.colour is not None:
                x = self.colour(x, rng)
        else:
            o = (r - c) // 2
            x = x[:, o:o + c, o:o + c]
        return (x, torch.tensor(self.labels[i]), torch.tensor(self.weights[i], dtype=torch.float32),
                torch.tensor(self.groups[i]))
