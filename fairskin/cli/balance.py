"""``fairskin balance``: generate the images a skin-type target needs, gated by measured ITA."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from fairskin.balance import DEFAULT_GENERATOR, GenerateConfig, PlanConfig, TrainBudget
from fairskin.cli import app, console
from fairskin.cli._common import CONFIG_HELP, file_settings, settings_file, QUIET_HELP, progress_view
from fairskin.settings import config_fields, merge_settings

_P = PlanConfig()
_G = GenerateConfig()
_B = TrainBudget()


@app.command("balance")
@settings_file("balance", extra=config_fields(GenerateConfig))
def balance(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Data set directory (any format fairskin reads)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: images, manifest.csv, plan."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv from fairskin label: the type of images without a human type (human types win)."),
    label_confusion: Optional[Path] = typer.Option(None, "--label-confusion", help="The labeller's confusion with human types (fairskin label --confusion, or its --json summary); default: the summary beside --labels. Estimated types are counted as the shares it corrects."),
    accept_estimated_types: bool = typer.Option(False, "--accept-estimated-types", help="Plan on estimated skin types even when their agreement with people is unknown or poor (the plan says so)."),
    target: str = typer.Option(_P.target, "--target", help="'fst56=0.25' (share of V-VI), 'fst5=0.12,fst6=0.13' or 'uniform'."),
    max_per_real: float = typer.Option(_P.max_per_real, "--max-per-real", help="At most this many synthetic images per real image in a cell."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print and write the plan (OUT/plan.json, plan.csv), generate nothing."),
    generator: str = typer.Option(DEFAULT_GENERATOR, "--generator", help="stable-diffusion (skin-tone-conditioned Stable Diffusion), ddpm (class-conditional DDPM per skin type x diagnosis), phantom (the demo's known-answer renderer), or your own class as module:Class (docs/generation.md)."),
    generator_dir: Optional[Path] = typer.Option(None, "--generator-dir", help="Trained folder of a generator other than stable-diffusion (ddpm: from fairskin train-ddpm; default: train one into OUT/ddpm)."),
    scale: Optional[str] = typer.Option(None, "--scale", help="ITA scale of the gate (default: the one --labels was written with; give the scale CSV when that one is not built in)."),
    conditioning: Optional[Path] = typer.Option(None, "--conditioning", help="Folder from fairskin train-conditioning (default: train one into OUT/conditioning)."),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="When training here: local diffusers folder or .safetensors (default: built-in tiny model)."),
    base_config: Optional[Path] = typer.Option(None, "--base-config", help="With a single .safetensors --base-model: a local diffusers folder with the configs of its architecture (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/; no weights needed)."),
    train_steps: int = typer.Option(_B.steps, "--train-steps", min=1, help="When training here: optimizer steps (a step count, so the same command trains the same model on any machine; the built-in tiny model trains its VAE first)."),
    train_minutes: Optional[float] = typer.Option(_B.max_minutes, "--train-minutes", min=0, help="When training here: also stop after this many minutes of training, even short of --train-steps (default: no cap; a cap makes the model depend on how busy the machine is)."),
    mode: str = typer.Option(_G.mode, "--mode", help="text (text-to-image) or image (re-tone a lighter real image of the same diagnosis)."),
    strength: float = typer.Option(_G.strength, "--strength", help="Image-to-image strength."),
    steps: int = typer.Option(_G.steps, "--steps", min=1, help="Inference steps."),
    guidance: Optional[float] = typer.Option(_G.guidance, "--guidance", help="Classifier-free guidance scale (default: 1.0 for the built-in tiny model, 7.5 for a pretrained base)."),
    batch_size: int = typer.Option(_G.batch_size, "--batch-size", min=1, help="Images generated per batch."),
    tolerance: Optional[int] = typer.Option(_G.tolerance, "--tolerance", min=0, help="Types the measured FST may differ by (default: 0 for V-VI, 1 otherwise)."),
    max_attempts: int = typer.Option(_G.max_attempts, "--max-attempts", min=1, help="Seeds tried per image before the cell is left short."),
    seed: int = typer.Option(_G.seed, "--seed", help="Seed every image's generation seed is derived from (reruns give the same images)."),
    mixed_precision: str = typer.Option(_G.mixed_precision, "--mixed-precision", help="no, bf16 or fp16 (GPU)."),
    device: Optional[str] = typer.Option(None, "--device", help="cuda, cpu or mps (default: CUDA when available, else CPU)."),
    format: Optional[str] = typer.Option(None, "--format", help="Data set format (detected when omitted)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete OUT's results when they come from another plan or other settings, and replace existing --json / --html files."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the summary (fairskin.balance/1) as JSON."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write an HTML report (and the data it shows as JSON beside it: X.html, X.json)."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP + " Its \\[balance] table may also set "
                                          "GenerateConfig's fields (guidance_rescale, negative_prompt)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Make FST V-VI (or any types) a target share of DATA by generating the missing images.

    Every generated image is measured with fairskin label's ITA estimator and kept only if its
    skin type is the one asked for. A killed run resumes: run the same command again. Prompts name
    the photo style (dermoscopy or clinical) where DATA's manifest has a style column.
    """
    from fairskin.balance import balance as run
    from fairskin.errors import InputError

    if mode not in ("text", "image"):
        raise InputError(f"--mode must be text or image, got {mode!r}")
    gen = merge_settings(GenerateConfig(), file_settings(ctx),
                         dict(mode=mode, strength=strength, steps=steps, guidance=guidance, batch_size=batch_size,
                              tolerance=tolerance, max_attempts=max_attempts, seed=seed,
                              mixed_precision=mixed_precision), option="--config")
    with progress_view(quiet or dry_run, "balance") as view:
        result = run(data, out=out, labels=labels, target=target, max_per_real=max_per_real, conditioning=conditioning,
                     base_model=base_model, base_config=base_config,
                     train_budget=TrainBudget(steps=train_steps, max_minutes=train_minutes), generate=gen,
                     generator=generator, generator_dir=generator_dir, scale=scale, dry_run=dry_run,
                     label_confusion=label_confusion, accept_estimated_types=accept_estimated_types,
                     overwrite=overwrite, format=format, device=device, json_path=json_path, html=html,
                     progress=view)
    if not dry_run and not result.summary:  # another process of `accelerate launch`: rank 0 reports for all
        console.print(f"process {os.environ.get('RANK', '?')}: its share of the plan is done; process 0 writes the "
                      "manifest", highlight=False)
        return
    console.print(result.plan.format_table(), highlight=False)
    if dry_run:
        console.print(f"plan: {out / 'plan.json'}  (dry run: nothing generated)")
        return
    s = result.summary
    if not s:
        return
    t = Table(title="ITA gate per cell", title_justify="left")
    for c in ("type", "diagnosis", "real", "target", "accepted", "tried", "acceptance"):
        t.add_column(c, justify="left" if c in ("type", "diagnosis") else "right")
    for c in s["cells"]:
        if c["to_generate"]:
            acc = "n/a" if c["acceptance_rate"] is None else f"{c['acceptance_rate']:.0%}"
            t.add_row(c["fst"], c["diagnosis"], str(c["real"]), str(c["target"]), str(c["synthetic"]),
                      str(c["generated"]), acc)
    console.print(t)
    for sh in s["shares"]:
        console.print(f"{sh['types']}: {sh['share_before']:.1%} -> {sh['achieved']:.1%} (target {sh['target']:.1%})")
    for w in s["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(f"manifest: {result.manifest}   imagefolder metadata: {result.metadata}"
                  + (f"   summary: {json_path}" if json_path else "") + (f"   report: {html}" if html else ""))
