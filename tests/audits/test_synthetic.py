"""The synthetic-image audit end to end, on phantom images whose answers are known:

- real training images planted (re-encoded, resized) in a synthetic set are exactly the ones
  flagged as memorised;
- real phantoms passed in as if synthetic, each requested as its true type, get an ITA
  fidelity equal to the label estimator's accuracy on them;
- a collapsed synthetic cell (one image, re-encoded) is flagged, a diverse one is not.

Features are the non-learned colour-texture statistics (no weights can be downloaded here);
the report names them and never calls their Fréchet distance FID.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import wasserstein_distance

from fairskin.audits.synthetic import SyntheticAuditConfig, audit_synthetic, ita_fidelity
from fairskin.data import PhantomSpec, render_phantom
from fairskin.data._phantoms import sample_ita
from fairskin.label import estimate_image

PLANTED = [3, 17, 42, 77, 101]  # rows of the demo data set copied into the synthetic set
CFG = SyntheticAuditConfig(extractor="colour-texture", kid_subsets=20)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synthetic-cache")


@pytest.fixture(scope="module")
def demo_meta(demo_data) -> pd.DataFrame:
    return pd.read_csv(demo_data / "ddi_metadata.csv")


def _manifest(rows: list[dict], path: Path) -> Path:
    df = pd.DataFrame(rows)
    df["synthetic"] = True
    df["gate"] = "accepted"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory, demo_data, demo_meta) -> Path:
    """40 new phantoms (seeds the demo set does not use) + the 5 planted training images."""
    out = tmp_path_factory.mktemp("synthetic")
    (out / "images").mkdir()
    rng = np.random.default_rng(11)
    rows = []
    dxs = ["melanocytic-nevi", "melanoma"]
    for i in range(40):
        fst = int(rng.integers(1, 7))
        dx = dxs[i % 2]
        img = render_phantom(PhantomSpec(ita=sample_ita(fst, rng), diagnosis=dx, size=128, seed=900_000 + i))
        Image.fromarray(img).save(out / "images" / f"gen_{i:03d}.png")
        rows.append({"image": f"images/gen_{i:03d}.png", "fst_requested": fst, "diagnosis": dx})
    for j in PLANTED:
        r = demo_meta.iloc[j]
        im = Image.open(demo_data / "images" / r["DDI_file"]).convert("RGB").resize((112, 112), Image.BICUBIC)
        im.save(out / "images" / f"copy_{j:03d}.jpg", quality=90)
        rows.append({"image": f"images/copy_{j:03d}.jpg", "fst_requested": int(r["fst_true"]),
                     "diagnosis": r["disease"]})
    return _manifest(rows, out / "manifest.csv")


@pytest.fixture(scope="module")
def audit(synthetic_set, demo_data, cache):
    return audit_synthetic(synthetic_set, real=demo_data, extractor="colour-texture", cache_dir=cache, config=CFG,
                           progress=False)


def test_exactly_the_planted_training_images_are_flagged(audit, demo_meta):
    im = audit.images
    flagged = sorted(im.loc[im["memorised"].astype(bool), "image"])
    assert flagged == sorted(f"images/copy_{j:03d}.jpg" for j in PLANTED)
    # each is matched with the image it was copied from
    for j in PLANTED:
        row = im[im["image"] == f"images/copy_{j:03d}.jpg"].iloc[0]
        assert Path(row["nearest_real"]).name == demo_meta.iloc[j]["DDI_file"]
    memo = audit.data["memorisation"]
    assert memo["n_flagged"] == 5 and memo["n_checked"] == 45 and len(memo["pairs"]) == 5
    assert all(Path(p["real"]).is_file() for p in memo["pairs"])
    # not a borderline call: copies and new images are far apart on the ratio scale
    ratios = im.set_index("image")["nearest_ratio"]
    assert ratios[ratios.index.str.startswith("images/copy")].max() < 0.5 * CFG.memorisation_threshold * 2
    assert ratios[ratios.index.str.startswith("images/gen")].min() > 2 * CFG.memorisation_threshold


def test_real_phantoms_as_synthetic_get_the_label_estimators_accuracy(tmp_path, demo_data, demo_meta, cache):
    rows = [{"image": f"images/{r.DDI_file}", "fst_requested": int(r.fst_true), "diagnosis": r.disease}
            for r in demo_meta.itertuples()]
    manifest = _manifest(rows, tmp_path / "manifest.csv")
    res = audit_synthetic(manifest, real=demo_data, image_root=demo_data, extractor="colour-texture",
                          cache_dir=cache, config=CFG, progress=False)
    est = [estimate_image(demo_data / "images" / r.DDI_file) for r in demo_meta.itertuples()]
    ok = np.array([e.status == "ok" for e in est])
    hit = np.array([e.fst == t for e, t in zip(est, demo_meta["fst_true"])])
    near = np.array([e.fst is not None and abs(e.fst - t) <= 1 for e, t in zip(est, demo_meta["fst_true"])])
    fid = res.data["overall"]["ita_fidelity"]
    assert fid["n_measured"] == ok.sum() and fid["n_unmeasured"] == (~ok).sum()
    assert fid["exact"] == pytest.approx(hit[ok].mean(), abs=1e-12)
    assert fid["within_one"] == pytest.approx(near[ok].mean(), abs=1e-12)
    for t in range(1, 7):  # per type too
        cell = next(c for c in res.data["cells"] if c["fst"] == str(t) and c["diagnosis"] is None)
        sel = ok & (demo_meta["fst_true"].to_numpy() == t)
        assert cell["ita_fidelity"]["exact"] == pytest.approx(hit[sel].mean(), abs=1e-12)
    # confusion matrix row sums are the requested counts
    conf = res.data["overall"]["confusion"]["counts"]
    for t in range(1, 7):
        assert sum(conf[str(t)].values()) == int((demo_meta["fst_true"] == t).sum())
    # every image is its own training image: all flagged as memorised, at distance 0
    assert res.images["memorised"].all() and (res.images["nearest_distance"] < 1e-6).all()


def test_report_dict_follows_the_schema_and_says_kid_only_for_small_cells(audit, tmp_path):
    d = audit.data
    assert d["schema"] == "fairskin.synthetic_audit/1"
    assert "not Inception" in d["features"] and d["fid_is_inception"] is False
    assert d["fid_min_images"] == 500
    assert any("KID only (no FID)" in w for w in d["warnings"])
    assert any("not Inception FID" in w for w in d["warnings"])
    for c in d["cells"]:
        assert {"fst", "diagnosis", "n_real", "n_synthetic", "ita_fidelity", "fid", "kid", "precision", "recall",
                "lpips_diversity", "mode_collapse"} <= set(c)
        assert c["fid"] is None  # every cell here is < 500 images
        if c["n_real"] == 0:
            assert c["fid_note"] == "no real images of this cell" and c["kid"] is None
        else:
            assert "use KID" in c["fid_note"]
        if c["n_real"] >= 2 and c["n_synthetic"] >= 2:
            assert np.isfinite(c["kid"]["value"])
    n_syn = sum(c["n_synthetic"] for c in d["cells"] if c["diagnosis"] is None)
    assert n_syn == 45
    pts = d["embedding"]["points"]
    assert d["embedding"]["method"].startswith("PCA")
    assert sum(p["source"] == "synthetic" for p in pts) == 45
    assert sum(p["source"] == "real" for p in pts) == d["overall"]["n_real"]
    paths = audit.write(tmp_path / "out")
    back = json.loads(paths["json"].read_text())
    assert back["cells"][0]["fst"] == d["cells"][0]["fst"]
    assert len(pd.read_csv(paths["images"])) == 45


def test_rerun_reads_the_cache(synthetic_set, demo_data, cache, audit):
    again = audit_synthetic(synthetic_set, real=demo_data, extractor="colour-texture", cache_dir=cache, config=CFG,
                            progress=False)
    assert again.data["run"]["features_computed"] == 0
    assert again.data["run"]["features_cached"] == 45 + 120
    assert again.data["overall"]["kid"] == audit.data["overall"]["kid"]


def test_mode_collapse_is_flagged_for_one_image_repeated(tmp_path, demo_data, cache):
    (tmp_path / "images").mkdir()
    base = render_phantom(PhantomSpec(ita=35.0, size=128, seed=424242))
    rng = np.random.default_rng(1)
    collapsed, diverse = [], []
    for i in range(10):  # the same image, re-encoded: what a collapsed generator returns
        Image.fromarray(base).save(tmp_path / "images" / f"c{i}.jpg", quality=int(70 + 2 * i))
        collapsed.append({"image": f"images/c{i}.jpg", "fst_requested": 3})
        img = render_phantom(PhantomSpec(ita=sample_ita(3, rng), size=128, seed=525_000 + i))
        Image.fromarray(img).save(tmp_path / "images" / f"d{i}.png")
        diverse.append({"image": f"images/d{i}.png", "fst_requested": 3})
    cells = {}
    for name, rows in (("collapsed", collapsed), ("diverse", diverse)):
        res = audit_synthetic(_manifest(rows, tmp_path / f"{name}.csv"), real=demo_data, extractor="colour-texture",
                              cache_dir=cache, config=CFG, progress=False)
        (cells[name],) = res.data["cells"]  # no diagnosis column: one cell, the whole type
        assert cells[name]["fst"] == "3" and cells[name]["diagnosis"] is None and cells[name]["n_real"] >= 5
    assert cells["collapsed"]["mode_collapse"] is True
    assert cells["collapsed"]["mode_collapse_reason"].startswith("feature-space diversity ratio 0.")
    assert cells["collapsed"]["diversity_ratio"] < 0.1
    assert cells["diverse"]["mode_collapse"] is False
    assert cells["diverse"]["diversity_ratio"] > CFG.mode_collapse_ratio
    # the collapsed set also has no recall: it covers one point of the real distribution
    assert cells["collapsed"]["recall"]["value"] < cells["diverse"]["recall"]["value"]


def test_ita_fidelity_known_answers():
    # type 3 of kinyanjui_fst is 28 < ITA <= 41
    f = ita_fidelity([3, 3, 3, 3], [3, 3, 2, 5], [30.0, 40.0, 45.0, 10.0], tolerance=5.0, real_ita=[31.0, 38.0])
    assert f["target"] == [28.0, 41.0]
    assert f["exact"] == 0.5 and f["within_one"] == 0.75
    assert f["mean_abs_error"] == pytest.approx((0 + 0 + 4 + 18) / 4)
    assert f["within_tolerance"] == 0.75
    assert f["wasserstein_deg"] == pytest.approx(wasserstein_distance([30, 40, 45, 10], [31, 38]))
    # unmeasured images are counted apart, not as misses
    g = ita_fidelity([1, 1], [1, None], [60.0, float("nan")])
    assert (g["exact"], g["n_measured"], g["n_unmeasured"]) == (1.0, 1, 1)
    assert g["target"] == [55.0, None]


def test_cli_writes_the_audit_and_prints_the_cells(synthetic_set, demo_data, cache, tmp_path, capsys):
    from fairskin.cli import main

    out = tmp_path / "out"
    code = main(["audit-synthetic", str(synthetic_set), "--real", str(demo_data), "--extractor", "colour-texture",
                 "--out", str(out), "--cache-dir", str(cache), "--quiet", "--html", str(out / "report.html")])
    assert code == 0
    html = (out / "report.html").read_text()
    assert "copy_017.jpg" in html  # a memorised pair is shown
    data = json.loads((out / "synthetic_audit.json").read_text())
    assert data["memorisation"]["n_flagged"] == 5
    printed = capsys.readouterr().out
    assert "memorisation: 5 of 45 synthetic images flagged" in printed
    assert "not Inception: FD here is not FID" in " ".join(printed.split())


def test_cli_without_inception_weights_says_where_to_get_them(synthetic_set, demo_data, tmp_path, monkeypatch,
                                                              capsys):
    from fairskin.cli import main

    monkeypatch.delenv("FAIRSKIN_INCEPTION_WEIGHTS", raising=False)
    code = main(["audit-synthetic", str(synthetic_set), "--real", str(demo_data), "--out", str(tmp_path / "o")])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--inception-weights: no Inception weights given" in err
    assert "weights-inception-2015-12-05-6726825d.pth" in err
    assert not (tmp_path / "o").exists()


def test_image_to_image_copies_are_marked_as_their_source(synthetic_set, demo_data, demo_meta, cache, tmp_path):
    df = pd.read_csv(synthetic_set)
    df["source_image"] = ""
    for j in PLANTED[:2]:  # two of the copies declare the real image they were made from
        df.loc[df["image"] == f"images/copy_{j:03d}.jpg", "source_image"] = f"images/{demo_meta.iloc[j]['DDI_file']}"
    m = tmp_path / "manifest.csv"
    df.to_csv(m, index=False)
    res = audit_synthetic(m, real=demo_data, image_root=synthetic_set.parent, extractor="colour-texture",
                          cache_dir=cache, config=CFG, progress=False)
    marked = sorted(p["synthetic"] for p in res.data["memorisation"]["pairs"] if p["is_source_image"])
    assert marked == sorted(f"images/copy_{j:03d}.jpg" for j in PLANTED[:2])
    assert res.data["memorisation"]["n_flagged"] == 5


def test_tsne_embedding_of_real_and_synthetic_points():
    from fairskin.audits.synthetic._synthetic import _embedding

    rng = np.random.default_rng(0)
    fs, fr = rng.standard_normal((12, 6)), rng.standard_normal((20, 6)) + 3
    syn = pd.DataFrame({"fst_requested": [5] * 12, "diagnosis": ["melanoma"] * 12,
                        "image": [f"s{i}.png" for i in range(12)]})
    rl = pd.DataFrame({"fst": [5] * 20, "diagnosis": [None] * 20, "path": [f"/r/{i}.png" for i in range(20)]})
    for method in ("pca", "tsne"):
        emb = _embedding(fs, fr, syn, rl, SyntheticAuditConfig(embedding=method))
        assert emb["method"].startswith("PCA" if method == "pca" else "t-SNE")
        pts = emb["points"]
        assert [p["source"] for p in pts] == ["synthetic"] * 12 + ["real"] * 20
        xy = np.array([[p["x"], p["y"]] for p in pts])
        # the two well-separated groups stay apart in 2-D
        gap = np.linalg.norm(xy[:12].mean(0) - xy[12:].mean(0))
        assert gap > 2 * max(xy[:12].std(0).max(), xy[12:].std(0).max())


@pytest.mark.slow
def test_lpips_backbone_plumbing_through_the_audit(synthetic_set, demo_data, cache, tmp_path):
    """PLUMBING ONLY: a randomly initialised AlexNet file stands in for torchvision's weights;
    checks that --lpips-backbone reaches every cell and drives the collapse flag, not the values."""
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path / "alexnet-random-plumbing-only.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    cfg = SyntheticAuditConfig(extractor="colour-texture", kid_subsets=5, lpips_images=6, diversity_pairs=10,
                               lpips_side=64)
    res = audit_synthetic(synthetic_set, real=demo_data, lpips_backbone=path, cache_dir=cache, config=cfg,
                          progress=False)
    assert res.data["lpips_backbone"] == str(path)
    judged = [c for c in res.data["cells"] if c["mode_collapse"] is not None]
    assert judged and all(c["mode_collapse_reason"].startswith("LPIPS diversity ratio") for c in judged)
    for c in res.data["cells"]:
        lp = c["lpips_diversity"]
        assert set(lp) == {"synthetic", "real"}
        assert (lp["synthetic"] is None) == (c["n_synthetic"] < 2)


def test_memorisation_searches_only_the_training_split(synthetic_set, demo_data, cache):
    from fairskin.data import read_dataset

    real = read_dataset(demo_data)
    real["split"] = "train"
    real.loc[PLANTED[:2], "split"] = "test"  # two of the copied images were never trained on
    res = audit_synthetic(synthetic_set, real=real, extractor="colour-texture", cache_dir=cache, config=CFG,
                          progress=False)
    memo = res.data["memorisation"]
    assert memo["candidates"] == "real images with split == train"
    assert memo["n_real_candidates"] == len(real) - 2
    assert sorted(p["synthetic"] for p in memo["pairs"]) == sorted(f"images/copy_{j:03d}.jpg" for j in PLANTED[2:])
