"""Times fairskin's own generation path -- a registered generator driven by the one gated loop
(``fairskin.balance.generate_gated``: generate -> ITA gate -> retry with a new seed) -- for both
backends, and prints how often the gate lets the first try through.

    python benchmarks/bench_generation.py                       # tiny CPU sizes (a few minutes)
    python benchmarks/bench_generation.py --sd-minutes 8.5 --ddpm-minutes 8.5 --per-type 48 --json b.json
    python benchmarks/bench_generation.py --only-sd15 --sd15    # GPU: SD 1.5 architecture, see below

Both backends train from scratch on the phantom demo data (types labelled by the ITA estimator, as
``fairskin balance`` does without --labels): the built-in tiny Stable Diffusion with skin-tone
conditioning (``stable-diffusion``) and the class-conditional DDPM (``ddpm``). Then, per backend,
``--per-type`` slots per requested type (each with the diagnosis and photo style of a real image
of the type) go through ``generate_gated`` with the gate's tolerance 0 (the rule for V and VI):

* images/s: images made per second of the whole loop (generation + gate + retries), and the
  share of that time spent in the generator;
* exact on the first try: attempts at attempt 1 whose measured type is the requested one;
* accepted within ``--max-attempts``, and attempts per accepted image.

``--sd15`` times Stable Diffusion 1.5's published architecture (random seeded weights, no hub
access) two ways in one run: a plain diffusers ``StableDiffusionPipeline`` call in its defaults
(fp32, PNDM 50 steps, guidance 7.5, one image per call) and fairskin's path, the same pipeline
attached to a skin-tone conditioning and driven by ``generate_gated`` (bf16 on GPU, DDIM 25 steps,
batch 8, channels-last, gate included). ``--sd15-tiny`` builds the same classes at toy sizes for a
CPU functional check of that code path (its figures mean nothing).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def requests_per_type(frame, types, per_type, seed):
    """``per_type`` requests per type, each with the diagnosis and photo style of a real image of it."""
    from fairskin.conditioning import STYLES, GenerationRequest, image_styles

    rng = np.random.default_rng(seed)
    styles = image_styles(frame)
    out = []
    for k in types:
        rows = np.flatnonzero(frame["fst"].to_numpy() == k)
        for i in range(per_type):
            if len(rows):
                j = rows[rng.integers(len(rows))]
                dx, st = str(frame["diagnosis"].iloc[j]), styles[j]
            else:
                dx, st = str(frame["diagnosis"].iloc[0]), STYLES[0]
            out.append(GenerationRequest(fst=int(k), diagnosis=dx, style=st))
    return out


def time_gated(generator, requests, *, steps, batch_size, max_attempts, seed, root=None):
    """Run the gated loop over ``requests``; returns its figures."""
    from fairskin.balance import GenerateConfig, Slot, generate_gated

    spent = {"generate": 0.0}
    inner = generator.generate

    def timed_generate(reqs, seeds, *, root):
        t0 = time.perf_counter()
        try:
            return inner(reqs, seeds, root=root)
        finally:
            spent["generate"] += time.perf_counter() - t0

    generator.generate = timed_generate  # instance attribute: the loop calls it like the method
    attempts = []
    slots = [Slot(f"bench-{r.fst}-{i}", r) for i, r in enumerate(requests)]
    cfg = GenerateConfig(steps=steps, batch_size=batch_size, tolerance=0, max_attempts=max_attempts, seed=seed)
    t0 = time.perf_counter()
    run = generate_gated(slots, generator=generator, root=root, config=cfg, on_attempt=attempts.append)
    wall = time.perf_counter() - t0
    del generator.generate
    per_type = {}
    for k in sorted({r.fst for r in requests}):
        first = [a for a in attempts if a.request.fst == k and a.attempt == 1]
        acc = [a for a in attempts if a.request.fst == k and a.gate.accepted]
        per_type[str(k)] = {"first_try_exact": float(np.mean([a.gate.accepted for a in first])) if first else None,
                            "accepted": len(acc), "slots": len(first),
                            "measured_first_try": {str(t): sum(a.gate.fst == t for a in first)
                                                   for t in sorted({a.gate.fst or 0 for a in first})}}
    return {"images": run.attempts, "seconds": wall, "images_per_second": run.attempts / wall if wall else None,
            "generator_share": spent["generate"] / wall if wall else None, "accepted": len(run.accepted),
            "failed": run.failed, "attempts_per_accepted": run.attempts / len(run.accepted) if run.accepted else None,
            "per_type": per_type}


def sd15_components(resolution: int, tiny: bool = False):
    """Stable Diffusion 1.5's published architecture with random (seeded) weights (``tiny``: the same
    classes at toy sizes). The tokenizer is the tiny one, padded to 77."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from fairskin.conditioning._tiny import tiny_tokenizer

    ch, vch, hidden, layers, heads = ((320, 640, 1280, 1280), (128, 256, 512, 512), 768, 12, 12) if not tiny else \
        ((32, 32, 64, 64), (8, 8, 16, 16), 32, 1, 2)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=resolution // 8, in_channels=4, out_channels=4, layers_per_block=2 if not tiny else 1,
        block_out_channels=ch, cross_attention_dim=hidden, attention_head_dim=8, norm_num_groups=32 if not tiny else 8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2 if not tiny else 1,
                        block_out_channels=vch, down_block_types=("DownEncoderBlock2D",) * 4,
                        norm_num_groups=32 if not tiny else 8,
                        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=resolution, scaling_factor=0.18215)
    tok = tiny_tokenizer(77)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408 if not tiny else len(tok), hidden_size=hidden,
                                        intermediate_size=4 * hidden, num_hidden_layers=layers,
                                        num_attention_heads=heads, max_position_embeddings=77,
                                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                        pad_token_id=tok.pad_token_id, hidden_act="quick_gelu"))
    sched = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                          steps_offset=1, set_alpha_to_one=False)
    return dict(unet=unet, vae=vae, text_encoder=text, tokenizer=tok, scheduler=sched), hidden


