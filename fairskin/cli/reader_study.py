"""``fairskin reader-study create / invite / serve / analyze``: a blinded reader study of real vs
synthetic images, skin type by skin type."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from fairskin.cli import app, console
from fairskin.cli._common import QUIET_HELP, kv_table, progress_view
from fairskin.reader_study import AnalyzeConfig, Questions, ServeConfig, StudyConfig

reader_app = typer.Typer(name="reader-study", no_args_is_help=True, add_completion=False,
                         pretty_exceptions_show_locals=False,
                         help="Blinded reader study: can readers tell synthetic images from real ones, per skin type?")
app.add_typer(reader_app, name="reader-study")

_S, _Q, _V, _A = StudyConfig(), Questions(), ServeConfig(), AnalyzeConfig()
_DB_HELP = ("Answer database: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB (or $FAIRSKIN_READER_DB); "
            "default: SQLite in the study folder.")


def _db_option():
    return typer.Option(None, "--db", envvar="FAIRSKIN_READER_DB", help=_DB_HELP, show_envvar=False)


@reader_app.command("create")
def create_command(
    manifest: Path = typer.Argument(..., help="Balanced manifest CSV (fairskin balance) or an image folder whose metadata.csv has an origin column."),
    out: Path = typer.Option(..., "--out", "-o", help="Study folder to create."),
    real: Optional[Path] = typer.Option(None, "--real", help="Root of the real images' paths (default: the manifest's folder)."),
    n: int = typer.Option(_S.n, "--n", min=2, help="Images in the study (calibration images not counted)."),
    real_share: float = typer.Option(_S.real_share, "--real-share", help="Share of real images (the rest synthetic)."),
    seed: int = typer.Option(_S.seed, "--seed", help="Seed of the sample and of every reader's order."),
    size: int = typer.Option(_S.image_size, "--size", help="Side (pixels) every image is cropped and resized to."),
    quality: int = typer.Option(_S.jpeg_quality, "--quality",
                                help="JPEG quality every image passes through (the same artefacts for both "
                                     "origins); served uncompressed."),
    calibration: int = typer.Option(_S.n_calibration, "--calibration", help="Calibration images shown with their answers first (even number; 0 = none)."),
    diagnoses: Optional[str] = typer.Option(None, "--diagnoses", help="Comma-separated diagnoses to draw from (default: all)."),
    time_limit: float = typer.Option(_Q.time_limit_s, "--time-limit", help="Seconds per image before it is hidden and the answer flagged (0 = none)."),
    no_diagnosis: bool = typer.Option(False, "--no-diagnosis-question", help="Do not ask for a diagnosis."),
    title: str = typer.Option("Reader study: real or synthetic?", "--title", help="Title the readers see."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a study already in --out (and its answers)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Draw a blinded sample stratified by skin type x diagnosis x origin into a study folder."""
    from fairskin.reader_study import create_study

    dx = tuple(d.strip() for d in diagnoses.split(",") if d.strip()) if diagnoses else ()
    q = replace(_Q, time_limit_s=time_limit, ask_diagnosis=not no_diagnosis)
    cfg = replace(_S, n=n, real_share=real_share, seed=seed, image_size=size, jpeg_quality=quality,
                  n_calibration=calibration, diagnoses=dx, questions=q)
    with progress_view(quiet, "reader-study create", announce=False) as view:
        res = create_study(manifest, out=out, real=real, config=cfg, title=title, overwrite=overwrite, progress=view)
    a = res.allocation
    console.print(kv_table(f"Reader study {res.out}", [
        ("images", f"{res.n_items} ({sum(v for (_, _, o), v in a.counts.items() if o == 'real')} real, "
                   f"{sum(v for (_, _, o), v in a.counts.items() if o == 'synthetic')} synthetic)"),
        ("cells (skin type x diagnosis)", str(len(a.cells))),
        ("calibration images", str(res.n_calibration)),
        ("every served file", f"{size} x {size} uncompressed PNG, {res.image_bytes:,} bytes each"),
        ("rows skipped", f"{len(res.skipped)} (reasons in {res.out}/private/skipped.csv)"),
    ]))
    if a.left_out:
        console.print(f"[yellow]note:[/] {len(a.left_out)} cell(s) with one origin only were left out "
                      f"(a reader could answer from the cell): see {res.out}/private/sample.json")
    console.print(f"next: fairskin reader-study invite {res.out} --readers 12")


