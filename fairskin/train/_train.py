"""``fairskin train-classifier``: a timm malignant-vs-benign classifier, trained with early stopping on a
patient-level validation split, saved so that ``fairskin audit MODEL`` loads it without
``--trust-model`` (a state dict or safetensors file plus a JSON sidecar with the architecture and the
preprocessing).

Reads top to bottom: read and split the data, check the test set stays out, cache the images,
build the model (optionally from local weights), train with early stopping on the validation
AUROC, save the best epoch.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from fairskin.errors import InputError
from fairskin.settings import merge_settings
from fairskin.progress import Progress, report
from fairskin.train._fairness import AUGMENT_WORDS, AUGMENTS, GROUP_BALANCE, GroupDRO, RetoneBank, ita_jitter, mitigation
from fairskin.train._data import (
    CachedSet,
    ImageCache,
    check_test_isolation,
    group_ids,
    labels_of,
    image_paths,
    read_manifest,
    split_manifest,
)

__all__ = ["TrainConfig", "TrainResult", "ARCHS", "TINY_ARCH", "train_classifier", "build_model", "is_synthetic"]

#: architectures the published skin-tone benchmarks compare (any other timm name works too)
ARCHS = ("resnet18", "resnet50", "vgg16", "vit_base_patch16_224", "efficientnet_b0")
#: timm's own test network (a few thousand parameters): for CPU tests and the built-in demo
TINY_ARCH = "test_resnet"
CLASS_NAMES = ("benign", "malignant")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class TrainConfig:
    """Defaults of ``fairskin train-classifier`` (the CLI reads its option defaults from here)."""

    arch: str = "resnet18"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    image_size: int = 224  # side of the square the model sees (the audit's centre crop)
    resize: int | None = None  # shorter side before cropping; None: image_size * 8/7
    balance: Literal["none", "class_weights", "sampler"] = "class_weights"
    real_weight: float = 1.0  # weight of a real image relative to a synthetic one
    train_on: Literal["all", "real", "synthetic"] = "all"
    val_fraction: float = 0.2
    group_by: Literal["auto", "patient_id", "lesion_id", "image"] = "auto"
    patience: int = 5
    num_workers: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision and channels-last, on a GPU only
    hair_removal: bool = False  # DullRazor on every image before training (and, from the metadata, in the audit)
    seed: int = 0
    split_seed: int = 0
    #: cheap fixes (``fairskin.train._fairness``): skin-type group x diagnosis reweighting or resampling,
    #: colour augmentation, Group DRO over skin-type groups
    group_balance: Literal["none", "reweight", "resample"] = "none"
    augment: Literal["none", "retone", "ita_jitter"] = "none"
    group_dro: bool = False
    dro_step: float = 0.01


@dataclass
class TrainResult:
    model_path: Path
    metadata_path: Path
    metadata: dict[str, Any]
    history: list[dict[str, float]]
    best_epoch: int
    best_val_auroc: float | None
    #: the validation split scored by the best epoch: image, score, label, fst_group, diagnosis, correct
    val_predictions: pd.DataFrame = field(repr=False)
    seconds: float = 0.0


def is_synthetic(df: pd.DataFrame) -> np.ndarray:
    if "synthetic" not in df.columns:
        return np.zeros(len(df), bool)
    return df["synthetic"].astype("string").str.lower().isin(("true", "1")).to_numpy()


def check_arch(arch: str) -> None:
    """Raise :class:`InputError` naming ``arch`` in full, with examples and the closest timm name,
    unless it is a timm model name or the tiny test architecture."""
    if arch == TINY_ARCH:
        return
    _check_arch(arch)


def _check_arch(arch: str):
    import timm

    if not timm.is_model(arch):
        import difflib

        close = difflib.get_close_matches(arch, timm.list_models(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"arch: {arch!r} is not a timm model name (e.g. {', '.join(ARCHS)}, or {TINY_ARCH} for "
                         f"tests).{hint}")


def build_model(arch: str, *, image_size: int, pretrained: str | Path | None = None):
    """A timm model with two outputs (benign, malignant), built with ``pretrained=False``; weights
    from the local file ``pretrained`` where given (layers whose shape differs, such as the
    ImageNet head, are left at their initialisation). Returns (model, info about the weights)."""
    import timm
    import torch

    _check_arch(arch)
    model = timm.create_model(arch, pretrained=False, num_classes=len(CLASS_NAMES))
    fixed = model.pretrained_cfg.get("fixed_input_size", False)
    native = model.pretrained_cfg.get("input_size", (3, image_size, image_size))[-1]
    if fixed and native != image_size:
        raise InputError(f"image_size: {arch} takes {native} px inputs only; got image_size={image_size}")
    info = {"pretrained": None}
    if pretrained is not None:
        path = Path(pretrained)
        if not path.is_file():
            raise InputError(f"pretrained: file not found: {path}")
        from fairskin.weights import load_weights

        state = load_weights(path, arg="pretrained")  # tensors only (weights_only=True, torch >= 2.6)
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        if not isinstance(state, dict):
            raise InputError(f"pretrained: {path} holds a {type(state).__name__}, expected a state dict")
        own = model.state_dict()
        state = {k.removeprefix("module."): v for k, v in state.items()}
        fit = {k: v for k, v in state.items() if k in own and getattr(v, "shape", None) == own[k].shape}
        if not fit:
            raise InputError(f"pretrained: no tensor of {path} fits {arch} (e.g. {next(iter(state), None)!r}); "
                             "check that the weights are for this architecture")
        model.load_state_dict(fit, strict=False)
        info = {"pretrained": str(path), "loaded_tensors": len(fit), "model_tensors": len(own),
                "skipped": sorted(set(state) - set(fit))[:20]}
    return model, info


def _prepare_splits(manifest, synthetic, test, *, val_fraction, group_by, split_seed, train_on):
    df = read_manifest(manifest)
    syn_mask = is_synthetic(df)
    real = df[~syn_mask].copy()
    real.attrs = dict(df.attrs)
    syn_parts = []
    if syn_mask.any():
        s = df[syn_mask].copy()
        s.attrs = dict(df.attrs)
        syn_parts.append(s)
    if synthetic is not None:
        s = read_manifest(synthetic, arg="synthetic")
        keep = is_synthetic(s) if "synthetic" in s.columns else np.ones(len(s), bool)
        s2 = s[keep].copy()
        s2.attrs = dict(s.attrs)
        syn_parts.append(s2)
    if "split" in real.columns:
        split = real["split"].astype("string").fillna("train").str.strip().str.lower().to_numpy(object)
        bad = sorted(set(split) - {"train", "val", "test"})
        if bad:
            raise InputError(f"split: manifest column 'split' has value {bad[0]!r}; expected train, val or test")
    else:
        split = split_manifest(real, val_fraction=val_fraction, seed=split_seed, group_by=group_by)
    tr, va, te = (real[split == s].copy() for s in ("train", "val", "test"))
    for p in (tr, va, te):
        p.attrs = dict(real.attrs)
    syn = _concat_syn(syn_parts)
    tests = [te] if len(te) else []
    if test is not None:
        tests.append(read_manifest(test, arg="test"))
    for t in tests:
        check_test_isolation(train=tr, val=va, test=t, synthetic=syn)
    if len(va) == 0:
        raise InputError("val: the validation split is empty; early stopping needs one (raise val_fraction or give "
                         "rows with split=val). The test set is never used in its place")
    te = tests[-1] if tests else te
    if train_on == "real":
        syn = None
    if train_on == "synthetic":
        if syn is None or not len(syn):
            raise InputError("train_on='synthetic': no synthetic images given (synthetic=... or rows with "
                             "synthetic=True)")
        tr = tr.iloc[0:0]
    return tr, va, te, syn


def _concat_syn(parts):
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    # different roots: make image paths absolute
    out = []
    for p in parts:
        q = p.copy()
        q["image"] = [str(x) for x in image_paths(p)]
        out.append(q)
    res = pd.concat(out, ignore_index=True)
    res.attrs = {"root": "/"}
    return res


def epoch_line(rec: dict) -> str:
    """The line an epoch's record is reported as (``progress``)."""
    auc = "n/a" if rec["val_auroc"] is None else f"{rec['val_auroc']:.3f}"
    return (f"epoch {rec['epoch']}: train loss {rec['train_loss']:.3f}, validation AUROC {auc}, "
            f"{rec['train_images_per_s']:.0f} images/s")


