"""Corrected skin-type shares (fairskin.label._shares) against simulations with a known confusion."""

import numpy as np

from fairskin.label import corrected_shares, em_shares, posterior_types
from fairskin.label._shares import confusion_probabilities


def _draw(rng, probs, labels):
    """One draw of a column index per row of ``probs[labels]`` (vectorised inverse CDF)."""
    cdf = np.cumsum(probs[labels], axis=1)
    return (rng.random(len(labels))[:, None] > cdf).sum(1).clip(0, probs.shape[1] - 1)


def _pad_like_confusion():
    """An ordinal confusion whose type II is often read as V-VI (the failure seen on PAD-UFES-20)."""
    k = np.exp(-np.abs(np.subtract.outer(np.arange(6), np.arange(6))) / 1.2)
    m = k / k.sum(1, keepdims=True)
    m[1] = 0.6 * m[1] + 0.4 * np.array([0, 0, 0, 0, 0.3, 0.7])
    return m / m.sum(1, keepdims=True)


def test_em_recovers_the_shares_exactly_from_expected_counts():
    m = _pad_like_confusion()
    pi = np.array([0.12, 0.5, 0.2, 0.1, 0.05, 0.03])
    got = em_shares(10_000 * pi @ m, m)
    assert np.allclose(got, pi, atol=1e-4)
    assert np.isclose(got.sum(), 1) and (got >= 0).all()
    post = posterior_types(np.array([5, 6, 0]), m, pi)  # P(true | estimated V), (| VI), no estimate -> pi
    assert np.allclose(post.sum(1), 1) and np.allclose(post[2], pi)
    assert post[0, 1] > pi[1]  # an image read as V is more likely a true II than the prior says


def test_corrected_shares_cover_the_truth_in_a_simulation_with_a_known_confusion():
    m = _pad_like_confusion()
    pi = np.array([0.12, 0.5, 0.2, 0.1, 0.05, 0.03])  # the data set's true types
    cal_pi = np.array([0.15, 0.4, 0.2, 0.1, 0.1, 0.05])  # the calibration set's (another mix)
    rng = np.random.default_rng(20261206)
    covered, covered_type, err_naive, err_corr = [], [], [], []
    for rep in range(40):
        t_cal = rng.choice(6, 400, p=cal_pi)
        e_cal = _draw(rng, m, t_cal)
        counts = np.zeros((6, 6))
        np.add.at(counts, (t_cal, e_cal), 1)
        t = rng.choice(6, 600, p=pi)
        est = _draw(rng, m, t) + 1
        s = corrected_shares(est, counts, n_boot=300, seed=rep)
        o, c, lo, hi = s.group("V-VI")
        covered.append(lo <= pi[4:].sum() <= hi)
        covered_type.append((s.low <= pi) & (pi <= s.high))
        err_naive.append(abs(o - pi[4:].sum()))
        err_corr.append(abs(c - pi[4:].sum()))
    assert np.mean(covered) >= 0.9
    assert np.mean(covered_type, axis=0).min() >= 0.85
    assert np.mean(err_corr) < 0.5 * np.mean(err_naive)  # the naive share (~30%) is far off the true 8%


def test_patients_are_the_resampling_unit_and_unseen_types_are_named():
    counts = np.diag([30, 30, 30, 30, 30, 0]).astype(float)  # no calibration image of type VI
    est = np.array([1, 1, 2, 3, 5, 5])
    s = corrected_shares(est, counts, units=["a", "a", "b", "c", "d", "d"], n_boot=50)
    assert s.unit == "patient" and s.n_units == 4 and s.unseen == (6,)
    d = s.to_dict()
    assert d["unseen_types"] == ["VI"] and d["resampling_unit"] == "patient"
    assert abs(sum(v["corrected"] for v in d["types"].values()) - 1) < 1e-9
    assert np.allclose(confusion_probabilities(counts).sum(1), 1)


def test_the_label_summary_reports_corrected_shares_in_json_terminal_and_html(tmp_path, capsys):
    import html
    import json

    import pandas as pd
    from PIL import Image

    from fairskin.cli import main
    from fairskin.reports import render_label_report

    root = tmp_path / "d"
    root.mkdir()
    rows = []
    for i in range(30):  # skin-like colours from light to dark, each with a clinician's type
        t = 1 + i % 6
        rgb = np.array([235, 200, 175]) - (t - 1) * np.array([30, 33, 33])
        Image.fromarray(np.full((48, 48, 3), rgb, np.uint8)).save(root / f"s{i:02d}.png")
        rows.append({"file_name": f"s{i:02d}.png", "fst": t, "malignant": False, "patient_id": f"P{i // 3}"})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    out = tmp_path / "labels.csv"
    assert main(["label", str(root), "--out", str(out), "--json", str(tmp_path / "labels.json"), "-q"]) == 0
    assert "Shares corrected for the labeller's confusion" in " ".join(capsys.readouterr().out.split())
    s = json.loads((tmp_path / "labels.json").read_text())
    cs = s["corrected_shares"]
    assert cs["available"] and cs["resampling_unit"] == "patient" and cs["n_calibration"] == s["label_confusion"]["n"]
    assert abs(sum(v["corrected"] for v in cs["types"].values()) - 1) < 1e-6
    lo, hi = cs["groups"]["V-VI"]["ci"]
    assert lo <= cs["groups"]["V-VI"]["corrected"] <= hi
    render_label_report(s, tmp_path / "r.html", image_root=root)
    page = html.unescape((tmp_path / "r.html").read_text())
    assert "Corrected for the labeller's confusion (from 30 images with human types): V-VI" in page
    assert "Shares corrected for the labeller's confusion (maximum likelihood on the simplex" in page
