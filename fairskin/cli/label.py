"""``fairskin label``: estimate every image's skin tone (Fitzpatrick type from ITA by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from fairskin.cli import app, console
from fairskin.cli._common import CONFIG_HELP, file_settings, fmt_ci, progress_view, settings_file
from fairskin.errors import InputError
from fairskin.label import DEFAULT_ESTIMATOR, FitDefaults, LabelConfig, list_estimators
from fairskin.settings import config_fields, merge_settings
from fairskin.skintone import FITZPATRICK, FST_TYPES, get_tone_scale, list_scales, roman

_D = LabelConfig()
_F = FitDefaults()


@app.command("label")
@settings_file("label", extra=config_fields(LabelConfig))
def label(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Data set directory (DDI, Fitzpatrick17k, HAM10000/ISIC, PAD-UFES-20 or a folder of images)."),
    out: Path = typer.Option(Path("labels.csv"), "--out", "-o", help="Labels CSV to write."),
    format: Optional[str] = typer.Option(None, "--format", help="Data set format; detected when omitted: ddi, fitzpatrick17k, ham10000, isic, pad-ufes-20, folder."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Directory of lesion masks (<stem>_mask.png, white = lesion)."),
    estimator: str = typer.Option(DEFAULT_ESTIMATOR, "--estimator", help=f"Skin-tone estimator: {', '.join(list_estimators())} "
                                  "(ita: Fitzpatrick type from ITA; monk: Monk Skin Tone 1-10, the nearest reference "
                                  "colour), a learned estimator file (model.json, from fairskin fit-estimator), or "
                                  "package.module:Class."),
    no_abstain: bool = typer.Option(False, "--no-abstain", help="Give a type even to photos the estimator judges "
                                    "unreadable (cut-outs, clipped or dark frames; a learned estimator's low "
                                    "confidence); their reason still says so. Default: such rows get no type, status "
                                    "unreliable and the reason."),
    scale: Optional[str] = typer.Option(None, "--scale", help=f"ITA scale (--estimator ita): {', '.join(list_scales())}, "
                                        f"or a scale CSV (e.g. one --calibrate wrote). Default: {_D.scale}."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes."),
    hair_removal: bool = typer.Option(_D.hair_removal, "--hair-removal", help="Inpaint hair (DullRazor) before "
                                      "finding the healthy skin."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Fit cut-points to the data set's human skin types, save them and label with them."),
    human_labels: Optional[Path] = typer.Option(None, "--human-labels", help="A human-consensus labels.csv (fairskin annotate analyze): its types are the human types of images the data set gives none, for --calibrate and --confusion."),
    calibrated_scale: Optional[Path] = typer.Option(None, "--calibrated-scale", help="Where --calibrate saves the fitted scale (default: <out stem>_scale.csv)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the summary as JSON (schema: docs/label-json.md)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report (and the data it shows "
                                        "as JSON beside it: X.html, X.json)."),
    confusion: Optional[Path] = typer.Option(None, "--confusion", help="Write the labeller's confusion with the human types (for fairskin audit --label-confusion); cross-validated with --calibrate."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files (OUT, --json, --html and "
                                   "its JSON, --confusion, the calibrated scale); without it they are never replaced."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP + " Its \\[label] table may also set "
                                          "LabelConfig's fields (work_side, min_skin_fraction, ...; docs/label.md)."),
    backbone_weights: Optional[Path] = typer.Option(None, "--backbone-weights", help="A learned estimator's "
                                                    "image-backbone weights file, when not at the path the model "
                                                    "records; refused unless its SHA-256 is the recorded one."),
) -> None:
    """Estimate each image's skin tone from its healthy skin: Fitzpatrick type from ITA (default), or
    another registered estimator (--estimator monk: Monk Skin Tone).

    An interrupted run resumes: run the same command again.
    """
    from fairskin.label import label_dataset
    from fairskin.outputs import claim_outputs

    if backbone_weights is not None:
        if not estimator.lower().endswith(".json"):
            raise InputError(f"--backbone-weights: only a learned estimator (model.json) has a backbone; "
                             f"--estimator is {estimator!r}")
        from fairskin.label import load_learned_estimator

        estimator = load_learned_estimator(estimator, backbone_weights=backbone_weights)

    reports = {}
    if html:
        from fairskin.reports import report_outputs

        reports = report_outputs(html, json_path=json_path)

    def report(summary: dict) -> None:
        from fairskin.reports import render_label_report

        render_label_report(summary, html, image_root=Path(summary["data"]["root"]))

    # every file this command writes is checked (and locked) before the run starts
    with claim_outputs({"--out": out, "--json": json_path, "--confusion": confusion, **reports}, overwrite=overwrite), \
            progress_view(quiet, "label", announce=False) as view:
        result = label_dataset(data, out=out, format=format, masks=masks, scale=scale, estimator=estimator,
                               config=merge_settings(LabelConfig(), file_settings(ctx), option="--config"),
                               workers=workers,
                               calibrate=calibrate, calibrated_scale_path=calibrated_scale, json_path=json_path,
                               confusion_path=confusion, overwrite=overwrite, progress=view,
                               hair_removal=hair_removal, finish=report if html else None, human_labels=human_labels,
                               abstain=not no_abstain)
    s = result.summary
    _print_summary(s)
    if result.calibrated_scale is not None:
        console.print(f"calibrated scale saved: cuts {', '.join(f'{c:.1f}' for c in result.calibrated_scale.cuts)}")
    if html:
        console.print(f"report: {html}")
    console.print(f"labels: {out}" + (f"   summary: {json_path}" if json_path else ""))


def _print_summary(s: dict) -> None:
    if s.get("tone_distribution") and s["tone_distribution"]["column"] != "fst":
        return _print_tones(s)
    _print_counts(s)
    c = s["counts"]
    t = Table(title="Estimated skin types", title_justify="left")
    t.add_column("FST")
    t.add_column("n", justify="right")
    t.add_column("share", justify="right")
    t.add_column("median ITA", justify="right")
    if s["fst_distribution"]["human"]:
        t.add_column("human n", justify="right")
    total = max(c["labelled"], 1)
    for k in FST_TYPES:
        n = s["fst_distribution"]["estimated"][str(k)]
        med = s.get("ita_summary_by_fst", {}).get(str(k), {}).get("median")
        row = [roman(k), str(n), f"{n / total:.1%}", f"{med:.1f}" if med is not None else "-"]
        if s["fst_distribution"]["human"]:
            row.append(str(s["fst_distribution"]["human"][str(k)]))
        t.add_row(*row)
    console.print(t)
    a = s.get("agreement")
    cal = s.get("calibration") or {}
    cv = cal.get("agreement_cross_validated")
    if a:
        lvl = "type" if a["level"] == "type" else f"group ({FITZPATRICK.describe_groups()})"
        head, shown = ("", a)
        if cv:  # the cut-points were fitted on these images: the honest figure is the cross-validated one
            head, shown = f", cross-validated ({cal.get('folds', '5 folds')})", cv
        console.print(f"[bold]Agreement with human labels[/] by {lvl}, n={shown['n']}{head} (95% bootstrap CIs):")
        console.print(f"  exact {fmt_ci(shown['exact'], shown['exact_ci'])}   within one "
                      f"{fmt_ci(shown['within_one'], shown['within_one_ci'])}   weighted kappa "
                      f"{fmt_ci(shown['weighted_kappa'], shown['weighted_kappa_ci'])}")
        r = a["spearman_ita"]
        if r["rho"] is not None:
            console.print(f"  Spearman rho(ITA, human type) {fmt_ci(r['rho'], r['ci'])}  (negative = agreeing direction)")
        if s["estimator"]["name"] == "learned":
            console.print("  (the learned estimator's honest figures are its cross-validated ones, printed by fairskin "
                          "fit-estimator and kept in the model file; on the photos it was fitted to these are in-sample)")
        if cv:
            console.print(f"  in-sample, cut-points fitted on these images (optimistic): exact "
                          f"{fmt_ci(a['exact'], a['exact_ci'])}, within one {fmt_ci(a['within_one'], a['within_one_ci'])}")
    _print_shares(s.get("corrected_shares"))
    if s.get("confusion_file"):
        console.print(f"  labeller's confusion saved: {s['confusion_file']} (fairskin audit --label-confusion)")
    tr = s.get("truth")
    if tr:
        console.print(f"[bold]Against the phantoms' known answer[/] (n={tr['n']}): ITA within 3 deg {tr['ita_within_3']:.1%}, "
                      f"exact type {tr['fst_exact']:.1%}, mean |error| {tr['ita_mae']:.2f} deg")


def _print_counts(s: dict) -> None:
    c = s["counts"]
    console.print(f"[bold]{c['labelled']}[/] of {c['total']} images labelled with scale [bold]{s['scale']['name']}[/]"
                  f" ({s['run']['images_per_second'] or 0:.0f} images/s"
                  + (f", {s['run']['resumed_from_previous_run']} resumed" if s["run"]["resumed_from_previous_run"] else "") + ")")
    not_ok = {k: v for k, v in c["by_status"].items() if k != "ok"}
    if c.get("abstained"):
        console.print(f"abstained (status unreliable, no type; --no-abstain gives one): {c['abstained']} ("
                      + ", ".join(f"{k} {v}" for k, v in c["abstained_by_reason"].items()) + ")")
    if not_ok:
        console.print("not labelled: " + ", ".join(f"{k} {v}" for k, v in sorted(not_ok.items())))
    if c.get("warnings"):
        console.print(f"metadata warnings on {c['warnings']} labelled row{'' if c['warnings'] == 1 else 's'} (see the reason column)")
        for w in s.get("warned_rows", [])[:5]:
            console.print(f"  {w['image']}: {w['reason']}", markup=False)
    for w in s["data"]["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")


def _print_tones(s: dict) -> None:
    """A run on another scale than Fitzpatrick (e.g. Monk): tones, groups, rank agreement."""
    _print_counts(s)
    d = s["tone_distribution"]
    ts = get_tone_scale(d["scale"])
    total = max(s["counts"]["labelled"], 1)
    t = Table(title=f"Estimated skin tones ({ts.name}, column {ts.column})", title_justify="left")
    for name in ("tone", "group", "n", "share", "median L*", "median b*"):
        t.add_column(name, justify="left" if name in ("tone", "group") else "right")
    for k in ts.tones:
        n = d["estimated"][str(k)]
        col = s.get("colour_by_tone", {}).get(str(k), {})
        t.add_row(ts.label(k), ts.group_of(k), str(n), f"{n / total:.1%}",
                  *(f"{col[c]:.1f}" if c in col else "-" for c in ("L", "b")))
    console.print(t)
    console.print(f"groups ({ts.describe_groups()}): "
                  + ", ".join(f"{g} {n} ({n / total:.1%})" for g, n in d["groups"].items()))
    a = s.get("agreement")
    if a:
        r = a["spearman_tone_human_fst"]
        console.print(f"[bold]Rank agreement with human Fitzpatrick types[/], n={a['n']}: Spearman rho("
                      f"{ts.column}, human type) {fmt_ci(r['rho'], r['ci'])} (95% bootstrap CI over images; "
                      "positive = agreeing direction)")


def _print_shares(shares: dict | None) -> None:
    """The estimated shares corrected for the labeller's confusion (label/_shares.py), or why not."""
    from fairskin.label import shares_line

    if not shares:
        return
    if not shares.get("available"):
        console.print(f"[yellow]shares not corrected:[/] {shares['note']}")
        return
    console.print("[bold]Shares corrected for the labeller's confusion[/] (true types; "
                  f"{shares['ci_level']:.0%} bootstrap over {shares['resampling_unit']}s and the confusion):")
    for g, v in shares["groups"].items():
        console.print("  " + shares_line(g, v["estimated"], v["corrected"], v["ci"], n=shares["n"],
                                         n_calibration=shares["n_calibration"], ci_level=shares["ci_level"]))
    if shares.get("unseen_types"):
        console.print(f"  no image with a human type {', '.join(shares['unseen_types'])}: their shares rest on the "
                      "assumption that the labeller reads such skin near its own type")


