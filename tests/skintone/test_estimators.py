"""The estimator seam: the registry, its errors, and a new estimator plugged in with one
registration (or as package.module:Class) and run by fairskin label unchanged."""

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import fairskin.skintone._estimators as registry
from fairskin.errors import InputError
from fairskin.label import (
    LABEL_COLUMNS,
    ItaEstimator,
    LabelConfig,
    MonkEstimator,
    estimate_rgb,
    get_estimator,
    label_dataset,
    list_estimators,
    measure_tone,
    register_estimator,
)
from fairskin.label._run import label_columns
from fairskin.skintone import FITZPATRICK, SkinToneEstimator, ToneEstimate

TOY = textwrap.dedent('''
    from fairskin.skintone import FITZPATRICK, ToneEstimate

    class Lightness:
        """Type 1 on light images, 6 on dark ones: the mean of the red channel."""
        name = "lightness"
        tone_scale = FITZPATRICK
        columns = ("fst", "confidence", "status", "reason", "scale", "red")
        scale_name = "red_half"
        work_side = 64

        def __init__(self, config=None, **options):
            self.config = config

        def settings(self):
            return {"threshold": 128}

        def estimate_rgb(self, rgb, *, valid=None, lesion_mask=None):
            red = float(rgb[..., 0].mean())
            return ToneEstimate(FITZPATRICK, tone=1 if red > 128 else 6, confidence=1.0, scale=self.scale_name,
                                values={"red": red})
''')


@pytest.fixture
def toy_module(tmp_path, monkeypatch):
    (tmp_path / "toy_estimator.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "toy_estimator"
    sys.modules.pop("toy_estimator", None)


def test_builtin_estimators_are_registered():
    assert {"ita", "monk"} <= set(list_estimators())
    assert isinstance(get_estimator("ita"), ItaEstimator) and isinstance(get_estimator("monk"), MonkEstimator)
    assert all(isinstance(get_estimator(n), SkinToneEstimator) for n in ("ita", "monk"))
    assert label_columns(get_estimator("ita")) == LABEL_COLUMNS  # the default labels.csv is unchanged


def test_unknown_estimator_lists_and_suggests():
    with pytest.raises(InputError, match=r"estimator: unknown estimator 'monkk'; registered estimators are "
                                         r"ita, monk, or give a class as package.module:Class, or a saved "
                                         r"estimator file \(\*\.json\)\. Did you mean 'monk'\?"):
        get_estimator("monkk")
    with pytest.raises(InputError, match="is not a skin-tone estimator"):
        get_estimator(object())
    with pytest.raises(InputError, match="cannot import module 'no_such_module_xyz'"):
        get_estimator("no_such_module_xyz:Thing")


def test_registration_rules(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with pytest.raises(InputError, match="estimator 'ita' is already registered"):
        register_estimator("ita", MonkEstimator)
    with pytest.raises(InputError, match="estimator name must be letters, digits"):
        register_estimator("a b", MonkEstimator)


def test_ita_estimator_is_the_label_estimate():
    rgb = np.full((64, 64, 3), (200, 160, 130), np.uint8)
    rgb[20:40, 20:40] = (120, 60, 50)  # a lesion
    est = measure_tone(rgb)
    ref = estimate_rgb(rgb, config=LabelConfig())
    assert isinstance(est, ToneEstimate) and est.tone_scale is FITZPATRICK
    assert (est.fst, est.ita, est.confidence, est.scale) == (ref.fst, ref.ita, ref.confidence, ref.scale)
    with pytest.raises(AttributeError, match="has no 'mst'"):
        est.mst  # noqa: B018


def test_a_new_estimator_is_one_registration(demo_data, tmp_path, monkeypatch, toy_module):
    from toy_estimator import Lightness

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_estimator("lightness", Lightness)
    res = label_dataset(demo_data, out=tmp_path / "l.csv", estimator="lightness", progress=False, n_boot=0)
    df = pd.read_csv(tmp_path / "l.csv")
    assert list(df.columns[:11]) == ["image", "image_id", "fst", "confidence", "status", "reason", "scale", "red",
                                     "fst_human", "fst_group_human", "diagnosis"]
    expect = np.where(df["red"] > 128, 1, 6)
    assert (df["fst"] == expect).all() and (df["scale"] == "red_half").all()
    assert res.summary["estimator"]["name"] == "lightness"
    # the same class, unregistered, by its import path
    again = label_dataset(demo_data, out=tmp_path / "m.csv", estimator=f"{toy_module}:Lightness", progress=False,
                          n_boot=0)
    pd.testing.assert_frame_equal(again.labels, res.labels)
