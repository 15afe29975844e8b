"""The experiment report: does adding synthetic images close the skin-type gap?

Input: the ``fairskin.experiment/1`` dict that ``fairskin experiment`` writes (``OUT/experiment.json``,
built in ``fairskin.experiment._run`` and ``_stats``). Output: ``report.html`` plus the dict as
``report.json`` beside it, like the other renderers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fairskin.reports import _svg
from fairskin.reports._html import (MIN_RELIABLE_N, Markup, ci_cell, dl, esc, fmt, fmt_ci, metric_parts, note, page,
                                    require, section, table, write_report)
from fairskin.reports._findings import baseline_gap_lines, change_lines, paired_change, synthetic_lines, \
    verdict_display
from fairskin.reports._findings import rel_pct as _pct
from fairskin.reports._palette import style_for
from fairskin.reports._parts import check_schema, figure, type_badge

__all__ = ["render_experiment_report", "build_experiment_html", "experiment_summary"]

SCHEMA = "fairskin.experiment/1"
PHANTOM = "phantom-renderer"
#: the sections of a document written before ``statistics.metrics``
_EARLIER_METRICS = (("auroc", "AUROC"), ("sensitivity", "Sensitivity"))


def _section_metrics(stats: Mapping) -> list[tuple[str, str]]:
    """(name, label) of the metrics given a section each: the experiment's headline metrics as its
    ``statistics.metrics`` lists them (the audit registry's), present in the arms' groups."""
    listed = stats.get("metrics")
    if not listed:
        return list(_EARLIER_METRICS)
    present = {k for a in (stats.get("arms") or {}).values() for g in a.get("groups") or [] for k in g.get("metrics") or {}}
    return [(m["name"], m["label"][:1].upper() + m["label"][1:]) for m in listed
            if m.get("headline") and m.get("name") in present]


def _warning(text: str, badge: str, cls: str) -> Markup:
    """A warning as a hatched box + badge, so it reads as a warning without colour."""
    return Markup(f'<p class="unreliable-box {esc(cls)}" style="padding:.5rem .8rem;border:2px solid #8a4b00">'
                  f'<span class="badge unreliable">{esc(badge)}</span> {esc(text)}</p>')


def _stand_in(text: str) -> Markup:
    """The stand-in-generator warning."""
    return _warning(text, "stand-in images", "stand-in")


def _test_types(data: Mapping) -> Mapping | None:
    """Where the test set's skin types came from (``data.test_skin_types``; absent in older files)."""
    return (data.get("data") or {}).get("test_skin_types")


def _test_types_sentence(fst: Mapping) -> str:
    left = (f"; {fst.get('n_skipped')} test row(s) had no usable image or skin type and were left out (listed in "
            f"{fst.get('skipped_csv')})" if fst.get("n_skipped") else "")
    return (f"Skin types of the test set: {fst.get('detail')}, {fst.get('n_with_type')} of {fst.get('n_rows')} "
            f"test rows{left}.")


def _arm_style(i: int):
    return style_for(f"arm-{i}", i)


def experiment_summary(data: Mapping) -> list[str]:
    """Plain-language sentences from the numbers: the baseline's gap on dark skin first, then what
    each comparison changed (``fairskin.reports._findings``), the synthetic images' own flags, the
    test set's skin types and any hard-case rounds."""
    stats = data["statistics"]
    versus = stats.get("synthesis_vs_cheap_fix") or {}
    out = [versus["sentence"]] if versus.get("sentence") else []  # first: did synthesis beat the best cheap fix?
    out += list(baseline_gap_lines(data))
    for c in stats.get("comparisons", []):
        out.extend(change_lines(data, c))
    if not stats.get("comparisons"):
        out.append(f"Only the baseline arm ({data.get('baseline', 'real')}) was run: nothing to compare, no verdict.")
    out.extend(synthetic_lines(data))
    if _test_types(data):
        out.append(_test_types_sentence(_test_types(data)))
    rd = data.get("rounds") or {}
    for r in rd.get("rounds", []):
        t = metric_parts(r.get("test", {}).get("targeted", {}).get("V-VI"))[0]
        u = metric_parts(r.get("test", {}).get("untargeted", {}).get("V-VI"))[0]
        if t is not None and u is not None:
            out.append(f"Hard-case round {r.get('round')}: test AUROC on FST V-VI {t:.2f} with targeted generation vs "
                       f"{u:.2f} with untargeted generation of the same count (one seed).")
    return out


def _groups(stats: Mapping) -> list[dict]:
    arm0 = next(iter(stats["arms"].values()))
    return list(arm0["groups"])


def _forest(stats: Mapping, metric: str, label: str) -> Markup:
    arms = list(stats["arms"])
    rows = []
    for g in _groups(stats):
        for i, arm in enumerate(arms):
            gg = next(x for x in stats["arms"][arm]["groups"] if x["group"] == g["group"])
            v, lo, hi = metric_parts(gg["metrics"].get(metric))
            rows.append({"label": f"{g['group']} \u00b7 {arm}", "value": v, "lo": lo, "hi": hi,
                         "style": _arm_style(i), "unreliable": not gg.get("reliable", True)})
    desc = "; ".join(f"{r['label']}: {fmt(r['value'])} (95% CI {fmt(r['lo'])} to {fmt(r['hi'])})"
                     + (" unreliable" if r["unreliable"] else "") for r in rows)
    legend = ", ".join(f"{arm}: {_arm_style(i).marker}" for i, arm in enumerate(arms))
    return figure(_svg.forest(rows, title=f"{label} per skin-type group and arm", desc=desc, xlabel=label,
                              xlim=(0.0, 1.0), ref=(0.5, "chance") if metric == "auroc" else None,
                              kind=f"forest-{metric}"),
                  f"{label} with 95% CI whiskers; arms side by side within each group ({legend}). "
                  "Hollow markers on a hatched band: unreliable group.")


def _metric_table(stats: Mapping, metric: str, label: str) -> Markup:
    arms = list(stats["arms"])
    rows, classes = [], []
    for g in _groups(stats):
        badge = type_badge(g.get("n"), flags=[] if g.get("reliable", True) else ["too few to judge"])
        cells = [Markup(esc(g["group"]) + (" " + badge if badge else "")), g.get("n"), g.get("positives")]
        for arm in arms:
            gg = next(x for x in stats["arms"][arm]["groups"] if x["group"] == g["group"])
            cells.append(ci_cell(gg["metrics"].get(metric)))
        rows.append(cells)
        classes.append("" if g.get("reliable", True) else "unreliable")
    return table(["group", "n test", "positives"] + arms, rows, row_classes=classes, numeric=set(range(1, 3 + len(arms))),
                 caption=f"{label} per group (mean over seeds, 95% CI)")


def _criteria_table(c: Mapping) -> Markup:
    rows = []
    for cr in c.get("criteria", []):
        if cr.get("observed") is None:
            res = "undefined"
        else:
            res = ("met" if cr.get("passed") else "not met") + ("" if cr.get("confident") else " (not conclusive)")
        rows.append([cr.get("description", cr.get("name")), _pct(cr.get("observed")),
                     f"{_pct(cr.get('ci_low'))} to {_pct(cr.get('ci_high'))}", Markup(f'<strong>{esc(res)}</strong>')])
    return table(["criterion", "observed (relative)", "95% CI", "result"], rows)


def _reading_cell(d: Mapping, *, higher_is_better: bool = True):
    """The paired change's reading, coloured only when its interval excludes 0."""
    got = paired_change(d, higher_is_better=higher_is_better)
    if got is None:
        return "n/a"
    words, cls = got  # "fell from 0.61 to 0.55 (-0.06, paired 95% CI ...; not conclusive: ...)"
    verb, reading = words.split(" from ", 1)[0], words.rsplit("; ", 1)[-1].rstrip(")")
    return Markup(f'<span class="{esc(cls)}">{esc(verb)}: {esc(reading)}</span>')


def _deltas_table(c: Mapping) -> Markup:
    """Every paired change of one comparison: AUROC and sensitivity per group, then the EOD."""
    rows = [[d["group"], d.get("metric"), d.get("baseline"), d.get("candidate"), _pct(d.get("relative")),
             f"{_pct(d.get('relative_ci_low'))} to {_pct(d.get('relative_ci_high'))}", _reading_cell(d)]
            for d in c.get("deltas", [])]
    eod = c.get("eod_change")
    if eod:  # absolute change: a relative change of a gap near 0 says little
        rows.append(["all groups", "EOD (lower is fairer)", eod.get("baseline"), eod.get("candidate"),
                     "n/a" if eod.get("delta") is None else f"{eod['delta']:+.3f} (absolute)",
                     "n/a" if eod.get("ci_low") is None else f"{eod['ci_low']:+.3f} to {eod['ci_high']:+.3f}",
                     _reading_cell(eod, higher_is_better=False)])
    return table(["group", "metric", c["baseline"], c["candidate"], "relative change", "95% CI", "paired change"],
                 rows, numeric={2, 3, 4})


def _rounds_section(rd: Mapping) -> Markup:
    body = [note(f"Generator: {rd.get('generator')}; {rd.get('per_round')} images per round; seed {rd.get('seed')}.")]
    groups = []
    for r in rd.get("rounds", []):
        for arm in ("targeted", "untargeted"):
            for g in r.get("test", {}).get(arm, {}):
                if g not in groups:
                    groups.append(g)
    rows = []
    for r in rd.get("rounds", []):
        t, u = r.get("test", {}).get("targeted", {}), r.get("test", {}).get("untargeted", {})
        rows.append([r.get("round"), r.get("hard_cases"), f"{r.get('targeted_accepted')}/{r.get('untargeted_accepted')}"]
                    + [Markup(f"{ci_cell(t.get(g))}<br>vs {ci_cell(u.get(g))}") for g in groups])
    body.append(table(["round", "hard cases", "images (targeted/untargeted)"]
                      + [f"AUROC {g}: targeted vs untargeted" for g in groups], rows, numeric={0, 1},
                      caption="Test AUROC per round (one seed, 95% CI)"))
    frows = []
    for r in rd.get("rounds", []):
        for g in groups:
            for i, arm in enumerate(("targeted", "untargeted")):
                v, lo, hi = metric_parts(r.get("test", {}).get(arm, {}).get(g))
                frows.append({"label": f"round {r.get('round')} \u00b7 {g} \u00b7 {arm}", "value": v, "lo": lo, "hi": hi,
                              "style": _arm_style(i + 2), "unreliable": False})
    if frows:
        desc = "; ".join(f"{r['label']}: {fmt(r['value'])} ({fmt(r['lo'])} to {fmt(r['hi'])})" for r in frows)
        body.append(figure(_svg.forest(frows, title="Hard-case rounds: test AUROC, targeted vs untargeted", desc=desc,
                                       xlabel="AUROC", xlim=(0.0, 1.0), ref=(0.5, "chance"), kind="forest-rounds"),
                           "Test AUROC with 95% CI per round and group; targeted ("
                           f"{_arm_style(2).marker}) vs untargeted ({_arm_style(3).marker}) generation of the same count."))
    drows = [[r.get("round"), d["group"], _pct(d.get("relative")),
              f"{_pct(d.get('relative_ci_low'))} to {_pct(d.get('relative_ci_high'))}"]
             for r in rd.get("rounds", []) for d in r.get("targeted_vs_untargeted", [])
             if d.get("metric", "auroc") == "auroc"]
    if drows:
        body.append(table(["round", "group", "targeted vs untargeted (relative AUROC)", "95% CI"], drows))
    if rd.get("caveat"):
        body.append(note(f"Caveat: {rd['caveat']}", "note warn"))
    return section("Hard-case rounds", body, sid="rounds")


def _test_set_section(data: Mapping) -> Markup:
    d = data.get("data") or {}
    fst = _test_types(data)
    if not fst:
        return section("Test set and its skin types", [
            dl([("test data", d.get("test")), ("test images", d.get("n_test"))]),
            note("This experiment.json does not record where the test set's skin types came from (files written "
                 "before it was recorded used the data set's human labels).")], sid="test-set")
    labels = ([("labels file", fst.get("labels")), ("labels file SHA-256", fst.get("labels_sha256")),
               ("rows in the labels file", fst.get("labels_rows")), ("test rows found in it", fst.get("matched"))]
              if fst.get("source") in ("estimated", "mixed") else [])
    body = [dl([("test data", d.get("test")), ("skin types", fst.get("detail")), *labels,
                ("test rows", fst.get("n_rows")), ("with a skin type (used)", fst.get("n_with_type")),
                ("left out", fst.get("n_skipped")), ("left out, listed in", fst.get("skipped_csv")),
                ("not scored by every model", d.get("n_test_unscored")), ("in the statistics", d.get("n_test"))])]
    if fst.get("caution"):
        body.append(_warning(fst["caution"], "estimated skin types", "estimated-types"))
    reasons = [[r, n] for r, n in (fst.get("skipped_by_reason") or {}).items()]
    if fst.get("skipped_other_reasons"):
        reasons.append(["(other reasons)", fst["skipped_other_reasons"]])
    if reasons:
        body.append(table(["why left out", "test rows"], reasons, numeric={1},
                          caption="Test rows without a usable image or skin type"))
    return section("Test set and its skin types", body, sid="test-set")


def build_experiment_html(data: Mapping) -> str:
    check_schema(data, SCHEMA, "render_experiment_report")
    stats = require(data, "statistics", "experiment")
    require(stats, "arms", "experiment statistics")
    arms = list(stats["arms"])
    cfg = data.get("config", {})
    syn = data.get("synthetic") or {}
    body, toc = [], []

    summ = [Markup(f'<p class="lead">{esc(s)}</p>') for s in experiment_summary(data)]
    if syn.get("generator") == PHANTOM:
        summ.append(_stand_in("These synthetic images are stand-in images from the demo's phantom renderer, not a "
                              "generative model's output: the effect measured is a ceiling, not what a real "
                              "generator achieves."))
    elif syn.get("note"):
        summ.append(note(syn["note"], "note warn"))
    fst = _test_types(data)
    if fst and fst.get("caution"):
        summ.append(_warning(fst["caution"], "estimated skin types", "estimated-types"))
    body.append(section("Summary", [Markup('<div class="summary">' + "".join(esc(x) for x in summ) + "</div>")], sid="summary"))
    toc.append(("summary", "Summary"))

    run_rows = [[r.get("arm"), r.get("seed"), r.get("n_train_real"), r.get("n_train_synthetic"), r.get("epochs_run"),
                 r.get("best_epoch"), r.get("best_val_auroc"), r.get("test_auroc"), r.get("seconds")]
                for r in data.get("runs", [])]
    arm_desc = dl([(a, d) for a, d in (data.get("arms") or {}).items()])
    body.append(section("Runs (arms \u00d7 seeds)", [arm_desc, table(
        ["arm", "seed", "real train", "synthetic train", "epochs", "best epoch", "best val AUROC", "test AUROC",
         "seconds"], run_rows, numeric=set(range(1, 9)))], sid="runs"))
    toc.append(("runs", "Runs"))

    types_note = [note(f"Skin-type groups of the test set: {fst.get('detail')}"
                       + (" (see the caution above)." if fst.get("caution") else "."))] if fst else []
    for metric, label in _section_metrics(stats):
        body.append(section(f"{label} per group and arm", [*types_note, _forest(stats, metric, label),
                                                            _metric_table(stats, metric, label)],
                            sid=f"metric-{metric}", data_attrs={"metric": metric}))
        toc.append((f"metric-{metric}", label))

    eod_rows = [{"label": arm, **dict(zip(("value", "lo", "hi"), metric_parts(stats["arms"][arm].get(
        "equalized_odds_difference")))), "style": _arm_style(i), "unreliable": False} for i, arm in enumerate(arms)]
    eod_desc = "; ".join(f"{r['label']}: {fmt(r['value'])} ({fmt(r['lo'])} to {fmt(r['hi'])})" for r in eod_rows)
    body.append(section("Equalized odds difference per arm", [
        figure(_svg.forest(eod_rows, title="Equalized odds difference per arm", desc=eod_desc,
                           xlabel="EOD (0 = equal error rates)", xlim=(0.0, 1.0), kind="forest-eod"),
               "Largest gap in sensitivity or false-positive rate between skin-type groups; lower is fairer."),
        table(["arm", "EOD (95% CI)"], [[a, ci_cell(stats["arms"][a].get("equalized_odds_difference"))] for a in arms])],
        sid="eod"))
    toc.append(("eod", "EOD"))

    comps = []
    for c in stats.get("comparisons", []):
        sid = f"cmp-{c['candidate']}"
        words, cls = verdict_display(c)
        short = words.split(" (")[0]
        comps.append(section(f"{c['candidate']} vs {c['baseline']}: {short}", [
            Markup(f'<p class="verdict">Verdict: <span class="{esc(cls)}">{esc(words)}</span> '
                   f'({esc(c.get("verdict_reason"))})</p>'),
            _criteria_table(c), _deltas_table(c)], sid=sid, level=3, cls="comparison",
            data_attrs={"verdict": c.get("verdict")}))
    if not comps:
        comps.append(note("No comparison: only the baseline arm was run."))
    body.append(section("Verdict against the criteria", comps, sid="verdict"))
    toc.append(("verdict", "Verdict"))

    body.append(_test_set_section(data))
    toc.append(("test-set", "Test set"))

    origin = (data.get("context") or {}).get("synthetic_origin") or {}
    if syn.get("generator") == "given manifest" and origin:
        src = [dl([("made by", origin.get("made_by")), ("manifest", syn.get("source")), ("images used", syn.get("n")),
                   ("generated (attempts)", origin.get("generated")), ("passed the ITA gate", origin.get("accepted")),
                   ("rejected by the gate", origin.get("rejected")), ("its report", origin.get("report"))])]
    elif syn.get("generator") == "given manifest":
        src = [dl([(k, v) for k, v in (("generator", "images of a given manifest (the experiment did not generate them)"),
                                       ("manifest", syn.get("source")), ("images", syn.get("n")),
                                       ("base model", ", ".join(map(str, syn.get("base_model") or [])) or None))
                   if v is not None]),
               note("How many attempts the generator made is recorded where the images were made (fairskin "
                    "balance's report and attempts-*.csv), not in this file.")]
    else:
        src = [dl([("generator", syn.get("generator")), ("source", syn.get("source")), ("images", syn.get("n")),
                   ("attempts", syn.get("attempts")), ("rejected", syn.get("rejected")), ("failed", syn.get("failed"))])]
    plan = syn.get("plan")
    if isinstance(plan, Mapping):
        src.append(dl([(f"plan: {k}", v) for k, v in plan.items()]))
    if syn.get("generator") == PHANTOM:
        src.append(_stand_in("The phantom renderer draws new images from the demo data's own model; they are not "
                             "the output of a generative model."))
    if syn.get("note"):
        src.append(note(syn["note"], "note warn"))
    body.append(section("Where the synthetic images came from", src, sid="synthetic"))
    toc.append(("synthetic", "Synthetic images"))

    meth = [note(f"Confidence intervals: {stats.get('ci_method')}."),
            dl([("CI level", stats.get("ci_level")), ("bootstrap replicates", stats.get("n_boot")),
                ("threshold", stats.get("threshold")), ("seeds per arm", cfg.get("seeds")),
                ("architecture", cfg.get("arch")), ("epochs", cfg.get("epochs")),
                ("unreliable when", f"n < {MIN_RELIABLE_N} or fewer than 5 positives in the test set")])]
    body.append(section("Method", meth, sid="method"))
    toc.append(("method", "Method"))

    if data.get("rounds"):
        body.append(_rounds_section(data["rounds"]))
        toc.append(("rounds", "Hard-case rounds"))

    sub = f"{len(arms)} arm(s), {cfg.get('seeds', '?')} seed(s) each; created {data.get('created', '')}"
    return page("Synthetic augmentation experiment by skin type", body, subtitle=sub, toc=toc, defs=_svg.DEFS)


def render_experiment_report(data: Mapping, path) -> Path:
    """Write the experiment report to ``path`` (.html) and the dict as JSON beside it."""
    return write_report(build_experiment_html(data), data, path)
