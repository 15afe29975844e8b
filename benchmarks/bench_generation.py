"""Does the built-in tiny model learn skin tone? Training step time, generation images/s, ITA-gate
pass rates (trained vs untrained vs unconditioned), ITA spread, and the noise-schedule comparison.

    python benchmarks/bench_generation.py --minutes 8.5 --compare-minutes 8.5 --json bench.json

Each model trains on the phantom demo data (600 images, 64 px, types labelled by the ITA estimator,
as ``fairskin balance`` does without --labels). Then, per model, ``--per-type`` images per
requested type are generated (prompt ``a <style> photo of <diagnosis> on <fst-k> skin``, each with
the diagnosis and photo style of a real image of the type) and measured with the label estimator:

* exact: measured type == requested type (the gate's rule for V and VI);
* ITA spread: standard deviation of measured ITA within a type, generated vs real (both measured
  with the same estimator), and their ratio;
* request miss (with tone requests): measured minus requested ITA, mean and standard deviation;
* V-VI exact on the first try: the two types pooled, the figure the issue sets at 90%.

Per model it also prints the VAE round trip: the share of real images of each type whose measured
type survives encode -> decode, which bounds what the whole model can reach (the gate measures the
decoded image).

Reference rows: the *untrained* model (same classes and seeds, no training: the gate's pass rate
by chance) and the trained model *unconditioned* (empty prompt, the FST embedding's null row,
guidance 1: how often it lands in a type without being asked). The comparison model trains with
Stable Diffusion's default schedule (scaled-linear betas, epsilon prediction, no offset noise)
for the same time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def evaluate(cond_dir, frame, *, types, per_type, steps, guidance, seed, conditioned=True, batch=16):
    from fairskin.balance import ConditionedGenerator, GenerateConfig
    from fairskin.conditioning import STYLES, Conditioning, PromptFields, build_prompt, image_styles
    from fairskin.label import estimate_rgb

    cond = Conditioning.load(cond_dir)
    styles = image_styles(frame)
    gen = ConditionedGenerator(cond, config=GenerateConfig(steps=steps, guidance=guidance if conditioned else 1.0,
                                                           batch_size=batch))
    rng = np.random.default_rng(seed)
    out, t_total, n_total = {}, 0.0, 0
    for k in types:
        rows = np.flatnonzero(frame["fst"].to_numpy() == k)  # each image: the diagnosis and style of a real one
        if len(rows):
            pick = rows[rng.integers(0, len(rows), per_type)]
            dxs, sts = frame["diagnosis"].astype(str).to_numpy()[pick], styles[pick]
        else:
            dxs, sts = ["melanoma"] * per_type, [STYLES[0]] * per_type
        if conditioned:
            prompts = [build_prompt(PromptFields(diagnosis=d, fst=k, style=st)) for d, st in zip(dxs, sts)]
            fst = [k] * per_type
        else:
            prompts, fst = [""] * per_type, [None] * per_type
        seeds = [int(s) for s in rng.integers(0, 2**31 - 1, per_type)]
        t0 = time.perf_counter()
        imgs = gen.generate(prompts, fst, seeds)
        t_total += time.perf_counter() - t0
        n_total += len(imgs)
        est = [estimate_rgb(im) for im in imgs]
        measured = np.array([e.fst or 0 for e in est])
        ita = np.array([e.ita for e in est], float)
        asked = np.array([cond.tone_request(f, q) for f, q in zip(fst, seeds)], float)  # None -> NaN
        miss = ita - asked
        if np.isfinite(miss).any():  # tone requests: how far the measured ITA lands from the asked one
            out.setdefault("request_miss", {})[str(k)] = {"mean": float(np.nanmean(miss)), "sd": float(np.nanstd(miss))}
        out[str(k)] = {"exact": float(np.mean(measured == k)), "n": per_type,
                       "measured_types": {str(t): int((measured == t).sum()) for t in range(0, 7) if (measured == t).any()},
                       "ita_mean": float(np.nanmean(ita)), "ita_sd": float(np.nanstd(ita))}
    return out, n_total / t_total


def real_spread(frame, root):
    from fairskin.label import estimate_image

    res = {}
    for k in range(1, 7):
        sub = frame[frame["fst"] == k]
        ita = np.array([estimate_image(Path(root) / p).ita for p in sub["image"]], float)
        res[str(k)] = {"n": len(sub), "ita_mean": float(np.nanmean(ita)) if len(ita) else None,
                       "ita_sd": float(np.nanstd(ita)) if len(ita) else None}
    return res


def vae_round_trip(vae_dir, frame, root, batch=50):
    """Per type: share of real images whose measured type survives encode -> decode, and the ITA
    shift: what the VAE alone lets through, before the UNet makes any choice."""
    import torch
    from diffusers import AutoencoderKL

    from fairskin.conditioning._train import _load_images
    from fairskin.label import estimate_rgb

    vae = AutoencoderKL.from_pretrained(vae_dir).eval()
    images = _load_images(frame, Path(root), vae.config.sample_size)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    with torch.no_grad():
        rec = torch.cat([vae.decode(vae.encode(x[i:i + batch]).latent_dist.mean).sample
                         for i in range(0, len(x), batch)]).clamp(-1, 1)
    out = ((rec + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    before = [estimate_rgb(a) for a in images]
    after = [estimate_rgb(a) for a in out]
    f0 = np.array([e.fst or 0 for e in before])
    f1 = np.array([e.fst or 0 for e in after])
    shift = np.array([b.ita - a.ita for a, b in zip(before, after)])
    res = {"l1": float((rec - x).abs().mean())}
    for k in range(1, 7):
        m = f0 == k
        if m.any():
            res[str(k)] = {"same_type": round(float(np.mean(f1[m] == k)), 3),
                           "ita_shift_mean": round(float(np.nanmean(shift[m])), 2),
                           "ita_shift_sd": round(float(np.nanstd(shift[m])), 2)}
    return res


def sd15_components(resolution: int, dtype, device):
    """Stable Diffusion 1.5's published architecture with random (seeded) weights: the compute of
    the real model without its weights (no hub access). The tokenizer is the tiny one, padded to 77."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from fairskin.conditioning._tiny import tiny_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=resolution // 8, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
                        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=resolution, scaling_factor=0.18215)
    tok = tiny_tokenizer(77)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                        pad_token_id=tok.pad_token_id, hidden_act="quick_gelu"))
    sched = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                          steps_offset=1, set_alpha_to_one=False)
    return dict(unet=unet, vae=vae, text_encoder=text, tokenizer=tok, scheduler=sched)


