"""``fairskin train-conditioning``: learn <fst-k> tokens, the FST embedding (and LoRA / the tiny model)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fairskin.cli import app, console
from fairskin.cli._common import QUIET_HELP, progress_view
from fairskin.conditioning import FST_TOKENS, TrainConfig

_T = TrainConfig()


@app.command("train-conditioning")
def train_conditioning(
    data: Path = typer.Argument(..., help="Data set directory (any format fairskin reads)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the conditioning into."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv from fairskin label (else human types, else estimated here)."),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="Local diffusers folder or .safetensors file (default: the built-in tiny model, trained from scratch)."),
    base_config: Optional[Path] = typer.Option(None, "--base-config", help="With a single .safetensors --base-model: a local diffusers folder with the configs of its architecture (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/; no weights needed)."),
    format: Optional[str] = typer.Option(None, "--format", help="Data set format (detected when omitted)."),
    resume: Optional[str] = typer.Option(None, "--resume", help="'latest' or a checkpoint folder."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    resolution: Optional[int] = typer.Option(_T.resolution, "--resolution", help="Training resolution (default: 64 for the tiny model, the base model's own otherwise)."),
    steps: int = typer.Option(_T.steps, "--steps", min=1, help="Optimizer steps."),
    learning_rate: Optional[float] = typer.Option(_T.learning_rate, "--lr", help="Learning rate (default: 1e-3 tiny model, 5e-4 tokens only, 1e-4 LoRA)."),
    batch_size: Optional[int] = typer.Option(_T.batch_size, "--batch-size", min=1, help="Images per optimizer step (default: 16 for the tiny model, 32 otherwise)."),
    gradient_accumulation: int = typer.Option(_T.gradient_accumulation, "--gradient-accumulation", min=1, help="Batches summed per optimizer step."),
    mixed_precision: str = typer.Option(_T.mixed_precision, "--mixed-precision", help="no, bf16 or fp16 (fp16: GPU only; trainable weights stay fp32)."),
    gradient_checkpointing: bool = typer.Option(_T.gradient_checkpointing, "--gradient-checkpointing", help="Recompute activations to save GPU memory (slower)."),
    checkpoint_every: int = typer.Option(_T.checkpoint_every, "--checkpoint-every", min=0, help="Save a resumable checkpoint every N steps (0: none)."),
    seed: int = typer.Option(_T.seed, "--seed", help="Seed of the initialisation, batches and noise."),
    lora_rank: int = typer.Option(_T.lora_rank, "--lora-rank", min=0, help="LoRA rank on the UNet attention (pretrained base only; 0: no LoRA)."),
    zero_terminal_snr: Optional[bool] = typer.Option(None, "--zero-terminal-snr/--no-zero-terminal-snr", help="Zero terminal SNR (rescaled betas, trailing timesteps). Default: on when the UNet trains from scratch."),
    prediction_type: str = typer.Option(_T.prediction_type, "--prediction-type", help="auto, epsilon or v_prediction."),
    noise_offset: Optional[float] = typer.Option(_T.noise_offset, "--noise-offset", help="Offset noise (default: 0.5 from scratch with tone requests, 0.1 without, 0.05 with LoRA, 0 tokens only). More pulls each generated tone towards what its condition asks: more exact types; without tone requests also less spread of tones."),
    type_sampling: str = typer.Option(_T.type_sampling, "--type-sampling", help="balanced (every skin type drawn equally often in training batches) or natural (images drawn uniformly)."),
    lr_schedule: str = typer.Option(_T.lr_schedule, "--lr-schedule", help="auto, constant or cosine (auto: cosine to 5% of --lr over the run for the tiny model, constant otherwise)."),
    ema_decay: Optional[float] = typer.Option(_T.ema_decay, "--ema-decay", help="Save an exponential moving average of the trained weights (with warm-up; default: 0.999 for the tiny model, 0 = off otherwise)."),
    vae_steps: int = typer.Option(_T.vae_steps, "--vae-steps", min=0, help="Tiny model only: VAE training steps."),
    max_minutes: Optional[float] = typer.Option(_T.max_minutes, "--max-minutes", help="Stop training after this many minutes."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Train again into an OUT that already holds a trained "
                                   "conditioning (without it, or --resume, that is refused)."),
    tone: bool = typer.Option(_T.tone, "--tone/--no-tone", help="Tone requests: the FST embedding also learns each image's ITA, and each generated image asks for an ITA drawn from its type's real images."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Learn skin-tone conditioning: <fst-1>..<fst-6> tokens and an FST embedding (plus LoRA).

    Without --base-model, the built-in tiny Stable Diffusion is trained from scratch on DATA.
    """
    from fairskin.conditioning import train_conditioning as run
    from fairskin.errors import InputError
    from fairskin.outputs import claim_outputs

    config = TrainConfig(resolution=resolution, steps=steps, learning_rate=learning_rate, batch_size=batch_size,
                         gradient_accumulation=gradient_accumulation, mixed_precision=mixed_precision,
                         gradient_checkpointing=gradient_checkpointing, checkpoint_every=checkpoint_every, seed=seed,
                         lora_rank=lora_rank, zero_terminal_snr=zero_terminal_snr, prediction_type=prediction_type,
                         noise_offset=noise_offset, type_sampling=type_sampling, lr_schedule=lr_schedule, ema_decay=ema_decay, vae_steps=vae_steps,
                         max_minutes=max_minutes, tone=tone)
    if (out / "conditioning.json").is_file() and resume is None and not overwrite:
        raise InputError(f"--out: {out} already holds a trained conditioning (conditioning.json); pass --overwrite to "
                         "train again into it, --resume latest to continue its training, or choose another folder")
    with claim_outputs({"--out": out}, overwrite=True, kinds={"--out": "dir"}):  # one training per folder
        with progress_view(quiet, "train-conditioning") as view:
            result = run(data, out=out, labels=labels, base_model=base_model, base_config=base_config, config=config,
                         resume=resume, device=device, format=format, progress=view)
    s = result.schedule
    console.print(f"trained {result.steps} steps ({result.seconds_per_step:.3f} s/step, final loss {result.final_loss:.4f}); "
                  f"schedule: {s['prediction_type']}, zero terminal SNR {'on' if s['zero_terminal_snr'] else 'off'}, "
                  f"offset noise {s['noise_offset']:g}")
    console.print(f"conditioning: {result.path}  (tokens {', '.join(FST_TOKENS.values())})")
