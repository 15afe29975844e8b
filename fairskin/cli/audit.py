"""``fairskin audit``: how well does a classifier do on each skin type, and are the gaps real?"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from fairskin.audits.classifier import DEFAULTS, criterion_reading
from fairskin.cli import app, console
from fairskin.cli._common import CONFIG_HELP, in_flags, progress_view, settings_file
from fairskin.errors import FairskinError, InputError


def _floats(text: Optional[str], arg: str, n: int) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != n:
        raise InputError(f"{arg}: expected {n} comma-separated numbers, got {text!r}")
    return vals


@app.command("audit")
@settings_file("audit", extra=("ece_bins",))
def audit(
    ctx: typer.Context,
    inputs: List[Path] = typer.Argument(..., help="Model files (TorchScript .pt, torch.export .pt2, state dict or "
                                        ".safetensors with --arch) or predictions CSVs (image, score, label, fst[, "
                                        "diagnosis]). Several: each is compared with the first."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data set directory the models are run on."),
    data_format: Optional[str] = typer.Option(None, "--format", help="Data set format (detected when omitted)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv from `fairskin label`: use estimated "
                                          "skin types."),
    label_confusion: Optional[Path] = typer.Option(None, "--label-confusion", help="The labeller's confusion with "
                                                   "human types (`fairskin label --confusion` or its --json): "
                                                   "estimate metrics for the true skin types (default: the "
                                                   "one `fairskin label --json` wrote beside --labels, when every "
                                                   "type is estimated)."),
    no_label_confusion: bool = typer.Option(False, "--no-label-confusion", help="Apply no labeller's confusion, not "
                                            "even the one found beside --labels."),
    fst_source: str = typer.Option(DEFAULTS.fst_source, "--fst-source", help="auto (human types where people gave one, else "
                                   "--labels' estimates), human or estimated; for a predictions CSV, what its fst "
                                   "column is (auto: given)."),
    positive_class: Optional[str] = typer.Option(None, "--positive-class", help="Diagnosis counted as positive "
                                                 "(default: the data set's malignant flag)."),
    scores: str = typer.Option(DEFAULTS.scores, "--scores", help="Predictions CSV scores: probabilities or logits."),
    arch: Optional[str] = typer.Option(None, "--arch", help="timm architecture for a state dict / safetensors file "
                                       "(built with pretrained=False)."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Number of model outputs."),
    class_names: Optional[str] = typer.Option(None, "--class-names", help="Comma-separated names of the model's "
                                              "outputs (e.g. akiec,bcc,bkl,df,mel,nv,vasc)."),
    model_output: Optional[str] = typer.Option(None, "--model-output", help="What the model returns: logits "
                                               "(default) or probabilities."),
    trust_model: bool = typer.Option(False, "--trust-model", help="Allow unpickling a model file (runs its code: "
                                     "only for files you trust)."),
    resize: Optional[int] = typer.Option(None, "--resize", help="Resize the shorter side to this (default: model "
                                         "metadata, else 299 as in DDI)."),
    crop: Optional[int] = typer.Option(None, "--crop", help="Centre crop size (default: metadata, else 299)."),
    mean: Optional[str] = typer.Option(None, "--mean", help="Normalisation mean, 3 comma-separated values."),
    std: Optional[str] = typer.Option(None, "--std", help="Normalisation std, 3 comma-separated values."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, "--batch-size", min=1, help="Images per forward pass."),
    num_workers: int = typer.Option(DEFAULTS.num_workers, "--num-workers", "-j", min=0, help="Image-loading worker processes."),
    device: str = typer.Option(DEFAULTS.device, "--device", help="auto (CUDA, MPS, else CPU), cpu, cuda, mps."),
    save_predictions: Optional[Path] = typer.Option(None, "--save-predictions", help="Directory to write each "
                                                    "model's predictions CSV to (re-auditable)."),
    threshold: str = typer.Option(str(DEFAULTS.threshold), "--threshold", help="Operating threshold, 'model' "
                                  "(saved with the model) or 'ddi:NAME' (DDI's threshold for HAM10000, DeepDerm, "
                                  "GroupDRO, CORAL, CDANN)."),
    target_sensitivity: Optional[float] = typer.Option(None, "--target-sensitivity", help="Choose the threshold "
                                                       "on all rows to reach this sensitivity."),
    label_sampling: str = typer.Option(DEFAULTS.label_sampling, "--label-sampling", help="cohort (default): labels "
                                       "came with the rows (a type's share malignant is random and is redrawn); fixed: "
                                       "each skin type's malignant count was chosen by design (held in the bootstrap)."),
    n_boot: int = typer.Option(DEFAULTS.n_boot, "--n-boot", min=1, help="Bootstrap resamples."),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", help="Seed of the bootstrap and permutations."),
    ci_level: float = typer.Option(DEFAULTS.ci_level, "--ci-level", help="Confidence level of every interval (0.95: 95%)."),
    group_level: str = typer.Option(DEFAULTS.group_level, "--group-level", help="Gaps over: auto, type (I-VI) or group "
                                    "(I-II/III-IV/V-VI)."),
    reference_group: Optional[str] = typer.Option(None, "--reference-group", help="Group the ratios are taken "
                                                  "against (default: the lightest with --min-group-n images)."),
    min_group_n: int = typer.Option(DEFAULTS.min_group_n, "--min-group-n", help="Images a group needs to be reliable (else flagged small_n)."),
    min_group_positives: int = typer.Option(DEFAULTS.min_group_positives, "--min-group-positives", help="Malignant images a group needs to be reliable."),
    min_group_negatives: int = typer.Option(DEFAULTS.min_group_negatives, "--min-group-negatives", help="Benign images a group needs to be reliable."),
    min_cell_n: int = typer.Option(DEFAULTS.min_cell_n, "--min-cell-n", help="Mask skin type x diagnosis cells "
                                   "smaller than this."),
    ratio_bounds: Optional[str] = typer.Option(None, "--ratio-bounds", help="LOW,HIGH: a metric ratio to the "
                                               "reference group outside these is flagged (default "
                                               f"{DEFAULTS.ratio_bounds[0]},{DEFAULTS.ratio_bounds[1]})."),
    min_gain: float = typer.Option(DEFAULTS.min_gain, "--min-gain", help="Comparison: relative AUROC gain needed "
                                   "on V-VI."),
    max_drop: float = typer.Option(DEFAULTS.max_drop, "--max-drop", help="Comparison: largest relative AUROC drop "
                                   "allowed on FST I-III."),
    saliency: Optional[str] = typer.Option(None, "--saliency", help="Attribution method for the saliency audit per "
                                           "skin type: gradcam, gradcam++, hirescam, xgradcam, layercam, eigencam, "
                                           "scorecam (pytorch-grad-cam)."),
    saliency_layer: Optional[str] = typer.Option(None, "--saliency-layer", help="Module name the saliency map is "
                                                 "built from (default: chosen for CNNs and ViTs)."),
    counterfactual_tone: bool = typer.Option(False, "--counterfactual-tone", help="Re-tone each image's healthy "
                                             "skin to every other skin type and report score changes and flips."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Directory of lesion masks (<stem>_mask.png, white = "
                                         "lesion) for --saliency and --counterfactual-tone."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the audit as JSON (docs/audit-json.md)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write the HTML report (and the data it shows as JSON "
                                        "beside it: X.html, X.json)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files (--json, --html and its "
                                   "JSON, --save-predictions files); without it they are never replaced."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Audit a classifier per Fitzpatrick skin type with bootstrap confidence intervals."""
    from fairskin.audits.classifier import audit as run_audit
    from fairskin.audits.classifier import parse_threshold
    from fairskin.cli._common import file_settings
    from fairskin.outputs import claim_outputs

    reports = {}
    if html:
        from fairskin.reports import report_outputs

        reports = report_outputs(html, json_path=json_path)
    if no_label_confusion and label_confusion is not None:
        raise InputError("--no-label-confusion: given with --label-confusion; choose one")
    with claim_outputs({"--json": json_path, **reports}, overwrite=overwrite), \
            progress_view(quiet, "audit", announce=False) as view:  # outputs checked before anything runs
        result = run_audit(
            inputs, data=data, labels=labels, masks=masks, save_predictions=save_predictions,
            label_confusion=None if no_label_confusion else (label_confusion or "auto"), progress=view,
            trust_model=trust_model, overwrite=overwrite,
            threshold=parse_threshold(threshold, target_sensitivity),  # parsed once, here; the policy flows on
            target_sensitivity=target_sensitivity, data_format=data_format, fst_source=fst_source,
            positive_class=positive_class, scores=scores, arch=arch, num_classes=num_classes,
            class_names=tuple(class_names.split(",")) if class_names else None, model_output=model_output,
            resize=resize, crop=crop, mean=_floats(mean, "--mean", 3), std=_floats(std, "--std", 3),
            batch_size=batch_size, num_workers=num_workers, device=device, n_boot=n_boot, seed=seed,
            ci_level=ci_level, group_level=group_level, reference_group=reference_group, min_group_n=min_group_n,
            min_group_positives=min_group_positives, min_group_negatives=min_group_negatives,
            label_sampling=label_sampling, min_cell_n=min_cell_n,
            ratio_bounds=_floats(ratio_bounds, "--ratio-bounds", 2), min_gain=min_gain, max_drop=max_drop,
            saliency=saliency, saliency_layer=saliency_layer, counterfactual_tone=counterfactual_tone,
            **file_settings(ctx))
        d = result.to_dict()
        print_audit(d, ctx.command)
        print_why(d)
        if json_path:
            result.to_json(json_path)
            console.print(f"json: {json_path}")
        if html:
            try:
                from fairskin.reports import render_audit_report
            except ImportError:
                raise FairskinError("--html: the audit report renderer (fairskin.reports.render_audit_report) is not "
                                    "available in this installation; write --json and render it later") from None
            render_audit_report(d, html)
            console.print(f"report: {html}")