def _normalise(x, mean, std):
    return (x.float() / 255.0 - mean) / std


def train_classifier(
    manifest,
    *,
    out: str | Path,
    synthetic=None,
    test=None,
    pretrained: str | Path | None = None,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    **settings: Any,
) -> TrainResult:
    """Train a malignant-vs-benign classifier and save it for ``fairskin audit``.

    Settings: ``settings`` (any :class:`TrainConfig` field, e.g. ``arch="resnet18", epochs=5``)
    win over ``config`` (a :class:`TrainConfig`), which wins over the defaults
    (:func:`fairskin.settings.merge_settings`), so a new setting is one field of :class:`TrainConfig`.
    The body runs checks, data, loaders, the epoch loop and the save in order. Long because the
    epoch loop and the save share the model, optimiser, loaders and best state, so it stays one
    function.

    Parameters
    ----------
    manifest : data set directory, manifest CSV or DataFrame. A ``split`` column (train / val /
        test) is used as given; otherwise real rows are split into train and val by patient (or
        lesion) with ``val_fraction`` and ``split_seed``. Rows with ``synthetic=True`` are training
        images only.
    out : model file, ``.pt``/``.pth`` (state dict) or ``.safetensors``; the metadata is written
        beside it as ``OUT.json`` (architecture, classes, preprocessing, training record).
    synthetic : more synthetic images (manifest CSV/DataFrame), training only.
    test : the held-out test set (directory, CSV or DataFrame), used only for the checks: no test
        image, test patient or test-derived synthetic image may reach training or validation.
    pretrained : local weights file (state dict or safetensors) to start from; otherwise from scratch.
    balance : ``class_weights`` (loss weighted by inverse class frequency), ``sampler`` (weighted
        random sampler) or ``none``.
    real_weight : weight of a real image relative to a synthetic one (loss or sampler).
    train_on : ``all``, ``real`` (ignore synthetic rows) or ``synthetic`` (synthetic only, e.g. to
        pretrain; validation stays real).
    amp : mixed precision (fp16 autocast + grad scaling) and channels-last, used only on CUDA.
    hair_removal : inpaint hair (DullRazor, :func:`fairskin.data.remove_hair`) in every training and
        validation image; saved in the metadata, so ``fairskin audit`` does the same to its images.
    group_balance : ``reweight`` (loss) or ``resample`` (sampler) by the inverse frequency of each
        image's skin-type group x diagnosis cell; replaces ``balance`` (the cells balance the classes).
    augment : ``retone`` (healthy skin re-toned to other types, lesion untouched) or ``ita_jitter``
        (L*/b* shift of the whole image), training images only.
    group_dro : online Group DRO over skin-type groups with step ``dro_step`` (Sagawa et al. 2020).
    progress : a :data:`fairskin.progress.Progress`: one line per epoch (:func:`epoch_line`), and the
        count of the images re-toned for ``augment="retone"``.
    """
    import torch
    from torch.utils.data import DataLoader, WeightedRandomSampler

    from fairskin.audits.classifier import choose_device
    from fairskin.audits.classifier import point_metrics

    t0 = time.perf_counter()
    cfg = merge_settings(config or TrainConfig(), settings, option="train_classifier")
    out = Path(out)
    if out.suffix.lower() not in (".pt", ".pth", ".safetensors"):
        raise InputError(f"out: {out.name!r} must end in .pt, .pth or .safetensors (a state dict, which `fairskin audit` "
                         "loads without `--trust-model`)")
    for name, v, lo in (("epochs", cfg.epochs, 1), ("batch_size", cfg.batch_size, 1), ("image_size", cfg.image_size, 8),
                        ("patience", cfg.patience, 1)):
        if not isinstance(v, int) or v < lo:
            raise InputError(f"{name}: expected a whole number >= {lo}, got {v!r}")
    if cfg.balance not in ("none", "class_weights", "sampler"):
        raise InputError(f"balance: expected 'none', 'class_weights' or 'sampler', got {cfg.balance!r}")
    if cfg.train_on not in ("all", "real", "synthetic"):
        raise InputError(f"train_on: expected 'all', 'real' or 'synthetic', got {cfg.train_on!r}")
    if cfg.group_balance not in GROUP_BALANCE:
        raise InputError(f"group_balance: expected one of {', '.join(GROUP_BALANCE)}, got {cfg.group_balance!r}")
    if cfg.augment not in AUGMENTS:
        raise InputError(f"augment: expected one of {', '.join(AUGMENTS)}, got {cfg.augment!r}")
    if not cfg.dro_step > 0:
        raise InputError(f"dro_step: expected a positive number, got {cfg.dro_step!r}")
    if not cfg.real_weight > 0:
        raise InputError(f"real_weight: expected a positive number, got {cfg.real_weight!r}")
    _check_arch(cfg.arch)
    resize = cfg.resize or int(round(cfg.image_size * 8 / 7))
    if resize < cfg.image_size:
        raise InputError(f"resize: {resize} is smaller than image_size {cfg.image_size}; the crop must fit")

    tr, va, te, syn = _prepare_splits(manifest, synthetic, test, val_fraction=cfg.val_fraction, group_by=cfg.group_by,
                                      split_seed=cfg.split_seed, train_on=cfg.train_on)
    train_paths = image_paths(tr) + (image_paths(syn) if syn is not None and len(syn) else [])
    y_train = np.concatenate([labels_of(tr, arg="manifest"),
                              labels_of(syn, arg="synthetic") if syn is not None and len(syn) else np.zeros(0, int)])
    src_w = np.concatenate([np.full(len(tr), float(cfg.real_weight)),
                            np.ones(len(syn) if syn is not None else 0)])
    if len(train_paths) == 0:
        raise InputError("train: no training images")
    if len(set(y_train.tolist())) < 2:
        raise InputError(f"train: all {len(y_train)} training images have the same label "
                         f"({CLASS_NAMES[int(y_train[0])]}); a classifier needs both")
    y_val = labels_of(va, arg="val")

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    dev = choose_device(cfg.device)
    use_amp = bool(cfg.amp) and dev.startswith("cuda")
    counts = np.bincount(y_train, weights=src_w, minlength=2)
    class_w = counts.sum() / (2 * np.maximum(counts, 1e-9))
    train_rows = pd.concat([tr, syn]) if syn is not None and len(syn) else tr
    fix = mitigation(train_rows, group_balance=cfg.group_balance, augment=cfg.augment)
    if cfg.group_balance != "none":  # the cells' inverse frequencies replace the class balance
        class_w = np.ones(2)
        sampler_w = src_w * fix.cell_w if cfg.group_balance == "resample" else None
        loss_w = src_w * fix.cell_w if cfg.group_balance == "reweight" else np.ones(len(y_train))
    else:
        sampler_w = src_w * class_w[y_train] if cfg.balance == "sampler" else None
        loss_w = src_w * class_w[y_train] if cfg.balance == "class_weights" else (
            src_w if cfg.balance == "none" else np.ones(len(y_train)))

    cache = ImageCache(train_paths, resize=resize, hair_removal=cfg.hair_removal)
    val_cache = ImageCache(image_paths(va), resize=resize, hair_removal=cfg.hair_removal)
    retone = RetoneBank(cache.images, fix.types, progress=progress) if cfg.augment == "retone" else None
    train_set = CachedSet(cache, y_train, loss_w, crop=cfg.image_size, train=True, seed=cfg.seed, groups=fix.group_index,
                          retone=retone, colour=ita_jitter if cfg.augment == "ita_jitter" else None)
    val_set = CachedSet(val_cache, y_val, np.ones(len(y_val)), crop=cfg.image_size, train=False)
    gen = torch.Generator().manual_seed(cfg.seed)
    dro = GroupDRO(len(fix.group_names), step=cfg.dro_step) if cfg.group_dro else None
    if sampler_w is not None:
        sampler = WeightedRandomSampler(torch.as_tensor(sampler_w, dtype=torch.double),
                                        num_samples=len(y_train), replacement=True, generator=gen)
        loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                            drop_last=len(y_train) > cfg.batch_size)
    else:
        loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, num_workers=cfg.num_workers,
                            drop_last=len(y_train) > cfg.batch_size)
    val_loader = DataLoader(val_set, batch_size=max(cfg.batch_size, 64), shuffle=False, num_workers=cfg.num_workers)

    model, weights_info = build_model(cfg.arch, image_size=cfg.image_size, pretrained=pretrained)
    model = model.to(dev)
    if use_amp:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    mean = torch.tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)

    def to_input(x):
        x = _normalise(x.to(dev, non_blocking=True), mean, std)
        return x.contiguous(memory_format=torch.channels_last) if use_amp else x

    def evaluate() -> tuple[np.ndarray, float]:
        model.eval()
        scores, losses = [], []
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            for x, y, _, _ in val_loader:
                logits = model(to_input(x)).float()
                losses.append(torch.nn.functional.cross_entropy(logits, y.to(dev), reduction="sum").item())
                scores.append(torch.softmax(logits, 1)[:, 1].cpu().double().numpy())
        return np.concatenate(scores), float(sum(losses) / max(len(y_val), 1))

    history: list[dict[str, float]] = []
    best = (-math.inf, None, -1, None)  # (selection value, state, epoch, val scores)
    for epoch in range(cfg.epochs):
        train_set.epoch = epoch
        model.train()
        t_ep, seen, total = time.perf_counter(), 0, 0.0
        for x, y, w, g in loader:
            x, y, w = to_input(x), y.to(dev), w.to(dev)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                logits = model(x)
            ce = torch.nn.functional.cross_entropy(logits.float(), y, reduction="none")
            loss = (ce * w).sum() / w.sum() if dro is None else dro.loss(ce, g.to(dev), w)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            seen += len(y)
            total += loss.item() * len(y)
        sched.step()
        train_seconds = time.perf_counter() - t_ep
        val_scores, val_loss = evaluate()
        val_auroc = point_metrics(val_scores, y_val.astype(bool))["auroc"]
        select = val_auroc if not math.isnan(val_auroc) else -val_loss
        rec = {"epoch": epoch + 1, "train_loss": total / max(seen, 1), "val_loss": val_loss,
               "val_auroc": None if math.isnan(val_auroc) else val_auroc, "train_images_per_s": seen / train_seconds,
               "seconds": time.perf_counter() - t_ep}
        history.append(rec)
        if select > best[0]:
            best = (select, copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()}), epoch + 1,
                    val_scores)
        report(progress, "training", message=epoch_line(rec))
        if epoch + 1 - best[2] >= cfg.patience:
            break
    _, state, best_epoch, val_scores = best
    model.load_state_dict(state)

    # ---- save -------------------------------------------------------------------------------------------
    groups, grouped_by = group_ids(pd.concat([tr, va]) if len(tr) else va)
    meta = {
        "arch": cfg.arch, "num_classes": len(CLASS_NAMES), "class_names": list(CLASS_NAMES),
        "positive_class": "malignant", "output": "logits", "threshold": 0.5,
        "resize": resize, "crop": cfg.image_size, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
        **({"hair_removal": True} if cfg.hair_removal else {}),
        "training": {
            "fairskin_train": 1, "seed": cfg.seed, "split_seed": cfg.split_seed, "epochs_run": len(history),
            "best_epoch": best_epoch, "selected_on": "validation AUROC (validation loss where undefined)",
            "best_val_auroc": history[best_epoch - 1]["val_auroc"], "n_train_real": len(tr),
            "n_train_synthetic": 0 if syn is None else len(syn), "n_val": len(va), "n_test_checked": len(te),
            "split_unit": grouped_by, "balance": cfg.balance, "real_weight": cfg.real_weight, "train_on": cfg.train_on,
            "lr": cfg.lr, "weight_decay": cfg.weight_decay, "batch_size": cfg.batch_size, "device": dev, "amp": use_amp,
            "augmentation": f"random {cfg.image_size} crop of the {resize} px centre square, horizontal and vertical "
                            "flips; " + AUGMENT_WORDS[cfg.augment],
            "weights": weights_info, "mitigation": fix.record(retone, dro), "history": history,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if out.suffix.lower() == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    else:
        torch.save(state, str(tmp))
    meta_path = out.with_name(out.name + ".json")
    meta_tmp = meta_path.with_name(meta_path.name + ".tmp")
    meta_tmp.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    os.replace(meta_tmp, meta_path)
    os.replace(tmp, out)

    fst_group = (va["fst_group_human"].astype("string").fillna("").to_numpy(object) if "fst_group_human" in va
                 else np.full(len(va), "", object))
    val_pred = pd.DataFrame({
        "image": va["image"].astype(str).to_numpy(), "score": val_scores, "label": y_val,
        "fst_group": fst_group,
        "diagnosis": va["diagnosis"].astype("string").fillna("").to_numpy(object) if "diagnosis" in va else "",
    })
    val_pred["correct"] = (val_pred["score"] >= 0.5).astype(int) == val_pred["label"]
    val_pred.attrs["root"] = va.attrs.get("root")
    return TrainResult(model_path=out, metadata_path=meta_path, metadata=meta, history=history,
                       best_epoch=best_epoch, best_val_auroc=history[best_epoch - 1]["val_auroc"],
                       val_predictions=val_pred, seconds=time.perf_counter() - t0)