def sd15_conditioning(hidden: int, resolution: int):
    """An untrained skin-tone conditioning for the SD 1.5 architecture (zero tokens, seeded embedding):
    the compute fairskin adds, without training it."""
    import torch

    from fairskin.conditioning import FST_TOKENS, Conditioning, FstEmbedding

    torch.manual_seed(0)
    return Conditioning(path=None, config={"base_model": "sd15-architecture-random-weights", "resolution": resolution,
                                           "schedule": {"prediction_type": "epsilon", "zero_terminal_snr": False},
                                           "train": {"trained": "untrained (benchmark)"}},
                        token_embeddings={t: torch.zeros(hidden) for t in FST_TOKENS.values()},
                        fst_embedding=FstEmbedding(hidden))


def bench_sd15(*, resolution=512, n_images=8, batch=8, steps=25, device="cuda", default_steps=50, tiny=False):
    """images/s of a plain diffusers call in its defaults against fairskin's generation path (the
    StableDiffusionGenerator behind generate_gated, gate included), same architecture, same run."""
    import torch
    from diffusers import StableDiffusionPipeline

    from fairskin.conditioning import GenerationRequest, SamplingConfig, StableDiffusionGenerator

    parts, hidden = sd15_components(resolution, tiny=tiny)
    plain = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                                    requires_safety_checker=False).to(device)
    plain.set_progress_bar_config(disable=True)
    prompt = "a dermoscopy photo of melanoma on skin"

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    plain(prompt, height=resolution, width=resolution, num_inference_steps=2)  # warm-up
    sync()
    t0 = time.perf_counter()
    for _ in range(n_images):
        plain(prompt, height=resolution, width=resolution, num_inference_steps=default_steps)
    sync()
    ips_plain = n_images / (time.perf_counter() - t0)

    precision = "bf16" if device == "cuda" else "no"
    gen = StableDiffusionGenerator(sd15_conditioning(hidden, resolution), pipeline=plain, device=device,
                                   config=SamplingConfig(steps=steps, batch_size=batch, mixed_precision=precision))
    reqs = [GenerationRequest(fst=5 + i % 2, diagnosis="melanoma") for i in range(n_images)]
    time_gated(gen, reqs[:1], steps=2, batch_size=batch, max_attempts=1, seed=1)  # warm-up
    sync()
    fair = time_gated(gen, reqs, steps=steps, batch_size=batch, max_attempts=1, seed=0)
    sync()
    return {"resolution": resolution, "device": device, "architecture": "toy" if tiny else "SD 1.5",
            "plain_images_per_second": ips_plain, "fairskin_images_per_second": fair["images_per_second"],
            "speedup": fair["images_per_second"] / ips_plain, "fairskin_generator_share": fair["generator_share"],
            "plain": f"fp32, PNDM {default_steps} steps, guidance 7.5, 1 image/call",
            "fairskin": f"{precision}, {gen.scheduler_name} {steps} steps, guidance {gen.guidance}, batch {batch}, "
                        f"channels-last on GPU, through generate_gated (ITA gate included)"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120, help="demo images")
    ap.add_argument("--size", type=int, default=64, help="demo image side")
    ap.add_argument("--sd-minutes", type=float, default=1.0, help="training minutes of the tiny Stable Diffusion")
    ap.add_argument("--vae-steps", type=int, default=50, help="tiny Stable Diffusion: VAE training steps")
    ap.add_argument("--ddpm-minutes", type=float, default=1.0, help="training minutes of the DDPM")
    ap.add_argument("--ddpm-resolution", type=int, default=32)
    ap.add_argument("--per-type", type=int, default=8)
    ap.add_argument("--types", default="1,5,6")
    ap.add_argument("--steps", type=int, default=25, help="inference steps (both backends)")
    ap.add_argument("--max-attempts", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a CPU shared with other jobs: oversubscribed threads spin)")
    ap.add_argument("--sd15", action="store_true", help="also time SD 1.5's architecture (plain call vs fairskin)")
    ap.add_argument("--only-sd15", action="store_true", help="skip the two tiny backends")
    ap.add_argument("--sd15-device", default="cuda")
    ap.add_argument("--sd15-resolution", type=int, default=512)
    ap.add_argument("--sd15-steps", type=int, default=25)
    ap.add_argument("--sd15-tiny", action="store_true", help="toy sizes of the same classes (CPU functional check)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    report = {}
    if args.sd15:
        if args.sd15_device == "cuda" and not torch.cuda.is_available():
            print("--sd15: no CUDA device; skipped (use --sd15-device cpu --sd15-tiny for a functional check)")
        else:
            gpu = args.sd15_device == "cuda"
            report["sd15"] = bench_sd15(resolution=args.sd15_resolution, steps=args.sd15_steps,
                                        device=args.sd15_device, default_steps=2 * args.sd15_steps,
                                        batch=8 if gpu else 2, n_images=8 if gpu else 2, tiny=args.sd15_tiny)
            print(json.dumps({"sd15": report["sd15"]}, indent=1), flush=True)
    if args.only_sd15:
        return report

    from fairskin.conditioning import (DdpmTrainConfig, SamplingConfig, TrainConfig, create_generator,
                                       labelled_manifest, train_conditioning, train_ddpm)
    from fairskin.data import DemoConfig, write_demo_dataset

    work = Path(args.workdir or tempfile.mkdtemp(prefix="fairskin-bench-"))
    data = work / "demo"
    if not (data / "ddi_metadata.csv").exists():
        write_demo_dataset(data, DemoConfig(n=args.n, size=args.size, seed=args.seed))
    frame = labelled_manifest(data)
    types = [int(t) for t in args.types.split(",")]
    report["fst_counts"] = {str(k): int((frame["fst"] == k).sum()) for k in range(1, 7)}
    print("real images per type:", report["fst_counts"], flush=True)
    t0 = time.perf_counter()
    train_conditioning(frame, out=work / "sd", config=TrainConfig(steps=100_000, max_minutes=args.sd_minutes,
                                                                  vae_steps=args.vae_steps, seed=args.seed))
    sd_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_ddpm(frame, out=work / "ddpm", config=DdpmTrainConfig(steps=100_000, max_minutes=args.ddpm_minutes,
                                                                resolution=args.ddpm_resolution, seed=args.seed))
    ddpm_train = time.perf_counter() - t0
    reqs = requests_per_type(frame, types, args.per_type, args.seed + 1)
    sampling = SamplingConfig(steps=args.steps, batch_size=args.batch_size)
    report["backends"] = {}
    for name, folder, train_s in (("stable-diffusion", work / "sd", sd_train), ("ddpm", work / "ddpm", ddpm_train)):
        gen = create_generator(name, folder, sampling=sampling, device="cpu")
        res = time_gated(gen, reqs, steps=args.steps, batch_size=args.batch_size, max_attempts=args.max_attempts,
                         seed=args.seed)
        report["backends"][name] = {"train_seconds": train_s, **res}
        print(json.dumps({name: report["backends"][name]}, indent=1), flush=True)
    print(summary_table(report, types))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


def summary_table(report, types):
    lines = [f"{'backend':<18} {'train s':>8} {'img/s':>6} {'gen %':>6} {'att/acc':>8} "
             + " ".join(f"{'1st exact ' + str(k):>12}" for k in types)]
    for name, e in report["backends"].items():
        ex = " ".join(f"{e['per_type'][str(k)]['first_try_exact']:>12.0%}" for k in types)
        apa = "none" if e["attempts_per_accepted"] is None else f"{e['attempts_per_accepted']:.2f}"
        lines.append(f"{name:<18} {e['train_seconds']:>8.0f} {e['images_per_second']:>6.2f} "
                     f"{e['generator_share']:>6.0%} {apa:>8} {ex}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
