"""``fairskin balance``: plan -> (train conditioning) -> generate -> ITA gate -> balanced manifest.

Output folder
-------------
``OUT/plan.json``, ``OUT/plan.csv``
    the plan (per cell: real, generate, final) and its fingerprint.
``OUT/run.json``
    what this folder was made with (plan fingerprint, conditioning hash, generation settings); a
    rerun with other settings is refused unless ``overwrite=True``.
``OUT/attempts-<rank>.csv``
    every generation attempt with its provenance, accepted or rejected (append-only, one file per
    process; a row is written and fsync'ed only after its image is on disk).
``OUT/images/``
    accepted images, plus ``metadata.csv``: a Hugging Face ``imagefolder`` data set
    (``load_dataset("imagefolder", data_dir="OUT/images")``).
``OUT/rejected/``
    images the gate rejected (for inspection).
``OUT/manifest.csv``
    the balanced manifest: real rows (paths relative to OUT) and accepted synthetic rows, with the
    columns of :data:`fairskin.data._manifest.SYNTHETIC_COLUMNS`, then ``image_path``: the image's
    true path, written so that no spreadsheet runs it (``./`` before a relative path). Text cells a
    spreadsheet would run as a formula (``=...``, ``+...``, ``-...``, ``@...``) are written with a
    leading ``'``, which fairskin's readers remove (:mod:`fairskin.outputs`).

Resuming: a rerun reads the attempt logs, skips slots already accepted, and continues each
unfinished slot at its next attempt; an image written without its row is regenerated with the
same seed and replaced (images are written to a temporary name and renamed).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.balance._backend import DEFAULT_GENERATOR, TrainBudget, open_generator
from fairskin.balance._gated import PROVENANCE_COLUMNS, GatedAttempt, GenerateConfig, Slot, generate_gated, \
    generator_label
from fairskin.balance._plan import BalancePlan, PlanConfig, plan_balance
from fairskin.balance._tones import check_estimated_types
from fairskin.conditioning import GenerationRequest, StyleMix, image_styles
from fairskin.data import MANIFEST_COLUMNS, SYNTHETIC_COLUMNS, read_csv_table
from fairskin.skintone import get_scale
from fairskin.errors import InputError
from fairskin.notebook import NotebookView
from fairskin.outputs import atomic_path, atomic_write, claim_outputs, csv_safe, document_header, interruptible, \
    remove_stale_temporaries, truncate_torn_line, write_csv
from fairskin.progress import Progress

__all__ = ["balance", "BalanceResult", "ATTEMPT_COLUMNS"]

#: columns of the attempt logs: the image, the plan slot, and the provenance every generated image carries
ATTEMPT_COLUMNS = ["image", "image_id", "slot", *PROVENANCE_COLUMNS]


@dataclass(repr=False)
class BalanceResult(NotebookView):
    """``repr``, tidy ``to_frame()`` and ``_repr_html_``: ``fairskin.balance._notebook``."""

    _notebook = ("fairskin.balance._notebook", "balance")
    out: Path
    plan: BalancePlan
    manifest: Path | None = None
    metadata: Path | None = None
    summary: dict = field(default_factory=dict)
    dry_run: bool = False


def _save_png(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp)


class _AttemptLog:
    """Append-only CSV; each row flushed and fsync'ed before the next image is made."""

    def __init__(self, path: Path):
        self.path = path
        new = not path.exists() or path.stat().st_size == 0
        self.columns = ATTEMPT_COLUMNS
        if not new:
            truncate_torn_line(path)
            with open(path, newline="", encoding="utf-8") as fh:  # a log begun by an older version keeps its columns
                self.columns = next(csv.reader(fh), None) or ATTEMPT_COLUMNS
        self.fh = open(path, "a", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.fh, fieldnames=self.columns, extrasaction="ignore")
        if new:
            self.writer.writeheader()
            self._sync()

    def _sync(self):
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def write(self, row: dict) -> None:
        self.writer.writerow({k: csv_safe("" if row.get(k) is None else row.get(k)) for k in self.columns})
        self._sync()

    def close(self):
        self.fh.close()


