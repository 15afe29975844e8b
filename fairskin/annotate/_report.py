"""The annotation's HTML report: consensus, agreement, each annotator, and the other labels."""

from __future__ import annotations

from pathlib import Path

from fairskin.reports import dl, fmt, fmt_pct, note, page, section, table, write_report
from fairskin.skintone import get_tone_scale

__all__ = ["render_annotation_report", "summary_lines"]


def _ci(lo_hi, pct: bool = True) -> str:
    if not lo_hi:
        return "n/a"
    f = fmt_pct if pct else (lambda x: fmt(x, 2))
    return f"{f(lo_hi[0])} to {f(lo_hi[1])}"


def _agree_row(name: str, a: dict) -> list:
    return [name, a["n"], fmt_pct(a["exact"]), _ci(a["exact_ci"]), fmt_pct(a["within_one"]), _ci(a["within_one_ci"]),
            fmt(a["kappa_quadratic"], 2)]


_AGREE_HEAD = ["", "images", "exact", "95% CI", "within one", "95% CI", "quadratic kappa"]


def _calibration(data: dict) -> str:
    """How far the consensus probabilities can be trusted, as measured on simulated panels (docs/annotate.md)."""
    c = data["consensus"]
    if c.get("calibration_boot", 0) == 0:
        return "uncalibrated plug-in posterior: on simulated panels overconfident by about 0.05, 0.1 with --neighbour 0"
    return (f"temperature {fmt(c.get('temperature', 1.0), 2)} from {c['calibration_boot']} simulated studies; on "
            f"simulated panels of 200-400 images within about 0.03 of the accuracy")


def summary_lines(data: dict) -> list[str]:
    """The figures a reader of the terminal wants first."""
    al = data["alpha"]
    both = al["intervals"].get("annotators x images")
    lines = [f"{data['n_labelled']} of {data['n_images']} images have a consensus type from {data['n_labels']} labels "
             f"by {len(data['annotators'])} annotators ({data['n_cannot_tell']} 'cannot tell')",
             f"Krippendorff's alpha (ordinal) {fmt(al['value'], 3)} (95% CI over annotators and images "
             f"{_ci(both, pct=False)})",
             f"mean consensus probability {fmt(data['consensus']['mean_probability'], 3)} ({_calibration(data)}); "
             f"the majority vote agrees on {fmt_pct(data['consensus']['agrees_with_majority'])} of images"]
    v = data["vs_estimator"]
    if v["n"]:
        lines.append(f"estimator ({data['estimator']}) vs consensus: exact {fmt_pct(v['exact'])}, within one "
                     f"{fmt_pct(v['within_one'])}, quadratic kappa {fmt(v['kappa_quadratic'], 2)} (n = {v['n']})")
    h = data["vs_human"].get("types")
    if h and h["n"]:
        lines.append(f"consensus vs the data set's human types: exact {fmt_pct(h['exact'])} (n = {h['n']})")
    return lines


def render_annotation_report(data: dict, path: str | Path) -> Path:
    """Write the report (and its data as JSON beside it)."""
    scale = get_tone_scale(data["scale"])
    al = data["alpha"]
    body = [section("Summary", [note(s) for s in summary_lines(data)] + [note(w, "warn") for w in data["warnings"]],
                    sid="summary")]
    body.append(section("Consensus", [
        dl([("model", data["consensus"]["model"]), ("reference", data["consensus"]["reference"]),
            ("smoothing (pseudo-count)", data["consensus"]["smoothing"]),
            ("extra on the diagonal", data["consensus"]["diagonal"]),
            ("extra next to the diagonal", data["consensus"].get("neighbour", 0.0)),
            ("probability temperature (parametric bootstrap; 1 = none)", data["consensus"].get("temperature", 1.0)),
            ("type mix divided out (--flat-prior)", data["consensus"]["flat_prior"]),
            ("iterations", data["consensus"]["n_iter"]), ("converged", data["consensus"]["converged"]),
            ("annotators wanted per image", data["per_image_target"] or "all")]),
        table([scale.name + " tone", "images (consensus)", "estimated prior"],
              [[k, v, fmt(p, 3)] for (k, v), p in zip(data["type_counts"].items(), data["consensus"]["prior"])]),
    ], sid="consensus"))
    body.append(section("Agreement between annotators", [
        dl([("Krippendorff's alpha (ordinal)", fmt(al["value"], 3)), ("images rated twice or more", al["n_images"])]),
        table(["bootstrap resamples", "95% CI"], [[u, _ci(ci, pct=False)] for u, ci in al["intervals"].items()]),
        note("The interval over annotators and images treats both as samples; it is the one to quote."),
    ], sid="alpha"))
    rows = []
    for a in data["per_annotator"]:
        v = a.get("vs_others_consensus")
        rows.append([a["annotator"], a["n_labels"], a["n_cannot_tell"], fmt_pct(a["estimated_accuracy"]),
                     fmt_pct(v["exact"]) if v else "n/a", _ci(v["exact_ci"]) if v else "n/a",
                     fmt_pct(v["within_one"]) if v else "n/a", fmt(v["kappa_quadratic"], 2) if v else "n/a"])
    body.append(section("Each annotator", [
        table(["annotator", "labels", "cannot tell", "estimated accuracy (model)", "agrees with the others' consensus",
               "95% CI", "within one", "quadratic kappa"], rows),
        note("Agreement is against the consensus of the other annotators only, so nobody is scored against "
             "their own labels."),
    ], sid="annotators"))
    other = [_agree_row(f"estimator ({data['estimator']})", data["vs_estimator"])]
    if "types" in data["vs_human"]:
        other.append(_agree_row("the data set's human types", data["vs_human"]["types"]))
    parts = [table(_AGREE_HEAD, other)]
    if "groups" in data["vs_human"]:
        g = data["vs_human"]["groups"]
        parts.append(note(f"Against the data set's human groups (I-II / III-IV / V-VI): {fmt_pct(g['exact'])} "
                          f"({_ci(g['exact_ci'])}, n = {g['n']})."))
    if "spearman_vs_fitzpatrick" in data["vs_human"]:
        s = data["vs_human"]["spearman_vs_fitzpatrick"]
        parts.append(note(f"Monk consensus vs the data set's Fitzpatrick types: Spearman rho {fmt(s['rho'], 2)} "
                          f"(n = {s['n']})."))
    conf = data["estimator_confusion"]
    parts.append(table(["consensus \\ estimator"] + list(scale.labels),
                       [[lab] + row for lab, row in zip(scale.labels, conf)], caption="images per consensus and estimated type"))
    body.append(section("Consensus against other labels", parts, sid="other"))
    html = page("Skin type annotation", body, subtitle=f"{data['scale']} scale",
                toc=[("summary", "Summary"), ("consensus", "Consensus"), ("alpha", "Agreement"),
                     ("annotators", "Each annotator"), ("other", "Other labels")])
    return write_report(html, {k: v for k, v in data.items() if k != "labels"}, path)
