"""Benchmarks of classifier training (``fairskin train-classifier``).

1. CPU: training images/s for timm resnet18 at 224 px (forward + backward + AdamW step, fp32,
   batch 32, random weights and random input tensors: this measures the model's training step,
   not image decoding; ``--pipeline`` adds a run of ``train_classifier`` itself on phantom images,
   which includes the data set cache, augmentation and validation).
2. GPU (only when ``torch.cuda.is_available()``; skipped with a message otherwise): time per epoch
   for timm resnet50 at 224 px on 10,000 images, with AMP (fp16 autocast + grad scaling) and
   channels-last against plain fp32, both in the same run on the same device. Inputs are random
   tensors already on the GPU, so the figure is the model's training time per epoch without data
   loading.

Run: ``python benchmarks/bench_train.py [--quick] [--pipeline] [--json OUT.json]``.

Measured 2026-11-22 on the shared 2-core CPU (load average 2.5, torch 2.14.1, 2 threads):
resnet18 224 px training step 5.3 images/s (batch 32, fp32); ``train_classifier`` resnet18 224 px
on 256 phantoms 4.4 images/s in the epoch, 49 s in all (cache + 1 epoch + validation). GPU part
not measured: this machine has no GPU (the script skips it with a message).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def _step_loop(model, opt, x, y, steps, *, amp=False, channels_last=False, scaler=None, sync=None):
    import torch

    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    t = None
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            if sync:
                sync()
            t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
    if sync:
        sync()
    return time.perf_counter() - t


def cpu_resnet18(batch_size: int, steps: int) -> dict:
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=2).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch_size, 3, 224, 224)
    y = torch.randint(0, 2, (batch_size,))
    sec = _step_loop(model, opt, x, y, steps)
    return {"arch": "resnet18", "image_size": 224, "batch_size": batch_size, "steps": steps, "precision": "fp32",
            "threads": torch.get_num_threads(), "images_per_s": batch_size * steps / sec}


def gpu_resnet50(n_images: int, batch_size: int) -> dict:
    import timm
    import torch

    steps = n_images // batch_size
    out = {"arch": "resnet50", "image_size": 224, "images_per_epoch": steps * batch_size, "batch_size": batch_size,
           "device": torch.cuda.get_device_name(0), "inputs": "random tensors on the GPU (no data loading)"}
    for name, amp, cl in (("fp32", False, False), ("amp_channels_last", True, True)):
        torch.manual_seed(0)
        model = timm.create_model("resnet50", pretrained=False, num_classes=2).cuda().train()
        if cl:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler("cuda") if amp else None
        x = torch.randn(batch_size, 3, 224, 224, device="cuda")
        y = torch.randint(0, 2, (batch_size,), device="cuda")
        sec = _step_loop(model, opt, x, y, steps, amp=amp, channels_last=cl, scaler=scaler, sync=torch.cuda.synchronize)
        out[name] = {"seconds_per_epoch": sec, "images_per_s": steps * batch_size / sec}
        del model, opt
        torch.cuda.empty_cache()
    out["speedup"] = out["fp32"]["seconds_per_epoch"] / out["amp_channels_last"]["seconds_per_epoch"]
    return out


def pipeline(n: int, image_size: int) -> dict:
    import tempfile

    from fairskin.data import DemoConfig, write_demo_dataset
    from fairskin.train import train_classifier

    with tempfile.TemporaryDirectory() as tmp:
        write_demo_dataset(tmp + "/d", DemoConfig(n=n, size=256, seed=0))
        t = time.perf_counter()
        res = train_classifier(tmp + "/d", out=tmp + "/m.pt", arch="resnet18", epochs=1, image_size=image_size,
                               batch_size=32)
        total = time.perf_counter() - t
    ep = res.history[0]
    return {"arch": "resnet18", "image_size": image_size, "n_train": res.metadata["training"]["n_train_real"],
            "train_images_per_s": ep["train_images_per_s"], "epoch_seconds": ep["seconds"],
            "total_seconds_incl_cache": total}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few steps (smoke run)")
    ap.add_argument("--pipeline", action="store_true", help="also time train_classifier on phantom images")
    ap.add_argument("--gpu-images", type=int, default=10_000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import torch

    res = {"python": sys.version.split()[0], "torch": torch.__version__, "machine": platform.machine(),
           "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    r = cpu_resnet18(batch_size=16 if args.quick else 32, steps=2 if args.quick else 8)
    res["cpu_resnet18"] = r
    print(f"CPU resnet18 224 px training: {r['images_per_s']:.1f} images/s (batch {r['batch_size']}, "
          f"{r['threads']} threads, load average {res['load_average'][0]:.1f})")
    if args.pipeline:
        p = pipeline(n=64 if args.quick else 256, image_size=224)
        res["cpu_pipeline"] = p
        print(f"CPU train_classifier resnet18 224 px: {p['train_images_per_s']:.1f} images/s in the epoch, "
              f"{p['total_seconds_incl_cache']:.0f} s in all")
    if torch.cuda.is_available():
        g = gpu_resnet50(n_images=1024 if args.quick else args.gpu_images, batch_size=64)
        res["gpu_resnet50"] = g
        print(f"GPU {g['device']} resnet50 224 px, {g['images_per_epoch']} images: fp32 "
              f"{g['fp32']['seconds_per_epoch']:.1f} s/epoch, AMP+channels-last "
              f"{g['amp_channels_last']['seconds_per_epoch']:.1f} s/epoch ({g['speedup']:.2f}x)")
    else:
        res["gpu_resnet50"] = None
        print("GPU benchmark skipped: torch.cuda.is_available() is False on this machine")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
