import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from fairskin.errors import InputError
from fairskin.label import get_scale
from fairskin.label._agreement import agreement
from fairskin.label._calibrate import fit_scale


def test_agreement_hand_computed():
    est = [1, 2, 3, 4, 5, 6, 2, 2]
    hum = [1, 2, 3, 5, 5, 4, 1, None]
    a = agreement(est, hum, ita=[60, 50, 35, 25, 15, 0, 50, 40], n_boot=200)
    assert a["n"] == 7
    assert a["exact"] == pytest.approx(4 / 7)
    assert a["within_one"] == pytest.approx(6 / 7)
    assert a["weighted_kappa"] == pytest.approx(
        cohen_kappa_score([1, 2, 3, 5, 5, 4, 1], [1, 2, 3, 4, 5, 6, 2], weights="quadratic", labels=[1, 2, 3, 4, 5, 6]))
    m = np.array(a["confusion"]["matrix"])
    assert m.sum() == 7 and m[3, 5] == 1 and m[4, 3] == 1  # human IV called VI; human V called IV
    assert a["per_type"]["1"] == {"n": 2, "exact": 0.5, "within_one": 1.0}
    assert a["spearman_ita"]["rho"] < 0
    lo, hi = a["exact_ci"]
    assert lo <= a["exact"] <= hi


def test_agreement_by_group():
    a = agreement([1, 2, 3, 6, 5], ["I-II", "I-II", "V-VI", "V-VI", "III-IV"], level="group", n_boot=0)
    assert a["exact"] == pytest.approx(3 / 5)
    assert a["within_one"] == pytest.approx(1.0)  # no pair is two groups apart
    assert a["confusion"]["labels"] == ["I-II", "III-IV", "V-VI"]


def test_calibration_recovers_known_cuts():
    rng = np.random.default_rng(0)
    true_cuts = np.array([50.0, 35.0, 20.0, 5.0, -10.0])
    ita = rng.uniform(-40, 75, 3000)
    noisy = ita + rng.normal(0, 4, ita.size)
    fst = 1 + np.sum(noisy[:, None] <= true_cuts, axis=1)
    s = fit_scale(ita, fst, fst, prior=get_scale("kinyanjui_fst"))
    np.testing.assert_allclose(s.cuts, true_cuts, atol=1.0)


def test_calibration_with_groups_keeps_published_offsets_inside_groups():
    rng = np.random.default_rng(1)
    ita = rng.uniform(-40, 75, 2000)
    fst = 1 + np.sum(ita[:, None] <= np.array([50.0, 35.0, 20.0, 5.0, -10.0]), axis=1)
    lo = np.where(fst <= 2, 1, np.where(fst <= 4, 3, 5))
    s = fit_scale(ita, lo, lo + 1, prior=get_scale("kinyanjui_fst"))
    assert s.cuts[1] == pytest.approx(35.0, abs=1.0) and s.cuts[3] == pytest.approx(5.0, abs=1.0)
    prior = get_scale("kinyanjui_fst").cuts
    assert s.cuts[0] - s.cuts[1] == pytest.approx(prior[0] - prior[1])
    assert all(a > b for a, b in zip(s.cuts, s.cuts[1:]))


def test_calibration_needs_labels():
    with pytest.raises(InputError, match="needs at least 10 images"):
        fit_scale([1.0, 2.0], [1, 2], [1, 2], prior=get_scale())