def _read_attempts(out: Path) -> pd.DataFrame:
    frames = []
    for p in sorted(out.glob("attempts-*.csv")):
        truncate_torn_line(p)
        if p.stat().st_size == 0:
            continue
        df = read_csv_table(p, arg="")[0]
        if len(df):
            frames.append(df)
    if not frames:
        return pd.DataFrame(columns=ATTEMPT_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def balance(data, *, out: str | Path, labels: str | Path | None = None, target: str = PlanConfig.target,
            max_per_real: float = PlanConfig.max_per_real, conditioning: str | Path | None = None,
            base_model: str | Path | None = None, base_config: str | Path | None = None, train_config=None,
            generate: GenerateConfig = GenerateConfig(), generator: str = DEFAULT_GENERATOR,
            generator_dir: str | Path | None = None, scale: str | Path | None = None, dry_run: bool = False,
            overwrite: bool = False, format: str | None = None, device: str | None = None,
            json_path: str | Path | None = None, html: str | Path | None = None, progress: Progress | None = None,
            label_confusion: str | Path | None = None, accept_estimated_types: bool = False,
            train_budget: TrainBudget = TrainBudget()) -> BalanceResult:
    """Balance ``data`` to ``target``: plan, generate the missing images, gate them, write the manifest.

    Many parameters because each is one of the documented options of ``fairskin balance``, under
    the same name (the command passes them through one for one); generation, training budget and
    planning settings are already grouped (:class:`GenerateConfig`, :class:`TrainBudget`,
    ``train_config``).

    ``generator``: a registered generator (``stable-diffusion``, ``ddpm``, ``phantom``) or a user's
    ``module:Class``; its trained folder is ``conditioning`` (Stable Diffusion) or ``generator_dir``
    (others); without one a trainable generator is trained into OUT, with ``train_config`` (the
    generator's own config) when given, else for ``train_budget`` (a step count by default,
    :class:`TrainBudget`) with ``generate.seed``. The ITA gate reads types with
    the scale ``labels`` was written with (``scale``: that scale's CSV when it is not built in).

    ``out`` and the ``json_path`` / ``html`` files are checked before anything runs and locked while
    it does (one run per output folder); a run killed at any moment is finished by running it again.

    Estimated skin types (rows without a human type) are counted as the shares corrected for the
    labeller's confusion (``label_confusion``, else the one found beside ``labels``); without a
    known confusion, or with poor agreement, the plan is refused with the figures unless
    ``accept_estimated_types`` (:mod:`fairskin.balance._tones`).
    ``progress`` (:mod:`fairskin.progress`) sees the images generated (:func:`generate_gated`).
    Ctrl-C raises :class:`fairskin.errors.Interrupted` saying what was kept."""
    from fairskin.conditioning import generator_entry, labelled_manifest, labels_scale

    generator_entry(generator)  # an unknown --generator fails before anything is read
    out = Path(out)
    frame = labelled_manifest(data, labels=labels, format=format)
    gate_scale = labels_scale(labels, scale=scale)  # the gate reads types as the labels were read
    tones = check_estimated_types(frame, labels=labels, label_confusion=label_confusion,
                                  accept_estimated_types=accept_estimated_types)
    plan = plan_balance(frame, target=target, max_per_real=max_per_real, weights=tones.weights)
    plan.notes.extend(tones.notes)
    plan.estimated_types = tones.to_dict()
    plan.notes.extend(frame.attrs.get("label_warnings", []))  # what reading labels.csv resolved
    label_ita = _label_ita(labels)  # the report's captions of real images
    rank, world = (0, 1) if dry_run else _process_split()
    reports: dict = {}
    if rank == 0 and not dry_run:  # process 0 writes the summary and the report
        from fairskin.reports import report_outputs

        reports = {"json_path": json_path, **report_outputs(html, json_path=json_path)}
    with claim_outputs({"out": out, **reports}, overwrite=overwrite, kinds={"out": "dir"},
                       lock_tag=f"-rank{rank}" if world > 1 else ""):
        return _balance_claimed(frame, plan, out=out, rank=rank, world=world, conditioning=conditioning,
                                base_model=base_model, base_config=base_config, train_config=train_config,
                                train_budget=train_budget, generate=generate, generator=generator,
                                generator_dir=generator_dir,
                                scale=gate_scale, dry_run=dry_run, overwrite=overwrite, device=device,
                                json_path=json_path, html=html, progress=progress, label_ita=label_ita)


def _label_ita(labels) -> dict[str, float]:
    """image -> ITA (degrees) that ``fairskin label`` measured, from ``labels`` ({} without one)."""
    if labels is None:
        return {}
    from fairskin.label import read_labels_csv

    lab = read_labels_csv(Path(labels), arg="labels")
    if "ita" not in lab.columns:
        return {}
    ita = pd.to_numeric(lab["ita"], errors="coerce")
    return {str(i): float(v) for i, v in zip(lab["image"], ita) if v == v}


def _balance_claimed(frame: pd.DataFrame, plan: BalancePlan, *, out: Path, rank: int, world: int, conditioning,
                     base_model, base_config, train_config, train_budget: TrainBudget, generate: GenerateConfig,
                     generator: str, generator_dir,
                     scale, dry_run: bool, overwrite: bool, device, json_path, html, progress,
                     label_ita: dict[str, float] | None = None) -> BalanceResult:
    """:func:`balance` once this process holds the output folder (rank ``rank`` of ``world``):
    write the plan, open or train the generator, generate and gate, write the manifest.

    Many parameters because it receives :func:`balance`'s options one for one (under the same
    names), plus the plan, the process's rank and the labels' ITAs that :func:`balance` computed
    before claiming the folder."""
    data_root = Path(frame.attrs["root"])
    _check_plan_owner(out, plan, overwrite=overwrite)
    plan_doc = {**plan.to_dict(), "fingerprint": plan.fingerprint(), "data": str(data_root)}
    remove_stale_temporaries(out)
    atomic_write(out / "plan.json", json.dumps(plan_doc, indent=2, default=str))
    write_csv(plan.cells, out / "plan.csv")
    if dry_run:
        return BalanceResult(out=out, plan=plan, dry_run=True, summary={"plan": plan_doc})

    style_mix = StyleMix(frame)  # checks the manifest's style column before anything trains
    # ---- the generator: given, or trained here -----------------------------------------------------------
    device = _process_device(device, world)
    gen, identity = open_generator(frame, name=generator, out=out, conditioning=conditioning,
                                   generator_dir=generator_dir, base_model=base_model, base_config=base_config,
                                   train_config=train_config, train_budget=train_budget, generate=generate,
                                   device=device, world=world)
    # settings that change an image; batch size and the number of attempts do not (seeds are per slot
    # and attempt), so a rerun with more --max-attempts continues the slots a run left short
    run_doc = {"plan": plan.fingerprint(), **identity,
               "generate": {k: v for k, v in asdict(generate).items() if k not in ("batch_size", "max_attempts")}}
    if scale != get_scale():
        run_doc["scale"] = [scale.name, list(scale.cuts)]  # a run gated on the default scale keeps its old run.json
    _check_run_owner(out, run_doc, overwrite=overwrite)
    atomic_write(out / "run.json", json.dumps(run_doc, indent=2))

    # ---- which slots are this process's, and what is left --------------------------------------------------
    slots = plan.slots()
    mine = [s for i, s in enumerate(slots) if i % world == rank]
    done = _read_attempts(out)
    accepted = set(done.loc[done["gate"] == "accepted", "slot"]) if len(done) else set()
    tried = done.groupby("slot")["attempt"].apply(lambda a: max(int(x) for x in a)).to_dict() if len(done) else {}
    malignant = _cell_malignant(frame)
    todo = [Slot(s["slot"], GenerationRequest(fst=int(s["fst"]), diagnosis=str(s["diagnosis"]),
                                              malignant=malignant.get(s["diagnosis"])),
                 attempt=tried.get(s["slot"], 0) + 1) for s in mine if s["slot"] not in accepted]
    todo = [s for s in todo if s.attempt <= generate.max_attempts]
    for d in ("images", "rejected"):
        (out / d).mkdir(exist_ok=True)
        remove_stale_temporaries(out / d)

    t_gen = time.perf_counter()
    n_images = 0
    if todo:
        kept = (lambda: f"{len(_accepted_slots(out))} of {len(slots)} planned images are generated and kept in "
                        f"{out} (every attempt is logged in attempts-*.csv); run the same command again to resume")
        with interruptible(kept):
            n_images = _generate(todo, out=out, rank=rank, gen=gen, frame=frame, data_root=data_root,
                                 style_mix=style_mix, generate=generate, scale=scale, progress=progress)
    gen_seconds = time.perf_counter() - t_gen
    if generate.guidance is None and getattr(gen, "guidance", None) is not None:  # the value "auto" resolved to
        from dataclasses import replace

        generate = replace(generate, guidance=float(gen.guidance))

    if world > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()
        if rank != 0:
            return BalanceResult(out=out, plan=plan)
    with interruptible(lambda: f"every planned image is generated and kept in {out}; run the same command again "
                               "to write the manifest"):
        attempts = _read_attempts(out)
        _remove_orphans(out, attempts)
        manifest_path, metadata_path = _write_manifests(out, frame, data_root, attempts)
        summary = _summary(plan, attempts, frame, data_root, out, gen, generate, scale, label_ita=label_ita or {},
                           images_per_second=(n_images / gen_seconds) if n_images else None)
        if json_path:
            atomic_write(Path(json_path), json.dumps(summary, indent=2, default=str))
        if html:
            from fairskin.reports import render_balance_report

            render_balance_report(summary, html)
    return BalanceResult(out=out, plan=plan, manifest=manifest_path, metadata=metadata_path, summary=summary)


def _accepted_slots(out: Path) -> set[str]:
    done = _read_attempts(out)
    return set(done.loc[done["gate"] == "accepted", "slot"]) if len(done) else set()


def _remove_orphans(out: Path, attempts: pd.DataFrame) -> None:
    """Images no attempt log names (a run killed between writing an image and logging it) go: every
    file left in images/ and rejected/ is one the manifest or the logs account for."""
    logged = set(attempts["image"]) if len(attempts) else set()
    for d in ("images", "rejected"):
        for p in (out / d).glob("*.png"):
            if f"{d}/{p.name}" not in logged:
                p.unlink(missing_ok=True)


def _generate(todo: list[Slot], *, out: Path, rank: int, gen, frame: pd.DataFrame, data_root: Path,
              style_mix: StyleMix, generate: GenerateConfig, scale, progress) -> int:
    """Generate and gate every slot in ``todo`` through the one gated loop (retrying rejected ones up
    to ``max_attempts``); each image is on disk before its row is logged. Returns the number made."""
    from dataclasses import replace

    sources = _source_pool(frame) if generate.mode == "image" else None

    def prepare(request: GenerationRequest, seed: int) -> GenerationRequest:
        if sources is not None:  # image-to-image: a lighter real image, and its photo style
            path, style = _pick_source(sources, request.fst, request.diagnosis, seed)
            return replace(request, source_image=path, style=style)
        return replace(request, style=style_mix.draw(request.fst, request.diagnosis, seed))

    def keep(a: GatedAttempt) -> None:
        name = f"{a.slot.key}-a{a.attempt}"
        rel = f"images/{name}.png" if a.gate.accepted else f"rejected/{name}.png"
        _save_png(out / rel, a.rgb)
        log.write({**a.provenance, "image": rel, "image_id": name, "slot": a.slot.key})

    log = _AttemptLog(out / f"attempts-{rank}.csv")
    try:
        run = generate_gated(todo, generator=gen, root=data_root, config=generate, scale=scale, prepare=prepare,
                             on_attempt=keep, progress=progress)
    finally:
        log.close()
    return run.attempts


def _process_split() -> tuple[int, int]:
    """(process index, number of processes) under ``accelerate launch`` (or torchrun); (0, 1) otherwise.

    Processes that see no GPU join over gloo (accelerate's multi-CPU mode). If accelerate does not set
    up as many processes as the launcher started, every process would generate the whole plan into
    the same files: that is refused."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    from fairskin.errors import require

    torch = require("torch", extra="generate", feature="multi-process balance")
    require("accelerate", extra="generate", feature="multi-process balance")
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    if state.num_processes != world:
        raise InputError(f"WORLD_SIZE={world} but accelerate set up {state.num_processes} process(es) "
                         f"({state.distributed_type}); launch with `accelerate launch --multi_gpu --num_processes "
                         f"{world} -m fairskin balance ...` so that the plan is split, not generated {world} times")
    return state.process_index, state.num_processes


def _process_device(device: str | None, world: int) -> str | None:
    """Under several processes each takes its own GPU (accelerate's per-process device) unless told."""
    if device is not None or world <= 1:
        return device
    from accelerate import PartialState

    return str(PartialState().device)


def _check_plan_owner(out: Path, plan: BalancePlan, *, overwrite: bool) -> None:
    p = out / "plan.json"
    if not p.is_file():
        return
    old = json.loads(p.read_text(encoding="utf-8")).get("fingerprint")
    if old == plan.fingerprint():
        return
    if not overwrite:
        raise InputError(f"out={out}: holds the output of a different plan (fingerprint {old}, this plan "
                         f"{plan.fingerprint()}); choose another folder or pass overwrite=True to delete it")
    _clear(out)


def _check_run_owner(out: Path, run_doc: dict, *, overwrite: bool) -> None:
    p = out / "run.json"
    if not p.is_file():
        return
    old = json.loads(p.read_text(encoding="utf-8"))
    if old == json.loads(json.dumps(run_doc)):
        return
    if not overwrite:
        changed = sorted(k for k in run_doc if old.get(k) != json.loads(json.dumps(run_doc)).get(k))
        raise InputError(f"out={out}: was generated with other settings ({', '.join(changed)} differ); a rerun "
                         f"must use the same conditioning and generation options to resume, or pass overwrite=True")
    _clear(out, keep_conditioning=True)


def _clear(out: Path, keep_conditioning: bool = False) -> None:
    for p in list(out.glob("attempts-*.csv")) + [out / "manifest.csv", out / "run.json"]:
        p.unlink(missing_ok=True)
    for d in ("images", "rejected") + (() if keep_conditioning else ("conditioning",)):
        shutil.rmtree(out / d, ignore_errors=True)


def _cell_malignant(frame: pd.DataFrame) -> dict:
    m = frame.dropna(subset=["malignant"]).groupby("diagnosis")["malignant"].agg(lambda s: bool(s.mode().iloc[0]))
    return m.to_dict()


def _source_pool(frame: pd.DataFrame) -> dict:
    f = frame[~frame["fst"].isna()].reset_index(drop=True)
    return {"fst": f["fst"].astype(int).to_numpy(), "diagnosis": f["diagnosis"].astype(str).to_numpy(),
            "image": f["image"].astype(str).to_numpy(), "style": image_styles(f)}


def _pick_source(pool: dict, fst: int, diagnosis: str, seed: int):
    """A real image of the same diagnosis with a lighter skin type (else any lighter one), seeded."""
    lighter = pool["fst"] < fst
    cand = np.flatnonzero(lighter & (pool["diagnosis"] == diagnosis))
    if len(cand) == 0:
        cand = np.flatnonzero(lighter)
    if len(cand) == 0:
        raise InputError(f"mode='image': no real image lighter than type {fst} to re-tone; use mode='text'")
    i = int(cand[np.random.default_rng(seed).integers(len(cand))])
    return str(pool["image"][i]), pool["style"][i]


def _write_manifests(out: Path, frame: pd.DataFrame, data_root: Path, attempts: pd.DataFrame):
    real = frame.copy()
    rel = os.path.relpath(data_root.resolve(), out.resolve())
    real["image"] = [Path(rel, p).as_posix() for p in real["image"]]
    real["synthetic"] = False
    acc = attempts[attempts["gate"] == "accepted"].drop_duplicates("slot", keep="last").copy()
    acc = acc.sort_values("slot")
    syn = acc.drop(columns=["slot", "gate_reason"])
    syn["source"] = "synthetic"
    syn["status"] = "ok"
    syn["reason"] = ""
    cols = list(MANIFEST_COLUMNS) + list(SYNTHETIC_COLUMNS)
    merged = pd.concat([real.reindex(columns=cols), syn.reindex(columns=cols)], ignore_index=True)
    merged = merged.replace({"": pd.NA})
    for c, (dtype, _) in {**MANIFEST_COLUMNS, **SYNTHETIC_COLUMNS}.items():
        if dtype == "boolean":
            merged[c] = merged[c].map(lambda v: pd.NA if pd.isna(v) else str(v).lower() in ("true", "1")).astype("boolean")
        elif dtype in ("Int64", "Float64"):
            merged[c] = pd.to_numeric(merged[c], errors="coerce").astype(dtype)
        else:
            merged[c] = merged[c].astype(dtype)
    # the true path in a column no spreadsheet runs ("./" before a relative one); `image` itself is written
    # spreadsheet-safe (a leading ' before =, +, -, @), which fairskin's readers remove again
    merged["image_path"] = [p if p.startswith((".", "/")) else "./" + p for p in merged["image"].astype(str)]
    manifest = write_csv(merged, out / "manifest.csv")
    # Hugging Face imagefolder: metadata.csv next to the accepted images
    meta = pd.DataFrame({
        "file_name": [Path(p).name for p in acc["image"]],
        "fst": acc["fst"].to_numpy(), "diagnosis": acc["diagnosis"].to_numpy(),
        "malignant": acc["malignant"].to_numpy(), "synthetic": True,
        "ita_measured": acc["ita_measured"].to_numpy(), "prompt": acc["prompt"].to_numpy(),
        "seed": acc["seed"].to_numpy(),
    })
    metadata = write_csv(meta, out / "images" / "metadata.csv")
    return manifest, metadata


def _summary(plan: BalancePlan, attempts: pd.DataFrame, frame: pd.DataFrame, data_root: Path, out: Path, gen,
             generate: GenerateConfig, scale, images_per_second, label_ita: dict[str, float]) -> dict:
    """The ``fairskin.balance/1`` dict (docs/report-inputs.md) plus run figures."""
    cells = []
    for c in plan.cells.itertuples(index=False):
        a = attempts[(attempts["fst_requested"] == str(c.fst)) & (attempts["diagnosis"] == str(c.diagnosis))] \
            if len(attempts) else attempts
        acc = a[a["gate"] == "accepted"].drop_duplicates("slot") if len(a) else a
        rej = a[a["gate"] == "rejected"] if len(a) else a
        reasons = rej["gate_reason"].str.split(":").str[0].value_counts().to_dict() if len(rej) else {}
        real = frame[(frame["fst"] == c.fst) & (frame["diagnosis"].astype(str) == str(c.diagnosis))]
        samples_syn = [{"image": str((out / p).resolve()), "ita": _f(i), "accepted": g == "accepted", "seed": int(s)}
                       for p, i, g, s in zip(a["image"][:8], a["ita_measured"][:8], a["gate"][:8], a["seed"][:8])] if len(a) else []
        samples_real = [{"image": str((data_root / p).resolve()), "ita": label_ita.get(str(p))} for p in real["image"][:8]]
        cells.append({
            "fst": str(int(c.fst)), "diagnosis": str(c.diagnosis), "real": int(c.real), "target": int(c.final),
            "synthetic": int(len(acc)), "generated": int(len(a)), "to_generate": int(c.generate),
            "acceptance_rate": (len(acc) / len(a)) if len(a) else None,
            "rejected_reasons": {str(k): int(v) for k, v in reasons.items()},
            "samples": {"synthetic": samples_syn, "real": samples_real},
        })
    n_syn = sum(c["synthetic"] for c in cells)
    n_final = plan.n_real + n_syn
    shares = []
    for s in plan.shares():
        got = sum(c["real"] + c["synthetic"] for c in cells if int(c["fst"]) in _types(s["set"]))
        shares.append({**s, "achieved": got / max(n_final, 1)})
    short = [c for c in cells if c["real"] + c["synthetic"] < c["target"]]
    warnings = list(plan.notes)
    if short:
        warnings.append(f"{len(short)} cell(s) short of their target: the gate rejected every attempt "
                        f"(--max-attempts {generate.max_attempts}) for {sum(c['target'] - c['real'] - c['synthetic'] for c in short)} image(s)")
    return {
        **document_header("fairskin.balance/1"),
        "image_root": str(out.resolve()),
        "scale": {"name": scale.name, "cuts": list(scale.cuts)},
        "target": {"rule": plan.target.text, "description":
                   f"{plan.target.text}; each skin type keeps its diagnosis mix; at most {plan.max_per_real:g} synthetic "
                   f"per real image in a cell"},
        "gate": {"description": _gate_text(generate, scale),
                 "fst_tolerance": generate.tolerance, "max_attempts": generate.max_attempts},
        "generator": {"name": generator_label(gen), **(gen.describe() if hasattr(gen, "describe") else
                                                         {"base_model": str(getattr(gen, "name", ""))}),
                      "seed": generate.seed},
        "cells": cells,
        "shares": shares,
        "counts": {"real": plan.n_real, "synthetic_accepted": n_syn, "final": n_final,
                   "attempts": int(len(attempts)), "rejected": int((attempts["gate"] == "rejected").sum()) if len(attempts) else 0},
        "run": {"images_per_second": images_per_second},
        "warnings": warnings,
    }


def _gate_text(generate: GenerateConfig, scale) -> str:
    est = f"the Fitzpatrick type measured by fairskin label's ITA estimator (scale {scale.name})"
    if generate.tolerance is None:
        return f"{est} must equal the requested type for V and VI, and be within one type of it otherwise"
    if generate.tolerance == 0:
        return f"{est} must equal the requested type"
    return f"{est} must be within {generate.tolerance} type(s) of the requested one"


def _types(set_name: str) -> set[int]:
    return {int(ch) for ch in set_name[3:]}


def _f(v):
    try:
        x = float(v)
        return None if x != x else x
    except (TypeError, ValueError):
        return None