def bench_sd15(*, resolution=512, n_images=8, batch=8, steps=25, device="cuda", default_steps=50):
    """images/s of fairskin's generation settings (bf16, DDIM 25 steps, batched, channels-last,
    SDPA) against a plain diffusers StableDiffusionPipeline call in its defaults (fp32, PNDM 50
    steps, guidance 7.5, one image per call), same architecture, same run."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    parts = sd15_components(resolution, torch.float32, device)
    plain = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                                    requires_safety_checker=False).to(device)
    plain.set_progress_bar_config(disable=True)
    prompt = "a dermoscopy photo of melanoma on skin"

    def timed(fn, n):
        fn()  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        made = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return made / (time.perf_counter() - t0)

    def plain_call():
        for _ in range(max(1, n_images // batch)):
            plain(prompt, height=resolution, width=resolution, num_inference_steps=default_steps)
        return max(1, n_images // batch)

    ips_plain = timed(plain_call, n_images)
    dtype = torch.bfloat16
    fast = StableDiffusionPipeline(**{**plain.components, "scheduler": DDIMScheduler.from_config(plain.scheduler.config)})
    fast.to(device, dtype)
    fast.unet.to(memory_format=torch.channels_last)
    fast.set_progress_bar_config(disable=True)

    def fast_call():
        fast([prompt] * batch, height=resolution, width=resolution, num_inference_steps=steps,
             generator=[torch.Generator(device).manual_seed(i) for i in range(batch)])
        return batch

    ips_fast = timed(fast_call, batch)
    return {"resolution": resolution, "device": device, "plain_images_per_second": ips_plain,
            "fairskin_images_per_second": ips_fast, "speedup": ips_fast / ips_plain,
            "plain": f"fp32, PNDM {default_steps} steps, guidance 7.5, 1 image/call",
            "fairskin": f"bf16, DDIM {steps} steps, guidance 7.5, batch {batch}, channels-last"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=8.5, help="UNet training minutes of the default model")
    ap.add_argument("--compare-minutes", type=float, default=None, help="minutes for the default-schedule model (0: skip)")
    ap.add_argument("--vae-steps", type=int, default=None, help="default: TrainConfig.vae_steps")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--per-type", type=int, default=48)
    ap.add_argument("--types", default="1,5,6")
    ap.add_argument("--steps", type=int, default=25, help="inference steps")
    ap.add_argument("--guidance", default="1.0,1.5,3.0", help="guidance scales to evaluate (the first is the headline)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a CPU shared with other jobs: oversubscribed threads spin)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--sd15", action="store_true", help="also (or only, with --minutes 0) time SD 1.5's architecture")
    ap.add_argument("--sd15-device", default="cuda")
    ap.add_argument("--sd15-resolution", type=int, default=512)
    ap.add_argument("--sd15-steps", type=int, default=25)
    args = ap.parse_args(argv)
    if args.sd15:
        import torch

        if args.sd15_device == "cuda" and not torch.cuda.is_available():
            print("--sd15: no CUDA device; skipped (use --sd15-device cpu for a functional check)")
        else:
            r = bench_sd15(resolution=args.sd15_resolution, steps=args.sd15_steps, device=args.sd15_device,
                           default_steps=2 * args.sd15_steps, batch=8 if args.sd15_device == "cuda" else 1,
                           n_images=8 if args.sd15_device == "cuda" else 1)
            print(json.dumps({"sd15": r}, indent=1), flush=True)
        if args.minutes == 0:
            return None

    import faulthandler
    import signal

    import torch

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints where it is
    from fairskin.conditioning import TrainConfig, labelled_manifest, train_conditioning
    from fairskin.data import DemoConfig, write_demo_dataset

    torch.set_num_threads(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="fairskin-bench-"))
    data = work / "demo"
    if not (data / "ddi_metadata.csv").exists():
        write_demo_dataset(data, DemoConfig(n=args.n, size=64, seed=args.seed))
    t0 = time.perf_counter()
    frame = labelled_manifest(data)
    report = {"label_seconds": time.perf_counter() - t0, "n_images": len(frame),
              "fst_counts": {str(k): int((frame["fst"] == k).sum()) for k in range(1, 7)}}
    print("real images per type:", report["fst_counts"], flush=True)
    types = [int(t) for t in args.types.split(",")]
    report["real"] = real_spread(frame, data)

    def log(step, total, loss, _last=[0.0]):
        now = time.perf_counter()
        if now - _last[0] > 30:
            _last[0] = now
            print(f"  step {step} loss {loss:.4f}", flush=True)

    if args.vae_steps is None:
        args.vae_steps = TrainConfig.vae_steps
    runs = {"zero_snr_vpred_offset": TrainConfig(steps=100_000, max_minutes=args.minutes, vae_steps=args.vae_steps,
                                                 seed=args.seed, batch_size=args.batch_size)}
    cmp_minutes = args.minutes if args.compare_minutes is None else args.compare_minutes
    if cmp_minutes > 0:
        runs["sd_default_schedule"] = TrainConfig(steps=100_000, max_minutes=cmp_minutes, vae_steps=args.vae_steps,
                                                  seed=args.seed, batch_size=args.batch_size, zero_terminal_snr=False, prediction_type="epsilon",
                                                  noise_offset=0.0)
    report["models"] = {}
    for name, cfg in runs.items():
        print(f"training {name} ...", flush=True)
        t0 = time.perf_counter()
        res = train_conditioning(frame, out=work / name, config=cfg, progress=log)
        train_s = time.perf_counter() - t0
        entry = {"train_seconds": train_s, "unet_steps": res.steps, "seconds_per_step": res.seconds_per_step,
                 "vae_seconds_per_step": res.vae_seconds_per_step, "final_loss": res.final_loss,
                 "schedule": res.schedule, "batch_size": cfg.batch_size}
        entry["vae_round_trip"] = vae_round_trip(work / name / "base" / "vae", frame, data)
        print("VAE round trip (real image -> latents -> image, measured again):", entry["vae_round_trip"], flush=True)
        guidances = [float(g) for g in args.guidance.split(",")]
        entry["by_guidance"] = {}
        for g in guidances:
            res_g, ips = evaluate(work / name, frame, types=types, per_type=args.per_type, steps=args.steps,
                                  guidance=g, seed=args.seed + 1)
            entry["by_guidance"][str(g)] = {"conditioned": res_g, "images_per_second": ips}
        entry["conditioned"] = entry["by_guidance"][str(guidances[0])]["conditioned"]
        entry["images_per_second"] = entry["by_guidance"][str(guidances[0])]["images_per_second"]
        entry["unconditioned"], _ = evaluate(work / name, frame, types=types, per_type=args.per_type, steps=args.steps,
                                             guidance=1.0, seed=args.seed + 2, conditioned=False)
        report["models"][name] = entry
        print(json.dumps({name: entry}, indent=1), flush=True)
    # untrained reference: the first model with its UNet replaced by a freshly initialised one
    print("untrained reference ...", flush=True)
    import shutil

    from fairskin.conditioning import TinyModelConfig, build_tiny_components

    first = next(iter(runs))
    shutil.copytree(work / first, work / "untrained", dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoints"))
    fresh = build_tiny_components(TinyModelConfig(seed=args.seed))["unet"]
    fresh.save_pretrained(work / "untrained" / "base" / "unet", safe_serialization=True)
    report["models"]["untrained"] = {"conditioned": evaluate(work / "untrained", frame, types=types, per_type=args.per_type,
                                                             steps=args.steps, guidance=float(args.guidance.split(",")[0]),
                                                             seed=args.seed + 1)[0]}
    for name, entry in report["models"].items():
        for cond in [entry["conditioned"]] + [v["conditioned"] for v in entry.get("by_guidance", {}).values()]:
            for k in map(str, types):
                g, r = cond[k], report["real"][k]
                g["spread_ratio"] = (g["ita_sd"] / r["ita_sd"]) if r["ita_sd"] else None
    print(summary_table(report, types))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


def summary_table(report, types):
    lines = [f"{'model':<24} {'step s':>7} {'img/s':>6} " + " ".join(f"{'exact ' + str(k):>8}" for k in types)
             + " " + " ".join(f"{'sd ratio ' + str(k):>10}" for k in types) + "   uncond exact " + ",".join(map(str, types))]
    for name, e in report["models"].items():
        ex = " ".join(f"{e['conditioned'][str(k)]['exact']:>8.0%}" for k in types)
        sr = " ".join(f"{(e['conditioned'][str(k)].get('spread_ratio') or 0):>10.2f}" for k in types)
        un = ",".join(f"{e['unconditioned'][str(k)]['exact']:.0%}" for k in types) if "unconditioned" in e else "-"
        lines.append(f"{name:<24} {e.get('seconds_per_step', float('nan')):>7.3f} {e.get('images_per_second', float('nan')):>6.1f} {ex} {sr}   {un}")
        for g, v in e.get("by_guidance", {}).items():
            ex = " ".join(f"{v['conditioned'][str(k)]['exact']:>8.0%}" for k in types)
            sr = " ".join(f"{(v['conditioned'][str(k)].get('spread_ratio') or 0):>10.2f}" for k in types)
            lines.append(f"{'  guidance ' + g:<24} {'':>7} {v['images_per_second']:>6.1f} {ex} {sr}")
    if {5, 6} <= set(types):
        for name, e in report["models"].items():
            c = e["conditioned"]
            pooled = (c["5"]["exact"] * c["5"]["n"] + c["6"]["exact"] * c["6"]["n"]) / (c["5"]["n"] + c["6"]["n"])
            lines.append(f"{name}: V-VI exact on the first try {pooled:.0%}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