def _ci(m: dict, digits: int = 2) -> str:
    if m["value"] is None:
        return "n/a"
    s = f"{m['value']:.{digits}f}"
    if m["ci_low"] is not None:
        s += f" ({m['ci_low']:.{digits}f}-{m['ci_high']:.{digits}f})"
    return s


def _headline_metrics(meta: dict) -> list[tuple[str, str, int]]:
    """(name, label, digits) of the per-group table's metric columns: the audit's headline metrics
    (``meta.metrics``; for a document without it, the registry's)."""
    from fairskin.audits.classifier import metric_table

    listed = meta.get("metrics") or metric_table()
    return [(x["name"], x["label"], int(x.get("digits") or 2)) for x in listed if x.get("headline")]


def print_audit(d: dict, command=None) -> None:
    """The audit's terminal summary; ``command`` (the click command that ran it) writes the
    library's notes with its flags."""
    meta = d["meta"]
    if meta.get("tone_scale", "fitzpatrick") != "fitzpatrick":
        console.print(f"skin tones on the [bold]{meta['tone_scale']}[/] scale, grouped "
                      f"{' / '.join(meta.get('tone_groups') or [])}", highlight=False)
    console.print(f"skin types: [bold]{meta['fst_source']}[/] ({meta['fst_source_detail']}); gaps over "
                  f"{meta['group_level']}s; {meta['n_boot']} bootstrap resamples (seed {meta['seed']}), "
                  f"{meta['ci_level']:.0%} CI")
    auto = meta.get("label_confusion_auto")
    if auto:
        line = auto["line"] if command is None else in_flags(auto["line"], command)
        console.print(("" if auto["applied"] else "[yellow]note:[/] ") + line, highlight=False)
    if meta.get("fst_source") in ("estimated", "mixed") and not meta.get("fst_correction"):
        console.print("[yellow]warning:[/] skin types are estimated and taken as right; with the estimator's "
                      "measured agreement (docs/label.md) the figures mix neighbouring types; pass the labeller's "
                      "confusion (--label-confusion) to correct for it", highlight=False)
    for m in d["models"]:
        c = m["counts"]
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(c["skipped"].items()))
        console.print(f"\n[bold]{m['name']}[/] ({m['kind']}): {c['n_used']} of {c['n_input']} rows used"
                      + (f"; skipped: {skipped}" if skipped else "") + f"; threshold {m['threshold']:.3g} "
                      f"({m.get('threshold_policy', meta['threshold_policy'])})")
        for w in m.get("warnings", []):
            console.print(f"[yellow]warning:[/] {w}", markup=True, highlight=False)
        for r in [r for r in m.get("bad_rows", []) if r.get("status") == "bad_row"][:5]:
            console.print(f"  skipped: {r['reason']}", markup=False)
        t = Table(title="Per skin type", title_justify="left")
        heads = _headline_metrics(meta)
        for col in ("group", "n", "malignant", *(label for _, label, _ in heads), "flags"):
            t.add_column(col, justify="left" if col in ("group", "flags") else "right")
        for g in m["groups"] + [m["overall"]]:
            mt = g["metrics"]
            t.add_row(g["group"], str(g["n"]), str(g["positives"]),
                      *(_ci(mt[k], digits) if k in mt else "n/a" for k, _, digits in heads), ", ".join(g["flags"]),
                      style="dim" if not g["reliable"] else None)
        console.print(t)
        for g in m["groups"] + [m["overall"]]:  # intervals widened for few units, or short (the JSON's reasons say how)
            for flag, words in (("few_events", "few images: exact (Clopper-Pearson) intervals"),
                                ("few_clusters", "few lesions or patients: widened intervals"),
                                ("high_auroc_imbalanced", "a high AUROC on few malignant against many benign "
                                 "images: the interval may be too narrow, its lower bound optimistic")):
                which = [k for k, e in g["metrics"].items() if flag in e["flags"]]
                if which:
                    console.print(f"  {g['group']}: {', '.join(which)} rest on {words} ({flag})", markup=False,
                                  highlight=False)
        f = Table(title="Fairness gaps", title_justify="left")
        for col in ("measure", "groups", f"value ({meta['ci_level']:.0%} CI)", "simultaneous CI", "p (Holm)",
                    "reading", "flags"):
            f.add_column(col)
        for gap in m["fairness"]:
            label = gap["name"] + (f" ({gap['method']}" + (f", {gap['agg']}" if gap["agg"] else "") + ")")
            p = "" if gap["p_value"] is None else f"{gap['p_value']:.3g} ({gap['p_value_holm']:.3g})"
            words = {"gap": "[bold]gap[/]", "no_evidence": "no evidence of a gap", "estimate": "estimate only",
                     "undefined": "undefined", "inconclusive": "not conclusive"}[gap["evidence"]]
            sim = ("" if gap.get("ci_low_simultaneous") is None
                   else f"{gap['ci_low_simultaneous']:.3f} to {gap['ci_high_simultaneous']:.3f}")
            f.add_row(label, " vs ".join(gap["groups"]), _ci(gap, 3), sim, p, words, ", ".join(gap["flags"]))
        console.print(f)
        console.print(f"reading: 'gap' when the Holm-adjusted p < {1 - meta['ci_level']:.2g} and the simultaneous CI "
                      "(Bonferroni over this model's tested gaps) excludes 0; 'not conclusive' when the two disagree")
        out = [r for r in m["ratios"] if "outside_bounds" in r["flags"]]
        if out:
            console.print(f"ratios to {meta['reference_group']} outside {meta['ratio_bounds']}: "
                          + "; ".join(f"{r['metric']} {r['group']} {r['value']:.2f}" for r in out))
    for cmp in d["comparisons"]:
        t = Table(title=f"{cmp['candidate']} vs {cmp['baseline']} ({cmp['n_common']} common images): "
                        f"{cmp['verdict_title']}", title_justify="left")
        for col in ("criterion", "observed (95% CI)", "reading"):
            t.add_column(col)
        for c in cmp["criteria"]:
            obs = ("n/a" if c["observed"] is None else f"{c['observed']:+.1%}" + (
                "" if c["ci_low"] is None else f" ({c['ci_low']:+.1%} to {c['ci_high']:+.1%})"))
            t.add_row(c["description"], obs, criterion_reading(c))
        console.print(t)
        console.print(cmp["verdict_reason"])


