"""Benchmark: saliency throughput of a ResNet-18 at 224 px (the ``fairskin audit --saliency`` path).

    python benchmarks/bench_saliency.py [--n 64] [--batch-size 16] [--methods gradcam,gradcam++] [--device cpu]

Prints images/s of the attribution maps alone (pytorch-grad-cam on timm's resnet18, random seeded
weights: speed does not depend on them) and of maps plus the region shares the audit computes
(lesion / healthy skin / background from the label stage's masks), on 224 px phantoms, for each
method; on CPU, and on CUDA too when a GPU is present (or only the ``--device`` given).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--methods", default="gradcam,gradcam++")
    ap.add_argument("--device", default=None)
    args = ap.parse_args()

    import timm
    import torch

    from fairskin.audits.models._models import Preprocess, to_tensor
    from fairskin.audits.why._regions import image_regions
    from fairskin.audits.why._saliency import attribution_maps, choose_target_layer, region_shares
    from fairskin.data import PhantomSpec, render_phantom

    torch.manual_seed(0)
    crops = [render_phantom(PhantomSpec(ita=float(i % 60) - 5, size=224, hair=i % 12, seed=i)) for i in range(args.n)]
    pre = Preprocess(resize=224, crop=224)
    x_all = torch.stack([to_tensor(c, pre) for c in crops])
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"ResNet-18 (timm, random seeded weights), 224 px, batch {args.batch_size}, {args.n} images, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for dev in devices:
        model = timm.create_model("resnet18", pretrained=False, num_classes=2).eval().to(dev)
        layer = choose_target_layer(model, input_size=224)
        name = torch.cuda.get_device_name(0) if dev == "cuda" else "CPU"
        for method in args.methods.split(","):
            target = lambda row: row[1] - row[0]  # noqa: E731  (the two-class log-odds)
            attribution_maps(model, x_all[:2], method=method, layer=layer, target=target)  # warm-up
            if dev == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            maps = []
            for i in range(0, args.n, args.batch_size):
                maps.append(attribution_maps(model, x_all[i:i + args.batch_size], method=method, layer=layer,
                                             target=target))
            if dev == "cuda":
                torch.cuda.synchronize()
            t_maps = time.perf_counter() - t0
            maps = np.concatenate(maps)
            t0 = time.perf_counter()
            for crop, cam in zip(crops, maps):
                region_shares(cam, image_regions(crop).as_dict())
            t_regions = time.perf_counter() - t0
            print(f"{name:>12s} {method:10s} layer {layer.name}: maps {args.n / t_maps:7.1f} images/s; maps + region "
                  f"shares {args.n / (t_maps + t_regions):7.1f} images/s")


if __name__ == "__main__":
    main()
