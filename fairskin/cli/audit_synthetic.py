"""``fairskin audit-synthetic``: are the generated images of the right skin tone, realistic,
diverse, and not copies of a training image?"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from fairskin.cli import app, console
from fairskin.cli._common import CONFIG_HELP, file_settings, progress_view, settings_file
from fairskin.errors import InputError, MissingDependencyError

_EXTRACTORS = ("inception", "classifier", "hf", "colour-texture")


from fairskin.audits.synthetic import SyntheticAuditConfig
from fairskin.settings import config_fields, merge_settings

_D = SyntheticAuditConfig()


@app.command("audit-synthetic")
@settings_file("audit-synthetic", extra=config_fields(SyntheticAuditConfig))
def audit_synthetic_command(
    ctx: typer.Context,
    manifest: Path = typer.Argument(..., help="Balanced manifest CSV from `fairskin balance` (synthetic rows are audited)."),
    real: Path = typer.Option(..., "--real", help="Real data set directory the generator was trained on (reference and memorisation candidates)."),
    out: Path = typer.Option(Path("synthetic-audit"), "--out", "-o", help="Output folder: synthetic_audit.json and synthetic_images.csv."),
    extractor: str = typer.Option(_D.extractor, "--extractor", help=f"Feature space: {', '.join(_EXTRACTORS)}. Only inception gives FID."),
    inception_weights: Optional[Path] = typer.Option(None, "--inception-weights", help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth (or $FAIRSKIN_INCEPTION_WEIGHTS)."),
    classifier: Optional[Path] = typer.Option(None, "--classifier", help="Audited classifier whose penultimate layer is the feature space, loaded as `fairskin audit` loads it (TorchScript, torch.export, safetensors or a timm state dict)."),
    classifier_arch: Optional[str] = typer.Option(None, "--classifier-arch", help="timm architecture of --classifier when the file does not name it."),
    trust_model: bool = typer.Option(False, "--trust-model", help="Allow a pickled classifier module (unpickling runs code: only for files you trust)."),
    hf_model: Optional[Path] = typer.Option(None, "--hf-model", help="Local DINO/DINOv2/CLIP checkpoint directory (transformers save_pretrained)."),
    lpips_backbone: Optional[Path] = typer.Option(None, "--lpips-backbone", help="torchvision AlexNet weights (alexnet-owt-7be5be79.pth) for LPIPS diversity."),
    image_root: Optional[Path] = typer.Option(None, "--image-root", help="Base of the manifest's image paths (default: the manifest's folder)."),
    real_format: Optional[str] = typer.Option(None, "--real-format", help="Format of --real; detected when omitted."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Per-image feature/ITA cache (default: OUT/cache)."),
    memorisation_threshold: float = typer.Option(_D.memorisation_threshold, "--memorisation-threshold", help="Flag a synthetic image whose nearest real thumbnail is closer than this x the median real-real nearest distance."),
    embedding: str = typer.Option(_D.embedding, "--embedding", help="2-D embedding: pca or tsne."),
    batch_size: int = typer.Option(_D.batch_size, "--batch-size", min=1, help="Images per feature-extraction batch."),
    hair_removal: bool = typer.Option(_D.hair_removal, "--hair-removal", help="Inpaint hair (DullRazor) before each "
                                      "image's ITA is measured."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write an HTML report (and the data it shows as JSON beside "
                                        "it: X.html, X.json)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results of an earlier audit in OUT and an "
                                   "existing --html report; without it they are never replaced."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP + " Its \\[audit-synthetic] table may "
                                          "also set SyntheticAuditConfig's fields (kid_subsets, ita_tolerance, ...)."),
) -> None:
    """Audit synthetic images per skin type x diagnosis against the real images of the same cell."""
    from dataclasses import replace

    from fairskin.audits.synthetic import audit_synthetic

    if embedding not in ("pca", "tsne"):
        raise InputError(f"--embedding: expected 'pca' or 'tsne', got {embedding!r}")
    from fairskin.outputs import claim_outputs

    reports = {}
    if html:
        from fairskin.reports import report_outputs

        reports = report_outputs(html)
    outputs = {"--out (synthetic_audit.json)": out / "synthetic_audit.json",
               "--out (synthetic_images.csv)": out / "synthetic_images.csv", **reports}
    with claim_outputs(outputs, overwrite=overwrite):  # checked before anything runs
        cfg = replace(merge_settings(_D, file_settings(ctx), option="--config"), extractor=extractor,
                      memorisation_threshold=memorisation_threshold, embedding=embedding,
                      batch_size=batch_size, hair_removal=hair_removal)
        with progress_view(quiet, "audit-synthetic", announce=False) as view:
            result = audit_synthetic(manifest, real=real, extractor=extractor, inception_weights=inception_weights,
                                     classifier=classifier, classifier_arch=classifier_arch, trust_model=trust_model,
                                     hf_model=hf_model,
                                     lpips_backbone=lpips_backbone, image_root=image_root, real_format=real_format,
                                     cache_dir=cache_dir or out / "cache", config=cfg, progress=view)
        paths = result.write(out)
        _print(result.data)
        if html:
            try:
                from fairskin.reports import render_synthetic_report
            except ImportError as exc:
                raise MissingDependencyError(
                    f"--html: fairskin.reports.render_synthetic_report is not available in this install ({exc}); "
                    f"the audit itself is in {paths['json']}") from None
            render_synthetic_report(result.data, html)
            console.print(f"report: {html}")
        console.print(f"audit: {paths['json']}   per image: {paths['images']}")


def _fmt(v, digits=3):
    if v is None:
        return "n/a"
    if isinstance(v, dict):
        v = v.get("value")
        if v is None:
            return "n/a"
    return f"{v:.{digits}g}"


def _metric_columns(d: dict) -> list[dict]:
    """The feature-space metrics' columns as the audit lists them (``metrics``: its registry); the
    Fréchet distance is "FID" only with Inception-v3 features, "FD" otherwise."""
    from fairskin.audits.synthetic import fidelity_columns

    cols = [dict(x) for x in d.get("metrics") or fidelity_columns()]
    for x in cols:
        if x["key"] == "fid" and not d.get("fid_is_inception"):
            x["label"] = "FD"
    return cols


def _print(d: dict) -> None:
    console.print(f"features: [bold]{d['features']}[/]")
    t = Table(title="Synthetic vs real, per cell", title_justify="left")
    cols = [x for x in _metric_columns(d) if x.get("in_table", True)]
    for c in ("FST", "diagnosis", "n real", "n syn", "FST exact", "W1 ITA (deg)", *(x["label"] for x in cols),
              "collapse"):
        t.add_column(c, justify="right" if c not in ("diagnosis",) else "left")
    for c in d["cells"]:
        f = c["ita_fidelity"]
        t.add_row(c["fst"], c["diagnosis"] or "(all)", str(c["n_real"]), str(c["n_synthetic"]),
                  _fmt(f.get("exact")), _fmt(f.get("wasserstein_deg")), *(_fmt(c.get(x["key"])) for x in cols),
                  {True: "YES", False: "no", None: "n/a"}[c.get("mode_collapse")])
    console.print(t)
    m = d.get("memorisation")
    if m:
        console.print(f"memorisation: {m['n_flagged']} of {m['n_checked']} synthetic images flagged "
                      f"(ratio < {m['threshold']})")
    for w in d["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
