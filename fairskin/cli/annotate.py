"""``fairskin annotate create / invite / serve / analyze``: skin-type labels from people, combined
into a consensus with agreement statistics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from fairskin.cli import app, console
from fairskin.cli._common import kv_table, progress_view
from fairskin.annotate import AnnotateAnalyzeConfig, AnnotateConfig
from fairskin.reader_study import ServeConfig
from fairskin.cli.reader_study import _db_option, invite_command as _reader_invite

annotate_app = typer.Typer(name="annotate", no_args_is_help=True, add_completion=False,
                           pretty_exceptions_show_locals=False,
                           help="Skin-type labels from annotators: a sample, a web app, and their consensus.")
app.add_typer(annotate_app, name="annotate")

_C, _A, _V = AnnotateConfig(), AnnotateAnalyzeConfig(), ServeConfig()


@annotate_app.command("create")
def create_command(
    data: Path = typer.Argument(..., help="Data set folder (any format fairskin reads)."),
    out: Path = typer.Option(..., "--out", "-o", help="Annotation folder to create."),
    scale: str = typer.Option(_C.scale, "--scale", help="fitzpatrick (I-VI) or monk (MST 1-10)."),
    n: int = typer.Option(_C.n, "--n", min=2, help="Images in the sample."),
    per_image: int = typer.Option(_C.per_image, "--per-image", min=0, help="Annotators wanted per image (0 = all)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv of fairskin label to stratify by (default: estimate here)."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Lesion masks folder: the lesion is painted grey so annotators judge the healthy skin."),
    data_format: Optional[str] = typer.Option(None, "--format", help="Data set format (default: detected)."),
    seed: int = typer.Option(_C.seed, "--seed", help="Seed of the sample and of every annotator's order."),
    size: int = typer.Option(_C.image_size, "--size", help="Side (pixels) every image is cropped and resized to."),
    title: str = typer.Option("Skin type annotation", "--title", help="Title the annotators see."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an annotation already in --out (and its labels)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Draw a sample stratified by the estimator's type into an annotation folder."""
    from fairskin.annotate import create_annotation

    cfg = replace(_C, scale=scale, n=n, per_image=per_image, seed=seed, image_size=size)
    with progress_view(quiet, "annotate create", announce=False) as view:
        res = create_annotation(data, out=out, labels=labels, masks=masks, data_format=data_format, config=cfg,
                                title=title, overwrite=overwrite, progress=view)
    console.print(kv_table(f"Annotation {res['out']}", [
        ("images", str(res["n"])),
        ("per stratum (estimated type: drawn of available)",
         ", ".join(f"{k if k != '0' else 'none'}: {v['drawn']}/{v['available']}" for k, v in res["strata"].items())),
        ("lesion masked", str(res["masked"])),
        ("rows skipped", f"{res['skipped']} (reasons in {res['out']}/private/skipped.csv)"),
    ]))
    console.print(f"next: fairskin annotate invite {res['out']} --annotators 3")


@annotate_app.command("invite")
def invite_command(
    folder: Path = typer.Argument(..., help="Annotation folder (fairskin annotate create)."),
    annotators: int = typer.Option(0, "--annotators", min=0, help="Number of new annotators (named reader-01, ...)."),
    names: Optional[str] = typer.Option(None, "--names", help="Comma-separated names of new annotators, instead of --annotators."),
    url: str = typer.Option(_V.url, "--url", help="Address the annotators will open."),
    db: Optional[str] = _db_option(),
) -> None:
    """Create personal invite links (tokens); the first call also creates the admin link."""
    from fairskin.annotate import read_annotation_file

    read_annotation_file(folder)  # an annotation folder, not just any reader study
    _reader_invite(study=folder, readers=annotators, names=names, url=url, db=db)


@annotate_app.command("serve")
def serve_command(
    folder: Path = typer.Argument(..., help="Annotation folder."),
    db: Optional[str] = _db_option(),
    host: str = typer.Option(_V.host, "--host", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(_V.port, "--port", min=0, max=65535, help="Port to listen on."),
    secure_cookie: bool = typer.Option(False, "--secure-cookie", help="Mark the sign-in cookie Secure (behind HTTPS)."),
) -> None:
    """Run the labelling pages (the reader study's server, security and database)."""
    from fairskin.annotate import serve_annotation

    serve_annotation(folder, db=db, config=ServeConfig(host=host, port=port, secure_cookie=secure_cookie),
                     announce=lambda s: console.print(s, highlight=False))


@annotate_app.command("analyze")
def analyze_command(
    folder: Path = typer.Argument(..., help="Annotation folder."),
    db: Optional[str] = _db_option(),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for labels.csv, label_confusion.json and report.html (default: FOLDER/analysis)."),
    smoothing: float = typer.Option(_A.smoothing, "--smoothing", help="Dawid-Skene pseudo-count per confusion cell."),
    neighbour: float = typer.Option(_A.neighbour, "--neighbour", min=0, help="Dawid-Skene extra pseudo-count on the neighbouring types of each confusion row (0: spread evenly)."),
    flat_prior: bool = typer.Option(False, "--flat-prior", help="Divide out the estimated type mix: rare (dark) types are not pulled towards common ones."),
    calibration_boot: int = typer.Option(_A.calibration_boot, "--calibration-boot", min=0, help="Simulated studies that set the temperature of the consensus probabilities (0: uncalibrated plug-in posterior)."),
    n_boot: int = typer.Option(_A.n_boot, "--n-boot", min=100, help="Bootstrap replicates of the agreement intervals."),
    seed: int = typer.Option(_A.seed, "--seed", help="Bootstrap seed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
) -> None:
    """Consensus types (Dawid-Skene), Krippendorff's alpha, each annotator's agreement, agreement with
    the human and estimated labels; labels.csv and the report."""
    import json

    from fairskin.annotate import analyze_annotation, confusion_document, render_annotation_report, summary_lines
    from fairskin.outputs import atomic_write, claim_outputs, write_csv

    folder_out = out or folder / "analysis"
    paths = {"labels": folder_out / "labels.csv", "confusion": folder_out / "label_confusion.json",
             "report": folder_out / "report.html", "report_data": folder_out / "report.json"}
    folder_out.mkdir(parents=True, exist_ok=True)
    with claim_outputs({f"--out ({k})": p for k, p in paths.items()}, overwrite=overwrite):
        data = analyze_annotation(folder, db=db, config=replace(_A, smoothing=smoothing, n_boot=n_boot, seed=seed,
                                                                     calibration_boot=calibration_boot, neighbour=neighbour,
                                                                     flat_prior=flat_prior))
        for s in summary_lines(data):
            console.print(f"- {s}", highlight=False)
        for w in data["warnings"]:
            console.print(f"[yellow]warning:[/] {w}")
        write_csv(data["labels"], paths["labels"], index=False)
        doc = confusion_document(data, source=str(paths["labels"]))
        if doc is not None:
            atomic_write(paths["confusion"], json.dumps(doc, indent=1) + "\n")
        render_annotation_report(data, paths["report"])
    console.print(f"labels: {paths['labels']} (source 'human consensus')")
    if doc is not None:
        console.print(f"estimator's confusion: {paths['confusion']} (fairskin audit --label-confusion)")
    console.print(f"report: {paths['report']}")
