"""The whole loop on the built-in demo data: the README's first command runs this.

demo data -> label (ITA -> FST) -> [balance: generate V-VI] -> [audit] -> HTML reports.
Stages whose optional dependencies are missing are skipped with a message saying what to
install; nothing is faked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fairskin.data._phantoms import DemoConfig, write_demo_dataset
from fairskin.errors import InputError

__all__ = ["DemoRun", "run_demo"]


@dataclass
class DemoRun:
    out: Path
    data: Path
    steps: list[tuple[str, str]] = field(default_factory=list)  # (stage, what it wrote / why skipped)


def run_demo(out: str | Path, *, n: int = 600, size: int = 256, seed: int = 0, workers: int = 2,
             overwrite: bool = False, progress: bool = True, log=print) -> DemoRun:
    """Run every available stage on phantom data written to ``out/data``."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out} is not empty; pass --overwrite to reuse it or choose another directory")
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    run = DemoRun(out=out, data=data)

    log(f"[1] phantom demo data: {n} images of known skin type -> {data}")
    write_demo_dataset(data, DemoConfig(n=n, size=size, seed=seed), overwrite=True)
    run.steps.append(("demo-data", str(data)))

    from fairskin.label import label_dataset

    log("[2] label: ITA of healthy skin -> Fitzpatrick type")
    labels = out / "labels.csv"
    res = label_dataset(data, out=labels, workers=workers, json_path=out / "labels.json", overwrite=True,
                        progress=progress)
    t = res.summary["truth"]
    log(f"    {res.summary['counts']['labelled']}/{n} labelled; against the known answer: ITA within 3 deg "
        f"{t['ita_within_3']:.1%}, exact type {t['fst_exact']:.1%}")
    run.steps.append(("label", str(labels)))
    try:
        from fairskin.reports import render_label_report
    except ImportError as exc:
        log(f"    (no HTML report: {exc})")
    else:
        render_label_report(res.summary, out / "label-report.html", image_root=data)
        run.steps.append(("label report", str(out / "label-report.html")))
    return run
