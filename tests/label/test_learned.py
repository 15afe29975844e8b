"""The learned estimator: the ordinal model, its nested patient-grouped cross-validation on a synthetic
data set with a known answer, saving as data (JSON, never pickle) and loading through the registry."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from fairskin.errors import InputError
from fairskin.label import (
    FEATURE_NAMES, LabelConfig, LearnedEstimator, cross_validate_learned, fit_learned, fit_ordinal, get_estimator,
    lab_to_srgb, load_learned_estimator, score_types,
)

CENTRES = {1: 60.0, 2: 45.0, 3: 32.0, 4: 22.0, 5: 12.0, 6: -5.0}  # ITA per type, as the published scales


def synthetic(n_patients=120, per=3, *, signal=True, seed=0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features of photos whose type shows in ITA (with noise) when ``signal``; everything else noise."""
    rng = np.random.default_rng(seed)
    types = rng.choice(np.arange(1, 7), size=n_patients, p=[0.15, 0.35, 0.25, 0.15, 0.07, 0.03])
    human = np.repeat(types, per)
    groups = np.repeat([f"P{i}" for i in range(n_patients)], per)
    n = human.size
    feats = pd.DataFrame(rng.normal(0, 1, (n, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    feats["frame_clipped"] = feats["frame_dark"] = 0.0
    feats["L_q50"] = 60 + rng.normal(0, 3, n)
    ita = np.array([CENTRES[t] for t in human]) + rng.normal(0, 4, n)
    feats["ita_of_medians"] = ita if signal else rng.permutation(ita)
    feats["reason"] = ""
    return feats, human, groups


def test_ordinal_model_recovers_the_direction_and_order():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))
    latent = X @ np.array([1.5, -1.0, 0.0]) + rng.logistic(size=4000)
    y = np.digitize(latent, [-3, -1, 1, 3, 5]) + 1
    m = fit_ordinal(X, y, alpha=0.0)
    w = m.weights / m.scale
    assert w[0] == pytest.approx(1.5, abs=0.12) and w[1] == pytest.approx(-1.0, abs=0.1) and abs(w[2]) < 0.1
    p = m.proba(X)
    assert np.allclose(p.sum(axis=1), 1.0) and (np.diff(m.thresholds) > 0).all()


def test_cross_validated_headline_finds_a_known_signal_and_no_signal_in_noise():
    feats, human, groups = synthetic()
    est, probs = cross_validate_learned(feats, human, groups, keep=1.0)
    good = score_types(est, human, groups, n_boot=0)
    assert good["coverage"] == 1.0 and good["kappa"] > 0.8 and abs(good["v_vi_share_error"]) < 0.05
    noise, nh, ng = synthetic(signal=False, seed=1)
    est0, _ = cross_validate_learned(noise, nh, ng, keep=1.0)
    bad = score_types(est0, nh, ng, n_boot=0)
    assert abs(bad["kappa"]) < 0.2  # nothing to learn: the held-out folds say so


def test_abstention_threshold_keeps_about_the_asked_share():
    feats, human, groups = synthetic(seed=2)
    est, _ = cross_validate_learned(feats, human, groups, keep=0.7)
    assert 0.55 <= np.mean(est > 0) <= 0.85


def _model(**kw) -> LearnedEstimator:
    feats, human, groups = synthetic(seed=3)
    X = feats[list(FEATURE_NAMES)].to_numpy(float)
    m = fit_learned(X, human, groups, keep=0.9)
    return LearnedEstimator(model=m.model, features=m.features, config=LabelConfig(), abstain_below=m.abstain_below,
                            info={"fitted_on": {"n_photos": len(human)}, "cross_validated": None}, **kw)


def test_save_load_round_trip_is_json(tmp_path):
    model = _model()
    path = tmp_path / "model.json"
    model.save(path)
    data = json.loads(path.read_text())
    assert data["schema"] == "fairskin.learned-estimator/1" and data["features"] == list(FEATURE_NAMES)
    back = load_learned_estimator(path)
    assert back.digest() == model.digest() and back.abstain_below == model.abstain_below
    x = np.random.default_rng(0).normal(size=(5, len(FEATURE_NAMES)))
    assert np.allclose(back.model.proba(x), model.model.proba(x))
    via_registry = get_estimator(str(path))  # fairskin label --estimator model.json
    assert isinstance(via_registry, LearnedEstimator) and via_registry.digest() == model.digest()


def test_a_pickle_or_a_file_with_code_is_refused(tmp_path):
    model = _model()
    pkl = tmp_path / "model.json"
    pkl.write_bytes(pickle.dumps(model))
    with pytest.raises(InputError, match="not JSON.*pickles"):
        load_learned_estimator(pkl)
    data = model.to_dict()
    for bad, match in (({**data, "__reduce__": "os:system"}, "unknown keys"),
                       ({**data, "schema": "python"}, "not a learned skin-type estimator"),
                       ({**data, "features": ["__import__('os')"]}, "features"),
                       ({**data, "weights": ["1+1"] * len(FEATURE_NAMES)}, "finite numbers")):
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(bad))
        with pytest.raises(InputError, match=match):
            load_learned_estimator(p)
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps(data).replace(str(data["alpha"]), "NaN", 1))
    with pytest.raises(InputError, match="not JSON"):
        load_learned_estimator(nan)


def test_estimates_an_image_and_abstains_on_low_confidence():
    feats, human, groups = synthetic(seed=4)
    model = fit_learned(feats[["ita_of_medians"]].to_numpy(float), human, groups, features=("ita_of_medians",), keep=0.9)
    lab = np.zeros((96, 96, 3), np.float32)
    lab[..., 0], lab[..., 1], lab[..., 2] = 62.0, 10.0, 16.0
    rgb = (np.clip(lab_to_srgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)
    e = model.estimate_rgb(rgb)
    assert e.values["ita"] == pytest.approx(36.9, abs=0.5)  # between the centres of II (45) and III (32)
    assert e.status == "ok" and e.tone in (2, 3)
    p = [e.values[f"p_fst{k}"] for k in range(1, 7)]
    assert sum(p) == pytest.approx(1.0) and p[1] + p[2] > 0.8
    sure = LearnedEstimator(model=model.model, features=model.features, abstain_below=0.999)
    e2 = sure.estimate_rgb(rgb)
    assert e2.status == "unreliable" and e2.tone is None and "low confidence" in e2.reason
    anyway = LearnedEstimator(model=model.model, features=model.features, abstain_below=0.999, abstain=False)
    e3 = anyway.estimate_rgb(rgb)
    assert e3.status == "ok" and e3.tone is not None and "--no-abstain" in e3.reason