@app.command("fit-estimator")
def fit_estimator_cmd(
    data: Path = typer.Argument(..., help="Data set directory whose images carry human Fitzpatrick types (fst_human)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to save the learned estimator (JSON)."),
    format: Optional[str] = typer.Option(None, "--format", help="Data set format; detected when omitted."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Directory of lesion masks (<stem>_mask.png)."),
    keep: float = typer.Option(_F.keep, "--keep", help="Share of readable photos to give a type; the confidence "
                               "threshold below which a photo abstains is set from out-of-fold predictions to keep it."),
    workers: int = typer.Option(_F.workers, "--workers", "-j", min=1, help="Worker processes for the features."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Also use a pretrained image backbone (a timm "
                                           "architecture, e.g. resnet18): the PCA of its pooled whole-image "
                                           "embedding is added to the colour features. Needs --backbone-weights."),
    backbone_weights: Optional[Path] = typer.Option(None, "--backbone-weights", help="The backbone's local weights "
                                                    "file (.safetensors, or a tensors-only .pt/.pth); nothing is "
                                                    "downloaded. Its SHA-256 is kept in OUT."),
    backbone_components: int = typer.Option(_F.n_components, "--backbone-components", help="PCA components of the embedding "
                                            "(fitted inside each training fold)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fit a skin-type estimator to a data set's human types (an ordinal model on the healthy skin's
    colour statistics) and save it as JSON; use it with fairskin label DATA --estimator OUT.

    The figures printed are from patient-grouped, nested 5-fold cross-validation; in-sample figures
    are never reported.
    """
    from fairskin.label import fit_estimator

    with progress_view(quiet, "label fit", announce=False) as view:
        model = fit_estimator(data, out=out, format=format, masks=masks, workers=workers, keep=keep,
                              overwrite=overwrite, backbone=backbone, backbone_weights=backbone_weights,
                              n_components=backbone_components, progress=view)
    cv, fit = model.info["cross_validated"], model.info["fitted_on"]
    if model.backbone is not None:
        console.print(f"backbone: {model.backbone.name} ({model.backbone.weights}, SHA-256 "
                      f"{model.backbone.sha256[:12]}...), {len(model.backbone.feature_names)} PCA components")
    console.print(f"fitted on {fit['n_photos']} photos of {fit['n_patients']} patients; abstains below confidence "
                  f"{model.abstain_below:.2f}")
    console.print(f"[bold]cross-validated[/] ({cv['folds']}), n={cv['n']}: weighted kappa "
                  f"{fmt_ci(cv['kappa'], cv.get('kappa_ci'))}, V-VI share error {fmt_ci(cv['v_vi_share_error'], cv.get('v_vi_share_error_ci'))}, "
                  f"coverage {fmt_ci(cv['coverage'], cv.get('coverage_ci'))}, exact {fmt_ci(cv['exact'], cv.get('exact_ci'))}, "
                  f"within one {fmt_ci(cv['within_one'], cv.get('within_one_ci'))}")
    console.print(f"estimator: {out} (fairskin label DATA --estimator {out})")