@reader_app.command("invite")
def invite_command(
    study: Path = typer.Argument(..., help="Study folder (fairskin reader-study create)."),
    readers: int = typer.Option(0, "--readers", min=0, help="Number of new readers (named reader-01, ...)."),
    names: Optional[str] = typer.Option(None, "--names", help="Comma-separated names of new readers, instead of --readers."),
    url: str = typer.Option(_V.url, "--url", help="Address the readers will open (the server's public URL)."),
    db: Optional[str] = _db_option(),
) -> None:
    """Create personal invite links (tokens); the first call also creates the admin link."""
    from fairskin.reader_study import invite_readers

    nm = [s.strip() for s in names.split(",")] if names else ()
    invites = invite_readers(study, readers=readers, names=nm, url=url, db=db)
    for inv in invites:
        console.print(f"{inv.role:6s} {inv.name:20s} {inv.link}", highlight=False, soft_wrap=True)
    console.print(f"{len(invites)} link(s), also in {study}/private/invites.csv (keep it private: a link is a password)")


@reader_app.command("serve")
def serve_command(
    study: Path = typer.Argument(..., help="Study folder."),
    db: Optional[str] = _db_option(),
    host: str = typer.Option(_V.host, "--host", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(_V.port, "--port", min=0, max=65535, help="Port to listen on."),
    threads: int = typer.Option(_V.threads, "--threads", min=1, help="Worker threads."),
    secure_cookie: bool = typer.Option(False, "--secure-cookie", help="Mark the sign-in cookie Secure (behind HTTPS)."),
) -> None:
    """Run the web app that shows the images and stores the answers."""
    from fairskin.reader_study import serve_study

    serve_study(study, db=db, config=replace(_V, host=host, port=port, threads=threads, secure_cookie=secure_cookie),
                announce=lambda s: console.print(s, highlight=False))


@reader_app.command("analyze")
def analyze_command(
    study: Path = typer.Argument(..., help="Study folder."),
    db: Optional[str] = _db_option(),
    html: Optional[Path] = typer.Option(None, "--html", help="Write the HTML report here (and its data as .json beside it)."),
    json_out: bool = typer.Option(False, "--json", help="Write the analysis JSON to --out."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for --json (default: STUDY/analysis)."),
    synthetic_audit: Optional[Path] = typer.Option(None, "--synthetic-audit", help="synthetic_audit.json of fairskin audit-synthetic: correlate detectability with FID/KID/ITA fidelity per cell."),
    n_boot: int = typer.Option(_A.n_boot, "--n-boot", min=100, help="Crossed bootstrap replicates."),
    seed: int = typer.Option(_A.seed, "--seed", help="Bootstrap seed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP + " Without it the summary sentences are "
                               "printed too."),
) -> None:
    """Accuracy per reader and pooled (readers and images random), d', realism by origin and skin type,
    agreement, diagnosis accuracy, and detectability vs fidelity."""
    import json

    from fairskin.outputs import atomic_write, claim_outputs, to_jsonable
    from fairskin.reader_study import analyze_study, render_reader_study_report, summary_sentences
    from fairskin.reports import report_outputs

    json_path = (out or study / "analysis") / "reader_study.json" if json_out else None
    outputs = {"--json": json_path, **report_outputs(html, json_path=json_path)}
    with claim_outputs(outputs, overwrite=overwrite):  # checked (and locked) before the analysis runs
        with progress_view(quiet, "reader-study analyze"):
            data = analyze_study(study, db=db, synthetic_audit=synthetic_audit,
                                 config=replace(_A, n_boot=n_boot, seed=seed))
        for s in ([] if quiet else summary_sentences(data)):
            console.print(f"- {s}", highlight=False)
        for w in data["warnings"]:
            console.print(f"[yellow]warning:[/] {w}")
        if json_path is not None:
            atomic_write(json_path, json.dumps(to_jsonable(data), indent=1, allow_nan=False) + "\n")
            console.print(f"analysis: {json_path}")
        if html is not None:
            render_reader_study_report(data, html)
            console.print(f"report: {html}")