def print_why(d: dict) -> None:
    """The saliency and counterfactual sections, when the audit has them."""
    for s in d.get("saliency") or []:
        t = Table(title=f"{s['model']}: where {s['method']} puts the attribution (layer {s['layer']}; share, 95% CI "
                        f"over {s['resampling_unit']}s)", title_justify="left")
        for col in ("group", "n", "lesion", "healthy skin", "background", "flags"):
            t.add_column(col, justify="left" if col in ("group", "flags") else "right")
        for g in s["groups"]:
            sh = g["shares"]
            t.add_row(g["group"], str(g["n"]), _ci(sh["lesion"]), _ci(sh["skin"]), _ci(sh["background"]),
                      ", ".join(g["flags"]), style="dim" if not g["reliable"] else None)
        console.print(t)
        for x in s["tests"]:
            p = "" if x["p_value"] is None else f", p = {x['p_value']:.3g} ({x['p_value_method']})"
            console.print(f"  {x['definition']}: {_ci(x, 3)}{p}")
    for c in d.get("counterfactual") or []:
        t = Table(title=f"{c['model']}: healthy skin re-toned to other types ({c['landed']:.0%} landed in the "
                        f"requested type; 95% CI over {c['resampling_unit']}s)", title_justify="left")
        for col in ("source", "n", "flip rate", "score change", "toward darker", "toward lighter", "flags"):
            t.add_column(col, justify="left" if col in ("source", "flags") else "right")
        for x in c["sources"]:
            t.add_row(x["source"], str(x["n"]), _ci(x["flip_rate"]), _ci(x["mean_score_change"], 3),
                      _ci(x["score_change_darker"], 3), _ci(x["score_change_lighter"], 3), ", ".join(x["flags"]),
                      style="dim" if not x["reliable"] else None)
        console.print(t)
